"""Server-sent events of an OpenAI-compatible stream, parsed after the fact from stamped raw reads.

The collector's hot path only logs when each socket read arrived and how much of the body it completed
(:class:`~recorders.http_stream.arrivals.ArrivalLog`); everything here runs once the stream has ended. Each
SSE event is stamped with the read that completed it (the read holding its terminating blank line), which is
when a client could first have acted on it.

What an event means (OpenAI chat and completions streaming, and vLLM / SGLang / TGI variants):

- the first event's ``id`` is the response id;
- an output-bearing event has non-empty text in ``choices[0]``: ``delta.content``, ``delta.reasoning_content``
  / ``delta.reasoning`` (reasoning models) or ``delta.tool_calls`` for chat, ``text`` for completions; only
  ``content`` / ``text`` go into the output text. The role-only first chunk is not output-bearing;
- ``usage`` (on the final event with ``stream_options.include_usage``; on every event with vLLM's
  ``continuous_usage_stats``) gives ``prompt_tokens`` and ``completion_tokens``;
- ``{"error": ...}`` (or ``{"object": "error", ...}``, or an ``event: error`` field) is an in-stream error;
- ``data: [DONE]`` ends the stream.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from recorders.http_stream.arrivals import ArrivalLog


@dataclass(slots=True)
class StreamResult:
    """What a stream said, with the monotonic stamp (ns) of every output-bearing event."""

    response_id: str | None = None
    stamps: list[int] = field(default_factory=list)
    """Monotonic ns of each output-bearing event, in order."""
    text_parts: list[str] = field(default_factory=list)
    chunk_usage: list[int | None] = field(default_factory=list)
    """Cumulative ``completion_tokens`` carried by each output-bearing event (None when absent)."""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    """``usage.prompt_tokens_details.cached_tokens`` (None when the server did not report it)."""
    error_message: str | None = None
    error_code: int | None = None
    done: bool = False
    events: int = 0
    bad_events: int = 0

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def chunk_tokens(self) -> list[int] | None:
        """Tokens per output-bearing event when the server said so on every event (continuous usage stats)
        and some event carried more than one; None otherwise (the record then omits ``chunk_tokens``)."""
        usage = self.chunk_usage
        if not usage or any(u is None for u in usage):
            return None
        counts = [b - a for a, b in zip([0, *usage[:-1]], usage, strict=True)]  # type: ignore[operator]
        if all(c == 1 for c in counts) or any(c < 0 for c in counts):
            return None
        return counts


class SSEDecoder:
    """Incremental SSE decoder: feed raw bytes, get complete events as ``(event name, data bytes)``.

    Lines end with ``\\n`` or ``\\r\\n``; ``data:`` lines of one event are joined with ``\\n``; comments
    (``:``) and unknown fields are ignored (WHATWG server-sent events, section 9.2.6).
    """

    __slots__ = ("_data", "_event", "_tail")

    def __init__(self) -> None:
        self._tail = b""
        self._data: list[bytes] = []
        self._event = b""

    def feed(self, chunk: bytes) -> list[tuple[bytes, bytes]]:
        buf = self._tail + chunk if self._tail else chunk
        lines = buf.split(b"\n")
        self._tail = lines.pop()
        out: list[tuple[bytes, bytes]] = []
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    out.append((self._event, b"\n".join(self._data)))
                self._data = []
                self._event = b""
            elif line.startswith(b"data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(b" ") else value)
            elif line.startswith(b"event:"):
                self._event = line[6:].strip()
        return out

    def flush(self) -> list[tuple[bytes, bytes]]:
        """Events left when the stream closed without a final blank line."""
        out = self.feed(b"\n\n") if (self._tail or self._data) else []
        return out


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def error_text(obj: Any) -> tuple[str, int | None]:
    """Message and numeric code from an OpenAI-style error object (``{"error": {...}}`` or its inside)."""
    err = obj.get("error", obj) if isinstance(obj, dict) else obj
    if isinstance(err, dict):
        message = err.get("message") or err.get("detail") or err.get("type") or json.dumps(err)
        code = _int(err.get("code")) or _int(obj.get("code") if isinstance(obj, dict) else None)
        return str(message), code
    return str(err), None


def output_of(obj: dict[str, Any], chat: bool) -> tuple[bool, str | None, str | None]:
    """``(output-bearing, text, finish_reason)`` of one decoded event, from ``choices[0]``."""
    choices = obj.get("choices")
    if not choices or not isinstance(choices, list):
        return False, None, None
    choice = choices[0]
    if not isinstance(choice, dict):
        return False, None, None
    finish = choice.get("finish_reason")
    if chat:
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return False, None, finish
        text = delta.get("content")
        bearing = bool(text) or bool(
            delta.get("reasoning_content") or delta.get("reasoning") or delta.get("tool_calls")
        )
        return bearing, text if isinstance(text, str) else None, finish
    text = choice.get("text")
    return bool(text), text if isinstance(text, str) else None, finish


def is_output_event(name: bytes, data: bytes, chat: bool) -> bool:
    """Whether one raw event carries output (used before the first output to arm the total timeout)."""
    if data == b"[DONE]" or name == b"error":
        return False
    obj = _loads(data)
    return isinstance(obj, dict) and output_of(obj, chat)[0]


def parse_stream(body: bytes, arrivals: ArrivalLog, *, chat: bool) -> StreamResult:
    """Decode one response body; ``arrivals`` says when its bytes arrived.

    An event is stamped with the read that delivered the last byte of its terminating blank line; an event
    left unterminated when the stream closed gets the last read's stamp.
    """
    result = StreamResult()
    last = arrivals.ns[-1] if arrivals.ns else 0
    at = 0
    for name, data, end in _events(body):
        stamp, at = arrivals.stamp_of(end, at)  # events come in body order: one walk over the reads
        _apply(result, name, data, last if stamp is None else stamp, chat)
    return result


_LINE_END = re.compile(rb"\r\n|\r")


def _events(body: bytes) -> Iterator[tuple[bytes, bytes, int]]:
    """``(event name, data, end)`` of every event in order; ``end`` is the body offset just past its
    terminating blank line (``len(body)`` for an unterminated last event).

    Lines end with ``\n``, ``\r\n`` or a lone ``\r`` (WHATWG server-sent events); the body is whole here, so
    a ``\r\n`` split over two reads is one line end."""
    text, shift = body, None
    if b"\r" in body:
        text = _LINE_END.sub(b"\n", body)
        # Each \r\n became one byte: an offset in ``text`` maps back by the pairs before it.
        shift = [m.start() - k for k, m in enumerate(re.finditer(rb"\r\n", body))]
    blocks = text.split(b"\n\n")
    tail = blocks.pop()  # after the last blank line: an unterminated event, or b""
    pos = 0
    for block in blocks:
        pos += len(block) + 2
        if not block:
            continue
        end = pos if shift is None else pos + bisect.bisect_left(shift, pos)
        if block.startswith(b"data: ") and b"\n" not in block:
            yield b"", block[6:], end  # the common case: one data line
        else:
            yield from _block(block, end)
    if tail.strip():
        yield from _block(tail, len(body))


def _block(block: bytes, end: int) -> Iterator[tuple[bytes, bytes, int]]:
    """One event's lines: ``data:`` lines joined by ``\n``, an ``event:`` name, comments skipped."""
    name, data = b"", []
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[6:] if line.startswith(b"data: ") else line[5:])
        elif line.startswith(b"event:"):
            name = line[6:].strip()
    if data:
        yield name, b"\n".join(data), end


def _loads(data: bytes) -> Any:
    """The JSON value of an event's data, None when it is not JSON. orjson reads the common case; what it
    refuses (invalid UTF-8, NaN, integers past 64 bits) the standard parser reads as before, from the text
    with invalid bytes replaced."""
    if not data.startswith(b"{"):
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(data.decode("utf-8", "replace"))
    except ValueError:
        return None


def _apply(result: StreamResult, name: bytes, data: bytes, stamp: int, chat: bool) -> None:
    result.events += 1
    if data == b"[DONE]":
        result.done = True
        return
    obj = _loads(data)
    if not isinstance(obj, dict):
        if name == b"error":
            result.error_message = data.decode("utf-8", "replace")
        else:
            result.bad_events += 1
        return
    if name == b"error" or "error" in obj or obj.get("object") == "error":
        result.error_message, result.error_code = error_text(obj)
        return
    if result.response_id is None and isinstance(obj.get("id"), str):
        result.response_id = obj["id"]
    bearing, text, finish = output_of(obj, chat)
    usage = obj.get("usage")
    completion = None
    if isinstance(usage, dict):
        completion = _int(usage.get("completion_tokens"))
        result.completion_tokens = completion if completion is not None else result.completion_tokens
        prompt = _int(usage.get("prompt_tokens"))
        result.prompt_tokens = prompt if prompt is not None else result.prompt_tokens
        cached = _cached_tokens(usage)
        result.cached_tokens = cached if cached is not None else result.cached_tokens
    if bearing:
        result.stamps.append(stamp)
        result.chunk_usage.append(completion)
        if text:
            result.text_parts.append(text)
    if finish:
        result.finish_reason = str(finish)


def _cached_tokens(usage: dict[str, Any]) -> int | None:
    details = usage.get("prompt_tokens_details")
    return _int(details.get("cached_tokens")) if isinstance(details, dict) else None


def parse_json_body(body: bytes, *, chat: bool, stamp: int) -> StreamResult:
    """A non-streamed JSON completion (a server that ignored ``stream: true``) as a one-chunk result."""
    result = StreamResult()
    try:
        obj = json.loads(body)
    except ValueError:
        result.bad_events = 1
        return result
    if not isinstance(obj, dict):
        result.bad_events = 1
        return result
    if "error" in obj:
        result.error_message, result.error_code = error_text(obj)
        return result
    result.response_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    choices = obj.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") if chat else None
    text = message.get("content") if isinstance(message, dict) else choice.get("text")
    if isinstance(text, str) and text:
        result.stamps.append(stamp)
        result.chunk_usage.append(None)
        result.text_parts.append(text)
    result.finish_reason = choice.get("finish_reason")
    usage = obj.get("usage")
    if isinstance(usage, dict):
        result.completion_tokens = _int(usage.get("completion_tokens"))
        result.prompt_tokens = _int(usage.get("prompt_tokens"))
        result.cached_tokens = _cached_tokens(usage)
    result.done = True
    return result
