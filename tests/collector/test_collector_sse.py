"""Decoding stamped raw reads of an SSE stream after the fact, and the error class of each exchange."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from recorders.http_stream.arrivals import ArrivalLog
from recorders.http_stream.client import FAIL_BROKEN, FAIL_CONNECTION, FAIL_HTTP, Exchange, http_error_message
from recorders.http_stream.record import classify_exchange, parse_exchange
from recorders.http_stream.sse import SSEDecoder, StreamResult, is_output_event, parse_stream


def event(obj: Any, sep: str = "\n") -> bytes:
    return f"data: {json.dumps(obj, ensure_ascii=False)}{sep}{sep}".encode()


def chat(
    content: str | None = None, *, role: bool = False, finish: str | None = None, **extra: Any
) -> dict[str, Any]:
    delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {}
    if content is not None:
        delta["content"] = content
    return {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


USAGE = {"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3}}
STREAM = [chat(role=True), chat("Hé"), chat(" 世界"), chat("!", finish="stop"), USAGE]


def parse(stamps: Sequence[int], reads: list[bytes], *, chat: bool) -> StreamResult:
    """Decode ``reads`` where ``stamps[i]`` is when ``reads[i]`` arrived."""
    return parse_stream(b"".join(reads), ArrivalLog.of_reads(stamps, reads), chat=chat)


def whole(sep: str = "\n") -> bytes:
    return b"".join(event(e, sep) for e in STREAM) + f"data: [DONE]{sep}{sep}".encode()


def test_each_event_is_stamped_by_the_read_that_completed_it() -> None:
    reads = [
        event(STREAM[0]) + event(STREAM[1])[:10],
        event(STREAM[1])[10:],
        event(STREAM[2]) + event(STREAM[3])[:-1],
    ]
    reads += [event(STREAM[3])[-1:] + event(USAGE) + b"data: [DONE]\n\n"]
    result = parse([100, 200, 300, 400], reads, chat=True)
    assert result.stamps == [200, 300, 400]  # the role-only chunk carries no output
    assert result.text == "Hé 世界!"
    assert (result.response_id, result.finish_reason, result.done) == ("chatcmpl-1", "stop", True)
    assert (result.prompt_tokens, result.completion_tokens, result.chunk_tokens()) == (9, 3, None)


@settings(max_examples=200, deadline=None)
@given(st.data(), st.sampled_from(["\n", "\r\n"]))
def test_any_split_into_reads_decodes_the_same(data: st.DataObject, sep: str) -> None:
    body = whole(sep)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(body) - 1), max_size=12)))
    reads = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    result = parse(range(len(reads)), reads, chat=True)
    assert result.text == "Hé 世界!" and result.done and result.completion_tokens == 3
    # each output event carries the index of the read holding the last byte of its blank line
    ends = list(itertools.accumulate(len(event(e, sep)) for e in STREAM))
    read_ends = list(itertools.accumulate(len(r) for r in reads))
    expected = [next(i for i, r in enumerate(read_ends) if r >= ends[k]) for k in (1, 2, 3)]
    assert result.stamps == expected


def test_completions_multiline_data_comments_and_named_error_events() -> None:
    body = (
        b": keep-alive\n\n"
        b'data: {"id": "cmpl-7", "choices": [{"index": 0, "text": "a"}]}\n\n'
        b'data: {"id": "cmpl-7",\n'
        b'data:  "choices": [{"index": 0, "text": "b", "finish_reason": "length"}]}\n\n'
        b"event: error\ndata: CUDA out of memory\n\n"
    )
    result = parse([5], [body], chat=False)
    assert (result.text, result.stamps, result.finish_reason) == ("ab", [5, 5], "length")
    assert result.error_message == "CUDA out of memory"


def test_reasoning_and_tool_calls_count_as_output_but_not_as_text() -> None:
    reads = [
        event({"id": "x", "choices": [{"index": 0, "delta": {"reasoning_content": "think"}}]}),
        event({"id": "x", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0}]}}]}),
        event(chat("answer", finish="stop")),
    ]
    result = parse([1, 2, 3], reads, chat=True)
    assert (result.stamps, result.text) == ([1, 2, 3], "answer")
    assert is_output_event(b"", json.dumps(chat("a")).encode(), True)
    assert not is_output_event(b"", json.dumps(chat(role=True)).encode(), True)


def test_continuous_usage_gives_tokens_per_chunk() -> None:
    reads = [
        event(chat("ab", usage={"completion_tokens": 2})),
        event(chat("c", usage={"completion_tokens": 3})),
    ]
    assert parse([1, 2], reads, chat=True).chunk_tokens() == [2, 1]
    ones = [
        event(chat("a", usage={"completion_tokens": 1})),
        event(chat("b", usage={"completion_tokens": 2})),
    ]
    assert parse([1, 2], ones, chat=True).chunk_tokens() is None


def test_incremental_decoder_keeps_partial_lines() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a"') == []
    assert decoder.feed(b": 1}\r\n\r\ndata: x") == [(b"", b'{"a": 1}')]
    assert decoder.flush() == [(b"", b"x")]


def _exchange(status: int | None, reads: list[bytes] | None = None) -> Exchange:
    ex = Exchange(0)
    ex.t_send, ex.status, ex.content_type = 0, status, "text/event-stream"
    ex.reads = reads or []
    ex.arrivals = ArrivalLog.of_reads(range(1, len(ex.reads) + 1), ex.reads)
    return ex


def test_error_classes_of_exchanges() -> None:
    oom_event = event({"error": {"message": "CUDA out of memory. Tried to allocate 2 GiB", "code": 500}})
    ex = _exchange(200, [event(chat("a")), oom_event + b"data: [DONE]\n\n"])
    assert classify_exchange(ex, parse_exchange(ex, chat=True)) == (
        "oom",
        500,
        "CUDA out of memory. Tried to allocate 2 GiB",
    )
    broken = _exchange(200, [event(chat("a"))])
    assert classify_exchange(broken, parse_exchange(broken, chat=True))[0] == "stream_broken"  # type: ignore[index]
    broken.fail(FAIL_BROKEN, "ClientPayloadError: Response payload is not completed", 5)
    assert classify_exchange(broken, parse_exchange(broken, chat=True))[:2] == ("stream_broken", 200)  # type: ignore[index]
    refused = _exchange(None)
    refused.fail(FAIL_CONNECTION, "Cannot connect to host 127.0.0.1:9 [Connection refused]", 5)
    assert classify_exchange(refused, parse_exchange(refused, chat=True)) == (
        "connection",
        None,
        "Cannot connect to host 127.0.0.1:9 [Connection refused]",
    )
    for status, message, cls in [
        (429, "Rate limit exceeded", "rate_limited"),
        (400, "This model's maximum context length is 8192 tokens", "context_length"),
        (422, "max_tokens must be positive", "client_4xx"),
        (503, "Server overloaded", "server_5xx"),
        (500, "CUDA out of memory", "oom"),
        (504, "upstream timed out", "timeout"),
    ]:
        rejected = _exchange(status)
        rejected.fail(FAIL_HTTP, message, 5)
        assert classify_exchange(rejected, parse_exchange(rejected, chat=True)) == (cls, status, message)
    ok = _exchange(200, [whole()])
    assert classify_exchange(ok, parse_exchange(ok, chat=True)) is None


def test_http_error_messages() -> None:
    assert (
        http_error_message(b'{"error": {"message": "bad key", "type": "auth"}}', "Unauthorized") == "bad key"
    )
    assert http_error_message(b'{"detail": "Not Found"}', "Not Found") == "Not Found"
    assert http_error_message(b"upstream connect error", None) == "upstream connect error"
    assert http_error_message(b"", "Bad Gateway") == "Bad Gateway"
