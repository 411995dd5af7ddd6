"""The closed set of error classes (DESIGN section 3) and how a failure is put into one.

Every recorder and importer classifies through :func:`classify`, so the collector, ``LLMUser`` and the
Locust importer agree on what a failure is.
"""

from __future__ import annotations

import re

RATE_LIMITED = "rate_limited"
CONTEXT_LENGTH = "context_length"
CLIENT_4XX = "client_4xx"
OOM = "oom"
SERVER_5XX = "server_5xx"
TIMEOUT = "timeout"
CONNECTION = "connection"
STREAM_BROKEN = "stream_broken"
ABORTED = "aborted"

ERROR_CLASSES: tuple[str, ...] = (
    RATE_LIMITED,
    CONTEXT_LENGTH,
    CLIENT_4XX,
    OOM,
    SERVER_5XX,
    TIMEOUT,
    CONNECTION,
    STREAM_BROKEN,
    ABORTED,
)

_OOM = re.compile(
    r"out of memory|\boom\b|outofmemory|cuda error: out of memory|kv cache (is )?(full|exhausted)", re.I
)
_CONTEXT = re.compile(
    r"context length|context window|maximum context|too many tokens|prompt is too long|input is too long"
    r"|input too long|exceeds the (model'?s )?max|max_model_len|tokens exceed",
    re.I,
)
_TIMEOUT = re.compile(r"time[d ]?out|deadline exceeded", re.I)
_CONNECTION = re.compile(
    r"connection (refused|reset|aborted|error)|cannot connect|connect call failed|remotedisconnected"
    r"|name or service not known|no route to host|connectionrefused|connectionreset",
    re.I,
)


def classify(
    status: int | None,
    message: str = "",
    *,
    mid_stream: bool = False,
    timed_out: bool = False,
    connection_failed: bool = False,
) -> str:
    """Put one failure into its error class.

    Order matters: out-of-memory text wins over any status (a 500 with a CUDA OOM message is ``oom``); then
    timeouts and connection failures seen by the client; then 429, context-length 4xx, other 4xx, 5xx; a
    failure after the stream started (error event or disconnect) is ``stream_broken``.
    """
    text = message or ""
    if _OOM.search(text):
        return OOM
    if timed_out:
        return TIMEOUT
    if connection_failed:
        return CONNECTION
    if status is not None and status >= 400:
        if status == 429:
            return RATE_LIMITED
        if 400 <= status < 500:
            if status == 408:
                return TIMEOUT
            return CONTEXT_LENGTH if _CONTEXT.search(text) else CLIENT_4XX
        if status == 504 or (status >= 500 and _TIMEOUT.search(text)):
            return TIMEOUT
        if not mid_stream:
            return SERVER_5XX
    if mid_stream:
        return STREAM_BROKEN
    if _CONTEXT.search(text):
        return CONTEXT_LENGTH
    if _TIMEOUT.search(text):
        return TIMEOUT
    if _CONNECTION.search(text):
        return CONNECTION
    return SERVER_5XX if status is None or status >= 500 else CLIENT_4XX
