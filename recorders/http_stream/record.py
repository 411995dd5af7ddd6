"""Build the ``request`` record (trace schema v1, DESIGN section 3) from one request's raw observations.

Field meanings beyond the schema's own words:

- ``t_send`` .. ``t_end``: epoch ns on the writer's clock (``wall0 + mono - mono0``); ``t_first`` is the
  first output-bearing chunk (the role-only chunk does not count), null when none came;
- ``chunks_us``: each output-bearing chunk's arrival minus ``t_send``, microseconds (rounded), in order;
- ``chunk_tokens``: only when the server reported usage on every chunk and some chunk held several tokens;
- ``output_tokens`` / ``tokens_source``: the usage chunk's ``completion_tokens`` (``"usage"``), else the
  number of output-bearing chunks (``"chunks"``);
- ``in_flight``: requests this collector had in flight when this one was sent, itself included;
- ``error``: ``{class, status, message}`` with the class from :func:`recorders.errors.classify`; ``status``
  is the HTTP status, or the code of an in-stream error event when it has one;
- ``worker``, ``warmup`` and (when the prompt has them) ``expected`` are additions to the schema;
- ``id_header``: the HTTP header that sent ``id`` to the server (``x-request-id`` by default), so gateway and
  server logs and their traces carry the same id; left out when no id was sent.
- a conversation's turn adds ``session_id``, ``turn``, ``session_turns``, ``history_chars`` and
  ``cached_tokens`` (:mod:`.conversations`); ``cached_tokens`` is also kept for a single request when the
  server reported it;
- a non-streamed answer (``--no-stream``, a prompt's ``stream: false``, or a server that answered with one
  JSON body) has ``stream: false``, no ``chunks_us``, and ``t_first = t_end`` = when the whole body arrived.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from recorders import errors
from recorders.http_stream.client import (
    FAIL_ABORTED,
    FAIL_BROKEN,
    FAIL_CONNECTION,
    FAIL_HTTP,
    FAIL_TIMEOUT,
    Exchange,
)
from recorders.http_stream.prompts import Prompt
from recorders.http_stream.sse import StreamResult, parse_json_body, parse_stream
from recorders.tracefile import REDACTED, Clock

MESSAGE_LIMIT = 2000
"""Characters of an error message kept in the record."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What every record of one collector process shares."""

    run: str
    host: str
    worker: str
    model: str
    api: str
    include_text: bool = True
    secret: str | None = None
    """The API key, scrubbed from any text that came back (a server could echo it)."""
    id_header: str | None = None
    """The header that carried the client request id to the server (None: not sent)."""


@dataclass(slots=True)
class SessionInfo:
    """Where a request stands in a conversation (:mod:`.conversations`); ``parsed``: its response, once the
    conversation decoded it for the next turn's history (the record reuses it)."""

    session_id: str
    turn: int
    session_turns: int
    history_chars: int
    parsed: StreamResult | None = None


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What the collector decided before sending one request."""

    id: str
    prompt: Prompt
    stage: str | None
    in_flight: int
    max_tokens: int | None
    warmup: bool
    session: SessionInfo | None = None
    stream: bool = True


def parse_exchange(ex: Exchange, *, chat: bool) -> StreamResult:
    """Decode the body reads: SSE normally, a JSON completion when the server did not stream."""
    if ex.status is None or ex.status >= 300 or not ex.reads:
        return StreamResult()
    if ex.content_type.startswith("application/json"):
        return parse_json_body(b"".join(ex.reads), chat=chat, stamp=ex.arrivals.ns[-1])
    return parse_stream(b"".join(ex.reads), ex.arrivals, chat=chat)


def classify_exchange(ex: Exchange, parsed: StreamResult) -> tuple[str, int | None, str] | None:
    """``(class, status, message)`` of a failed request, None for a success.

    The first thing that went wrong decides: an in-stream error event beats a later break or timeout.
    """
    failure = ex.failure
    if failure is not None and failure.kind == FAIL_ABORTED:
        return errors.ABORTED, ex.status, failure.message
    if parsed.error_message is not None:
        status = parsed.error_code or ex.status
        return errors.classify(status, parsed.error_message, mid_stream=True), status, parsed.error_message
    if failure is not None:
        if failure.kind == FAIL_TIMEOUT:
            return errors.classify(ex.status, failure.message, timed_out=True), ex.status, failure.message
        if failure.kind == FAIL_CONNECTION:
            return errors.classify(None, failure.message, connection_failed=True), None, failure.message
        if failure.kind == FAIL_HTTP:
            return errors.classify(ex.status, failure.message), ex.status, failure.message
        assert failure.kind == FAIL_BROKEN, failure.kind
        return errors.classify(ex.status, failure.message, mid_stream=True), ex.status, failure.message
    if not parsed.done and parsed.finish_reason is None:
        message = "stream ended without a finish_reason or [DONE]"
        if parsed.bad_events:
            message += f" ({parsed.bad_events} unparseable events)"
        return errors.classify(ex.status, message, mid_stream=True), ex.status, message
    return None


def _not_streamed(record: dict[str, Any], stamps: list[int], epoch: Callable[[int], int]) -> None:
    """A non-streamed answer: ``stream`` false, no chunk offsets, ``t_first`` = ``t_end`` = when the whole
    body had arrived (what a user waiting for it perceives as the first feedback)."""
    record["stream"] = False
    record["chunks_us"] = []
    if stamps:
        record["t_first"] = record["t_end"] = epoch(stamps[-1])


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, REDACTED) if secret and secret in text else text


def build_record(run: RunInfo, req: RequestInfo, ex: Exchange, clock: Clock) -> dict[str, Any]:
    """The ``request`` record of one finished (or failed, or aborted) request."""
    session = req.session
    parsed = session.parsed if session is not None and session.parsed is not None else None
    if parsed is None:
        parsed = parse_exchange(ex, chat=run.api == "chat")
    failure = classify_exchange(ex, parsed)
    t_send = ex.t_send if ex.t_send is not None else ex.t_start
    epoch = clock.to_epoch_ns
    stamps = parsed.stamps
    if parsed.completion_tokens is not None:
        output_tokens, source = parsed.completion_tokens, "usage"
    else:
        output_tokens, source = len(stamps), "chunks"
    error = None
    if failure is not None:
        cls, status, message = failure
        error = {"class": cls, "status": status, "message": _scrub(message, run.secret)[:MESSAGE_LIMIT]}
    prompt = req.prompt
    record: dict[str, Any] = {
        "type": "request",
        "run": run.run,
        "host": run.host,
        "worker": run.worker,
        "id": req.id,
        "response_id": parsed.response_id or ex.request_id_header,
        "model": run.model,
        "api": run.api,
        "scenario": prompt.scenario,
        "prompt_id": prompt.id,
        "stage": req.stage,
        "in_flight": req.in_flight,
        "warmup": req.warmup,
        "prompt_tokens": parsed.prompt_tokens,
        "max_tokens": req.max_tokens,
        "t_send": epoch(t_send),
        "t_headers": None if ex.t_headers is None else epoch(ex.t_headers),
        "t_first": epoch(stamps[0]) if stamps else None,
        "t_end": epoch(ex.t_end if ex.t_end is not None else t_send),
        "chunks_us": [(s - t_send + 500) // 1000 for s in stamps],
        "output_tokens": output_tokens,
        "tokens_source": source,
        "status": ex.status,
        "finish_reason": parsed.finish_reason,
        "error": error,
    }
    if run.id_header is not None:
        record["id_header"] = run.id_header
    if not req.stream or (ex.status == 200 and ex.content_type.startswith("application/json")):
        _not_streamed(record, stamps, epoch)
    if session is not None:
        record["session_id"] = session.session_id
        record["turn"] = session.turn
        record["session_turns"] = session.session_turns
        record["history_chars"] = session.history_chars
        record["cached_tokens"] = parsed.cached_tokens
    elif parsed.cached_tokens is not None:
        record["cached_tokens"] = parsed.cached_tokens
    chunk_tokens = parsed.chunk_tokens()
    if chunk_tokens is not None:
        record["chunk_tokens"] = chunk_tokens
    if run.include_text:
        record["text"] = _scrub(parsed.text, run.secret)
    if prompt.expected is not None:
        record["expected"] = list(prompt.expected)
    return record
