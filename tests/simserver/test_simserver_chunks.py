"""The simulated server's SSE chunks, built from templates, are the JSON a serializer would write."""

from __future__ import annotations

import json

import pytest

from recorders.simserver.chunks import DONE, ChunkFormat
from recorders.simserver.errors import ApiError


def _event(data: bytes) -> dict[str, object]:
    assert data.startswith(b"data: ") and data.endswith(b"\n\n") and data.count(b"\n\n") == 1
    return json.loads(data[6:])


@pytest.mark.parametrize("model", ["sim-llama-3-8b", 'od"d \\ mödel\n名'])
def test_chat_chunks(model: str) -> None:
    fmt = ChunkFormat("chat", "chatcmpl-0a1b", 1_700_000_000, model)
    head = {"id": "chatcmpl-0a1b", "object": "chat.completion.chunk", "created": 1_700_000_000}
    head["model"] = model
    role = {"role": "assistant", "content": ""}
    assert _event(fmt.role()) == {
        **head,
        "choices": [{"index": 0, "delta": role, "logprobs": None, "finish_reason": None}],
    }
    for text, finish in [(" world", None), ('"quoted"\\ é\n', None), (" end", "length")]:
        assert _event(fmt.token(text, finish)) == {
            **head,
            "choices": [{"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": finish}],
        }
    assert _event(fmt.usage(7, 3)) == {
        **head,
        "choices": [],
        "usage": {"prompt_tokens": 7, "total_tokens": 10, "completion_tokens": 3},
    }
    assert DONE == b"data: [DONE]\n\n"


def test_completion_chunks_and_errors() -> None:
    fmt = ChunkFormat("completions", "cmpl-9", 5, "m")
    assert fmt.role() == b""
    assert _event(fmt.token("x", "stop")) == {
        "id": "cmpl-9",
        "object": "text_completion",
        "created": 5,
        "model": "m",
        "choices": [
            {"index": 0, "text": "x", "logprobs": None, "finish_reason": "stop", "stop_reason": None}
        ],
    }
    error = ApiError(500, "server_error", "CUDA out of memory", "oom")
    assert _event(fmt.error(error)) == error.body()
