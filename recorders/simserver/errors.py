"""Errors of the simulated server, in the shape real OpenAI-compatible servers answer with.

Body: ``{"error": {"message": ..., "type": ..., "param": null, "code": <HTTP status>}}`` (vLLM's shape; the
OpenAI client raises ``APIStatusError`` from it). Inside a stream the same object is sent as one
``data: {"error": ...}`` event, followed by ``data: [DONE]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ApiError:
    """One failure as the client will see it. ``outcome`` is the ground-truth label in the truth file."""

    status: int
    type: str
    message: str
    outcome: str
    param: str | None = None

    def body(self) -> dict[str, Any]:
        return {
            "error": {"message": self.message, "type": self.type, "param": self.param, "code": self.status}
        }


def bad_request(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, "BadRequestError", message, "bad_request", param)


def context_length(max_model_len: int, prompt_tokens: int, max_tokens: int) -> ApiError:
    """vLLM's wording, which clients and the trace classifier recognise as a context-length error."""
    total = prompt_tokens + max_tokens
    return ApiError(
        400,
        "BadRequestError",
        f"This model's maximum context length is {max_model_len} tokens. However, you requested {total} "
        f"tokens ({prompt_tokens} in the messages, {max_tokens} in the completion). Please reduce the length "
        "of the messages or completion.",
        "context_length",
        "messages",
    )


def model_not_found(model: str) -> ApiError:
    return ApiError(404, "NotFoundError", f"The model `{model}` does not exist.", "not_found", "model")


def rate_limited(why: str) -> ApiError:
    return ApiError(429, "RateLimitError", f"Rate limit exceeded: {why}. Please retry later.", "rate_limited")


def out_of_memory(tried_mib: float, total_mib: float, free_mib: float) -> ApiError:
    """PyTorch's CUDA out-of-memory message, as a 500."""
    return ApiError(
        500,
        "InternalServerError",
        f"CUDA out of memory. Tried to allocate {tried_mib / 1024:.2f} GiB. GPU 0 has a total capacity of "
        f"{total_mib / 1024:.2f} GiB of which {max(free_mib, 0.0):.2f} MiB is free.",
        "oom",
    )


def engine_dead() -> ApiError:
    return ApiError(
        500,
        "InternalServerError",
        "EngineCore encountered an issue. See stack trace (above) for the root cause.",
        "server_error",
    )


def overloaded(waiting: int) -> ApiError:
    return ApiError(
        503, "ServiceUnavailableError", f"Server overloaded: {waiting} requests waiting.", "overloaded"
    )


def queue_timeout(waited_s: float) -> ApiError:
    return ApiError(
        504,
        "TimeoutError",
        f"Request timed out after waiting {waited_s:.1f} s in the queue.",
        "queue_timeout",
    )


def stream_failure() -> ApiError:
    return ApiError(
        500, "InternalServerError", "Internal server error while generating the response.", "stream_error"
    )
