"""One Langfuse generation -> one ``request`` record (docs/observability.md, "Import from Langfuse").

Field names as Langfuse writes them (checked against the Langfuse server source and docs, see
../shared reference notes): the public API's camelCase (``startTime``, ``completionStartTime``, ``endTime``,
``providedModelName`` (v2) / ``model`` (v1), ``usageDetails``, ``usage`` (v1, deprecated), ``level``,
``statusMessage``, ``sessionId`` (v2 only)) and the blob-storage export's snake_case (``start_time``,
``completion_start_time``, ``provided_model_name``, ``usage_details``, ``session_id``, ...; times
``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC, nested values as JSON strings in CSV).

Mapping: ``t_send`` = start time, ``t_first`` = completion start time, ``t_end`` = end time (Langfuse keeps
milliseconds); ``output_tokens`` = usage ``output`` plus ``output_reasoning_tokens`` and ``prompt_tokens`` =
``input`` plus ``input_cached_tokens`` and ``input_cache_creation`` (Langfuse subtracts those parts at
ingest); level ``ERROR`` -> an error of the class :func:`recorders.errors.classify` finds in the status
message (with the HTTP status the message names, as in ``Error code: 429``). No chunk offsets.
Langfuse's own ``latency`` / ``timeToFirstToken`` columns are not used (their unit differs between export
paths); they are recomputed from the times.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from recorders.errors import classify
from recorders.locust_import.timefmt import parse_instant

TOOL = "langfuse"

# camelCase (API, UI export) -> snake_case (blob-storage export) for every field read here.
_SNAKE = {
    "id": "id",
    "traceId": "trace_id",
    "type": "type",
    "name": "name",
    "startTime": "start_time",
    "completionStartTime": "completion_start_time",
    "endTime": "end_time",
    "providedModelName": "provided_model_name",
    "model": "model",
    "usageDetails": "usage_details",
    "usage": "usage",
    "level": "level",
    "statusMessage": "status_message",
    "sessionId": "session_id",
    "environment": "environment",
    "metadata": "metadata",
}


# An HTTP status named in a status message ("Error code: 429 - ...", "status 503", "HTTP 500").
_STATUS_IN_MESSAGE = re.compile(r"\b(?:error code|status(?: code)?|http)[\s:=]+([1-5]\d\d)\b", re.I)


class SkipObservation(Exception):
    """An observation that cannot become a request record (not a generation, no end time); ``reason`` is
    counted and reported."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _get(obs: Mapping[str, Any], key: str) -> Any:
    value = obs.get(key)
    if value is None:
        value = obs.get(_SNAKE[key])
    if value == "":
        return None
    return value


def _json_object(value: Any) -> Mapping[str, Any]:
    """A nested object, also when an export wrote it as a JSON string (CSV)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


def _time(obs: Mapping[str, Any], key: str) -> int | None:
    value = _get(obs, key)
    if value is None:
        return None
    try:
        return parse_instant(str(value), UTC)
    except ValueError:
        raise ValueError(f"field {key!r}: not a time: {value!r}") from None


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _tokens(obs: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(prompt tokens, output tokens) with the parts Langfuse subtracts at ingest added back."""
    details = _json_object(_get(obs, "usageDetails"))
    legacy = _json_object(_get(obs, "usage"))
    if not details and legacy:
        details = legacy
    prompt = _int(details.get("input"))
    if prompt is not None:
        prompt += sum(_int(details.get(k)) or 0 for k in ("input_cached_tokens", "input_cache_creation"))
    output = _int(details.get("output"))
    if output is not None:
        output += _int(details.get("output_reasoning_tokens")) or 0
    return prompt, output


def to_request(obs: Mapping[str, Any], *, run: str, host: str, api: str) -> dict[str, Any]:
    """The ``request`` record of one generation. Raises :class:`SkipObservation` for what is not a finished
    generation, ``ValueError`` for a malformed field."""
    kind = _get(obs, "type")
    if kind is not None and str(kind).upper() != "GENERATION":
        raise SkipObservation(f"not a generation ({kind})")
    obs_id = _get(obs, "id")
    if obs_id is None:
        raise ValueError("no 'id'")
    t_send = _time(obs, "startTime")
    if t_send is None:
        raise ValueError("no 'startTime'")
    t_end = _time(obs, "endTime")
    if t_end is None:
        raise SkipObservation("no end time (generation not finished)")
    t_first = _time(obs, "completionStartTime")
    prompt_tokens, output_tokens = _tokens(obs)
    error = None
    if str(_get(obs, "level") or "").upper() == "ERROR":
        message = str(_get(obs, "statusMessage") or "level ERROR without a status message")
        named = _STATUS_IN_MESSAGE.search(message)
        status = int(named.group(1)) if named else None
        error = {"class": classify(status, message), "status": status, "message": message[:2000]}
    metadata = _json_object(_get(obs, "metadata"))
    attributes = _json_object(metadata.get("attributes"))
    response_id = attributes.get("gen_ai.response.id")
    record: dict[str, Any] = {
        "type": "request",
        "run": run,
        "host": host,
        "id": str(obs_id),
        "response_id": response_id if isinstance(response_id, str) else None,
        "model": _get(obs, "providedModelName") or _get(obs, "model"),
        "prompt_tokens": prompt_tokens,
        "t_send": t_send,
        "t_first": t_first,
        "t_end": t_end,
        "chunks_us": [],
        "output_tokens": output_tokens,
        "tokens_source": "usage" if output_tokens is not None else None,
        "status": None,
        "error": error,
        "source": {"tool": TOOL, "api": api},
        "langfuse_trace_id": _get(obs, "traceId"),
        "name": _get(obs, "name"),
        "environment": _get(obs, "environment"),
    }
    session = _get(obs, "sessionId")
    if session is not None:
        record["session_id"] = str(session)
    return record
