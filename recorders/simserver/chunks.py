"""Response bodies in OpenAI's (and vLLM's) wire format: SSE chunks and non-streaming JSON.

Streaming, per request: a chunk with ``delta.role`` (chat only) and empty content, one chunk per token
(``finish_reason`` set on the last one), a usage chunk with ``choices: []`` when
``stream_options.include_usage`` is set, then ``data: [DONE]``. Token chunks are built from a per-request
prefix and suffix around the token as a JSON string (escaped once per distinct token), since they are written
tens of thousands of times a second.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from recorders.simserver.errors import ApiError

DONE = b"data: [DONE]\n\n"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@functools.lru_cache(maxsize=1 << 16)
def _json_string(text: str) -> str:
    """``text`` as a JSON string; tokens repeat, so each is escaped once."""
    return json.dumps(text, ensure_ascii=False)


def _event(obj: Any) -> bytes:
    return f"data: {_dumps(obj)}\n\n".encode()


def usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int | None = None) -> dict[str, Any]:
    """The ``usage`` object; ``prompt_tokens_details.cached_tokens`` only with a prefix cache (as vLLM)."""
    out: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
    }
    if cached_tokens is not None:
        out["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    return out


class ChunkFormat:
    """The SSE events of one streamed response (``api`` is ``"chat"`` or ``"completions"``)."""

    def __init__(self, api: str, rid: str, created: int, model: str) -> None:
        self.api = api
        obj = "chat.completion.chunk" if api == "chat" else "text_completion"
        # every chunk's fixed fields, as a JSON object left open, spliced from strings escaped once
        rid_json, model_json = _json_string(rid), _json_string(model)
        head = f'{{"id":{rid_json},"object":"{obj}","created":{created},"model":{model_json}'
        self._head = f"data: {head}"
        self._role = b""
        if api == "chat":
            self._role = (
                f'data: {head},"choices":[{{"index":0,"delta":{{"role":"assistant","content":""}},'
                f'"logprobs":null,"finish_reason":null}}]}}\n\n'
            ).encode()
            self._pre = f'data: {head},"choices":[{{"index":0,"delta":{{"content":'
            self._mid = '},"logprobs":null,"finish_reason":'
            self._post = "}]}\n\n"
        else:
            self._pre = f'data: {head},"choices":[{{"index":0,"text":'
            self._mid = ',"logprobs":null,"finish_reason":'
            self._post = ',"stop_reason":null}]}\n\n'

    def role(self) -> bytes:
        """The first chat chunk: the assistant role and empty content (nothing for completions)."""
        return self._role

    def token(self, text: str, finish_reason: str | None = None) -> bytes:
        finish = "null" if finish_reason is None else f'"{finish_reason}"'
        return f"{self._pre}{_json_string(text)}{self._mid}{finish}{self._post}".encode()

    def usage(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int | None = None) -> bytes:
        counts = usage(prompt_tokens, completion_tokens)
        details = (
            "" if cached_tokens is None else f',"prompt_tokens_details":{{"cached_tokens":{cached_tokens}}}'
        )
        return (
            f'{self._head},"choices":[],"usage":{{"prompt_tokens":{counts["prompt_tokens"]},'
            f'"total_tokens":{counts["total_tokens"]},"completion_tokens":{counts["completion_tokens"]}'
            f"{details}}}}}\n\n"
        ).encode()

    @staticmethod
    def error(error: ApiError) -> bytes:
        """An error inside the stream, in the same shape as an error response body."""
        return _event(error.body())


def completion_body(
    api: str,
    rid: str,
    created: int,
    model: str,
    text: str,
    finish_reason: str,
    prompt_tokens: int,
    n_out: int,
    cached_tokens: int | None = None,
) -> dict[str, Any]:
    """The non-streaming response of ``/v1/chat/completions`` or ``/v1/completions``."""
    choice: dict[str, Any]
    if api == "chat":
        message = {"role": "assistant", "content": text, "tool_calls": []}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
    choice["stop_reason"] = None
    return {
        "id": rid,
        "object": "chat.completion" if api == "chat" else "text_completion",
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": usage(prompt_tokens, n_out, cached_tokens),
    }
