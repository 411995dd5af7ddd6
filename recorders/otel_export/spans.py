"""One OpenTelemetry span per ``request`` record, with the recorded times and the GenAI semantic conventions
(docs/observability.md has the full mapping).

The span is built directly as an SDK :class:`ReadableSpan` (no tracer): start ``t_send`` and end ``t_end`` in
epoch nanoseconds as recorded, never "now"; trace and span ids from :mod:`traceanalyzer.trace_ids`, so a
re-export sends the same ids. Kind CLIENT, status ERROR with the error message for failures.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from recorders.tracefile import tool_version
from traceanalyzer.trace_ids import span_id, trace_id

SCOPE = "traceanalyzer.export"
ATTR_PREFIX = "traceanalyzer."
"""Our own attributes (run, scenario, stage, in-flight count, client id ...) carry this prefix."""
FIRST_CHUNK_EVENT = "gen_ai.first_chunk"
CHUNK_EVENT = "gen_ai.chunk"

# (record field, our attribute) copied as they are when present.
_OWN_FIELDS = (
    ("run", "run"),
    ("id", "client_id"),
    ("host", "host"),
    ("worker", "worker"),
    ("scenario", "scenario"),
    ("stage", "stage"),
    ("in_flight", "in_flight"),
    ("prompt_id", "prompt_id"),
    ("turn", "turn"),
    ("warmup", "warmup"),
    ("tokens_source", "tokens_source"),
)


@dataclass(frozen=True)
class SpanOptions:
    """``langfuse``: add Langfuse's own attributes. ``text``: send the output text (off by default).
    ``include_chunks``: one event per text chunk. ``provider``: ``gen_ai.provider.name``.
    ``service_name``: the resource's ``service.name``."""

    langfuse: bool = False
    text: bool = False
    include_chunks: bool = False
    provider: str = "openai"
    service_name: str = "traceanalyzer"


def iso_time(t_ns: int) -> str:
    """Epoch nanoseconds as an ISO 8601 UTC time with microseconds (``2025-03-01T12:00:12.180000Z``)."""
    seconds, ns = divmod(t_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=ns // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def operation_name(record: Mapping[str, Any]) -> str:
    """``gen_ai.operation.name``: ``text_completion`` for the completions API, else ``chat``."""
    return "text_completion" if record.get("api") == "completions" else "chat"


def _error(record: Mapping[str, Any]) -> tuple[str, str] | None:
    error = record.get("error")
    if not isinstance(error, Mapping):
        return None
    return str(error.get("class")), str(error.get("message") or error.get("class"))


def attributes(record: Mapping[str, Any], options: SpanOptions) -> dict[str, Any]:
    """The span attributes of one request record (None values left out)."""
    t_send, t_first = record["t_send"], record.get("t_first")
    error = _error(record)
    session = record.get("session_id")
    finish = record.get("finish_reason")
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": operation_name(record),
        "gen_ai.provider.name": options.provider,
        "gen_ai.request.model": record.get("model"),
        "gen_ai.request.stream": True,
        "gen_ai.request.max_tokens": record.get("max_tokens"),
        "gen_ai.response.id": record.get("response_id"),
        "gen_ai.response.finish_reasons": [finish] if finish else None,
        "gen_ai.usage.input_tokens": record.get("prompt_tokens"),
        "gen_ai.usage.output_tokens": record.get("output_tokens"),
        "gen_ai.conversation.id": session,
        "gen_ai.response.time_to_first_chunk": None if t_first is None else (t_first - t_send) / 1e9,
        "http.response.status_code": record.get("status"),
        "error.type": error[0] if error else None,
    }
    for field, name in _OWN_FIELDS:
        attrs[ATTR_PREFIX + name] = record.get(field)
    if options.text and record.get("text") is not None:
        message = {"role": "assistant", "parts": [{"type": "text", "content": record["text"]}]}
        if finish:
            message["finish_reason"] = finish
        attrs["gen_ai.output.messages"] = json.dumps([message], ensure_ascii=False)
    if options.langfuse:
        attrs.update(langfuse_attributes(record, options, error))
    return {k: v for k, v in attrs.items() if v is not None}


def langfuse_attributes(
    record: Mapping[str, Any], options: SpanOptions, error: tuple[str, str] | None
) -> dict[str, Any]:
    """Langfuse's own attributes: a generation with its completion start time (TTFT), the session, a trace
    name, usage, level, and metadata Langfuse can filter by (``langfuse.trace.metadata.*``)."""
    t_first = record.get("t_first")
    usage = {
        k: v
        for k, v in (("input", record.get("prompt_tokens")), ("output", record.get("output_tokens")))
        if v is not None
    }
    attrs: dict[str, Any] = {
        "langfuse.observation.type": "generation",
        "langfuse.observation.model.name": record.get("model"),
        "langfuse.observation.completion_start_time": None if t_first is None else iso_time(t_first),
        "langfuse.observation.usage_details": json.dumps(usage) if usage else None,
        "langfuse.session.id": record.get("session_id"),
        "langfuse.trace.name": record.get("scenario") or operation_name(record),
        "langfuse.trace.tags": ["traceanalyzer", *([str(record["run"])] if record.get("run") else [])],
        "langfuse.trace.metadata.run": record.get("run"),
        "langfuse.trace.metadata.scenario": record.get("scenario"),
        "langfuse.trace.metadata.stage": record.get("stage"),
        "langfuse.observation.metadata.client_id": record.get("id"),
        "langfuse.observation.metadata.response_id": record.get("response_id"),
        "langfuse.observation.metadata.in_flight": record.get("in_flight"),
        "langfuse.observation.metadata.error_class": error[0] if error else None,
    }
    if error:
        attrs["langfuse.observation.level"] = "ERROR"
        attrs["langfuse.observation.status_message"] = error[1]
    if options.text and record.get("text") is not None:
        attrs["langfuse.observation.output"] = record["text"]
    return attrs


def events(record: Mapping[str, Any], options: SpanOptions) -> list[Event]:
    """An event at the first chunk (``t_first``); with ``include_chunks`` one per text chunk, at
    ``t_send + chunks_us[i]`` (microsecond offsets), with its index and token count."""
    out: list[Event] = []
    t_send, t_first = record["t_send"], record.get("t_first")
    if t_first is not None:
        out.append(
            Event(
                FIRST_CHUNK_EVENT, {"gen_ai.response.time_to_first_chunk": (t_first - t_send) / 1e9}, t_first
            )
        )
    if options.include_chunks:
        tokens = record.get("chunk_tokens")
        for i, offset_us in enumerate(record.get("chunks_us") or []):
            attrs: dict[str, Any] = {"index": i, "tokens": tokens[i] if tokens and i < len(tokens) else 1}
            out.append(Event(CHUNK_EVENT, attrs, t_send + offset_us * 1000))
    return out


def resource(options: SpanOptions) -> Resource:
    """The one resource every exported span shares."""
    return Resource.create({"service.name": options.service_name, "service.version": tool_version()})


@functools.cache
def scope() -> InstrumentationScope:
    """The instrumentation scope of every span (the tool's version is looked up once)."""
    return InstrumentationScope(SCOPE, tool_version())


def to_span(record: Mapping[str, Any], options: SpanOptions, res: Resource) -> ReadableSpan:
    """The span of one request record."""
    run, client = record.get("run"), str(record["id"])
    context = SpanContext(
        trace_id=int(trace_id(run, client), 16),
        span_id=int(span_id(run, client), 16),
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    error = _error(record)
    status = Status(StatusCode.ERROR, error[1]) if error else Status(StatusCode.OK)
    model = record.get("model")
    name = f"{operation_name(record)} {model}" if model else operation_name(record)
    return ReadableSpan(
        name=name,
        context=context,
        parent=None,
        resource=res,
        attributes=attributes(record, options),
        events=events(record, options),
        kind=SpanKind.CLIENT,
        status=status,
        start_time=int(record["t_send"]),
        end_time=int(record["t_end"]),
        instrumentation_scope=scope(),
    )
