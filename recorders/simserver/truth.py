"""The ground-truth file (``--truth FILE``): one JSON line per request, written when it ends.

Written through :class:`recorders.tracefile.TraceWriter`, so the first line is a ``meta`` record (recorder
``simserver``, the clock anchor, ``config`` = {scenario name, seed}, ``scenario`` = every parameter) and
every line is flushed. Each
request is a ``sim_truth`` record (times are epoch ns from the same wall + monotonic clock anchor the
recorders use)::

    {"type": "sim_truth", "v": 1, "id": "chatcmpl-...", "api": "chat", "stream": true,
     "prompt_tokens": 31, "max_tokens": 256, "output_tokens": 57,
     "t_received": ..., "t_arrival": ..., "t_headers": ..., "t_chunks": [...], "t_sched": [...], "t_end": ...,
     "status": 200, "outcome": "ok", "finish_reason": "stop", "error": null}

- ``id``: the response ``id`` (also the ``x-request-id`` header, error responses included).
- ``t_received``: when the server process read the request's last bytes off its socket (:mod:`.wire`; the
  handler's start where the server runs without read stamps). ``t_arrival``: when the handler received the
  request (the engine's arrival; aiohttp starts it once the headers are in, so for a request whose body
  came later it precedes ``t_received``; otherwise the difference is the server's own handling delay).
  ``t_headers``: when the stream's headers were sent.
- ``t_chunks``: when each text-bearing chunk was handed to the socket; ``t_sched``: when the engine model
  scheduled it (``t_chunks[i] >= t_sched[i]``; the difference is the server's own lateness). Non-streaming
  requests have no ``t_chunks``; ``t_sched`` holds the times their tokens were generated.
- ``session_id``, ``turn``: the chat id (``x-session-id`` header) and the turn (user messages before the
  last), null outside conversations; ``cached_tokens``: prompt tokens found in the prefix cache (null
  without one); ``prompt_sha256``: digest of the prompt's messages (:func:`.prefix_cache.prompt_digest`).
- ``outcome``: ``ok``, ``bad_request``, ``context_length``, ``not_found``, ``rate_limited``, ``oom``,
  ``server_error``, ``overloaded``, ``queue_timeout``, ``stream_error``, ``client_disconnected`` or
  ``server_stopped``. ``status``: the HTTP status sent (200 for a stream whose error came inside it).
  ``error``: ``{"status", "type", "message"}`` as sent, or null.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recorders.simserver.errors import ApiError
from recorders.simserver.scenario import Scenario
from recorders.tracefile import Clock, TraceWriter


class TruthFile:
    """Appends ``sim_truth`` records to ``path``."""

    def __init__(self, path: str | Path, scenario: Scenario, seed: int, clock: Clock) -> None:
        # The parameters go into the meta line as they are: the writer's secret redaction would hide keys
        # such as max_tokens in ``config``.
        self._writer = TraceWriter(
            path,
            recorder="simserver",
            config={"scenario": scenario.name, "seed": seed},
            clock=clock,
            extra_meta={"scenario": scenario.to_dict()},
        )

    def request(
        self,
        *,
        rid: str,
        api: str,
        stream: bool | None,
        prompt_tokens: int | None,
        max_tokens: int | None,
        output_tokens: int,
        t_received: int,
        t_arrival: int,
        t_headers: int | None,
        t_chunks: list[int],
        t_sched: list[int],
        t_end: int,
        status: int,
        outcome: str,
        finish_reason: str | None,
        error: ApiError | None,
        talk: tuple[str | None, int | None, str | None] = (None, None, None),
        cached_tokens: int | None = None,
    ) -> None:
        record: dict[str, Any] = {
            "type": "sim_truth",
            "id": rid,
            "api": api,
            "stream": stream,
            "prompt_tokens": prompt_tokens,
            "max_tokens": max_tokens,
            "output_tokens": output_tokens,
            "t_received": t_received,
            "t_arrival": t_arrival,
            "t_headers": t_headers,
            "t_chunks": t_chunks,
            "t_sched": t_sched,
            "t_end": t_end,
            "status": status,
            "outcome": outcome,
            "finish_reason": finish_reason,
            "error": None
            if error is None
            else {"status": error.status, "type": error.type, "message": error.message},
            "session_id": talk[0],
            "turn": talk[1],
            "cached_tokens": cached_tokens,
            "prompt_sha256": talk[2],
        }
        self._writer.write(record)

    def close(self) -> None:
        self._writer.close()
