"""A small capture for the export tests: a streamed chat answer in a session, a server error, a
completions request with chunk token counts, written through the real trace writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recorders.tracefile import TraceWriter

RUN = "20260301T120000Z-abc123"
T0 = 1_772_366_400_000_000_000

REQUESTS: list[dict[str, Any]] = [
    {
        "type": "request",
        "id": "req-000001",
        "response_id": "chatcmpl-1",
        "model": "llama-3-8b",
        "api": "chat",
        "scenario": "chat",
        "prompt_id": "p-1",
        "stage": "s1",
        "in_flight": 3,
        "prompt_tokens": 40,
        "max_tokens": 64,
        "t_send": T0 + 1_000_123_456,
        "t_headers": T0 + 1_050_000_000,
        "t_first": T0 + 1_180_654_321,
        "t_end": T0 + 1_900_000_789,
        "chunks_us": [180531, 400000, 899000],
        "output_tokens": 3,
        "tokens_source": "usage",
        "status": 200,
        "finish_reason": "stop",
        "error": None,
        "text": "Paris is nice.",
        "session_id": "chat-7",
        "turn": 1,
    },
    {
        "type": "request",
        "id": "req-000002",
        "model": "llama-3-8b",
        "api": "chat",
        "scenario": "long_context",
        "stage": "s1",
        "in_flight": 4,
        "t_send": T0 + 2_000_000_000,
        "t_headers": T0 + 2_100_000_000,
        "t_end": T0 + 2_100_500_000,
        "chunks_us": [],
        "output_tokens": 0,
        "tokens_source": "chunks",
        "status": 503,
        "error": {"class": "server_5xx", "status": 503, "message": "engine overloaded"},
    },
    {
        "type": "request",
        "id": "req-000003",
        "response_id": "cmpl-3",
        "model": "llama-3-8b",
        "api": "completions",
        "scenario": "chat",
        "stage": "s2",
        "in_flight": 1,
        "prompt_tokens": 12,
        "t_send": T0 + 3_000_000_000,
        "t_first": T0 + 3_200_000_000,
        "t_end": T0 + 3_500_000_000,
        "chunks_us": [200000, 500000],
        "chunk_tokens": [2, 3],
        "output_tokens": 5,
        "tokens_source": "usage",
        "status": 200,
        "finish_reason": "length",
        "error": None,
    },
]


def write_capture(directory: Path) -> Path:
    """The capture above as ``directory/requests.jsonl`` (run and host come from its meta line)."""
    path = directory / "requests.jsonl"
    with TraceWriter(path, recorder="http_stream", run=RUN, host="loadgen-1") as writer:
        for record in REQUESTS:
            writer.write(record)
    return path
