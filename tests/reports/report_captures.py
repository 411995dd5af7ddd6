"""Captures for the report tests, written with the recorders' ``TraceWriter`` from a seeded RNG.

``write_capture(directory, Profile(...))`` writes ``requests.jsonl`` (request records, stage events), and
optionally ``gpu.jsonl`` and ``server.jsonl`` (1 Hz samples), so the loader reads them like a recorded run.
Requests arrive at a constant rate; TTFT is log-normal around ``ttft_s``; chunk gaps are exponential around
``tpot_s``; a share of requests fails with ``error_class`` (no chunks, ``t_end`` 50 ms after sending).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recorders.tracefile import Clock, TraceWriter

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000

HOSTILE = "<script>alert(1)</script></style>"
"""A trace string that must only ever appear escaped in a report."""


@dataclass(frozen=True)
class Profile:
    requests: int = 600
    rate: float = 20.0
    """Requests sent per second."""
    ttft_s: float = 0.2
    tpot_s: float = 0.02
    tokens: int = 24
    error_share: float = 0.0
    error_class: str = "server_5xx"
    error_status: int | None = 500
    error_message: str = "internal server error"
    model: str = "test-model"
    scenario: str = "chat"
    extra_scenario: str | None = None
    """When set, every third request belongs to this scenario instead."""
    host: str = "client-1"
    stages: tuple[str, ...] = ()
    """Stage names; requests are split evenly between them in order."""
    text: str = "the answer"
    telemetry: bool = True
    gpu_host: str = "gpu-node"
    gpu_name: str = "H100"
    extra_events: tuple[tuple[float, str], ...] = field(default_factory=tuple)
    """(seconds after the first request, event name)."""


def _writer(path: Path, recorder: str, host: str) -> TraceWriter:
    return TraceWriter(
        path,
        recorder=recorder,
        run="report-test",
        host=host,
        clock=Clock(mono=lambda: 0, wall_ns=T0, mono_ns=0),
    )


def write_capture(directory: Path, profile: Profile, *, seed: int) -> Path:
    """Write the capture of ``profile`` into ``directory`` (created); returns it."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    p = profile
    duration_s = p.requests / p.rate
    per_stage = math.ceil(p.requests / len(p.stages)) if p.stages else p.requests
    with _writer(directory / "requests.jsonl", "http_stream", p.host) as out:
        for i, stage in enumerate(p.stages):
            out.event("stage", {"stage": stage}, t=T0 + round(i * per_stage / p.rate * S))
        for t_s, name in p.extra_events:
            out.event(name, {"note": name}, t=T0 + round(t_s * S))
        for i in range(p.requests):
            t_send = T0 + round((i / p.rate + rng.uniform(0, 0.2 / p.rate)) * S)
            record: dict[str, object] = {
                "type": "request",
                "run": "report-test",
                "host": p.host,
                "id": f"req-{i}",
                "response_id": f"chatcmpl-{seed}-{i}",
                "model": p.model,
                "api": "chat",
                "scenario": p.extra_scenario if p.extra_scenario and i % 3 == 2 else p.scenario,
                "prompt_id": f"p{i % 5}",
                "in_flight": 8,
                "prompt_tokens": 100,
                "max_tokens": p.tokens,
                "t_send": t_send,
                "t_headers": t_send + 20_000_000,
            }
            if p.stages:
                record["stage"] = p.stages[min(i // per_stage, len(p.stages) - 1)]
            if rng.random() < p.error_share:
                record.update(
                    t_first=None,
                    t_end=t_send + 50_000_000,
                    chunks_us=[],
                    output_tokens=0,
                    status=p.error_status,
                    finish_reason=None,
                    tokens_source="chunks",
                    error={"class": p.error_class, "status": p.error_status, "message": p.error_message},
                )
            else:
                ttft_us = p.ttft_s * 1e6 * float(rng.lognormal(0.0, 0.25))
                gaps = rng.exponential(p.tpot_s * 1e6, size=p.tokens - 1)
                chunks = np.round(ttft_us + np.concatenate([[0.0], np.cumsum(gaps)])).astype(int).tolist()
                record.update(
                    t_first=t_send + chunks[0] * 1000,
                    t_end=t_send + chunks[-1] * 1000 + 1_000_000,
                    chunks_us=chunks,
                    output_tokens=p.tokens,
                    tokens_source="usage",
                    status=200,
                    finish_reason="length",
                    error=None,
                    text=p.text,
                )
            out.write(record)
    if p.telemetry:
        with _writer(directory / "gpu.jsonl", "gpu", p.gpu_host) as gpu:
            for s in range(math.ceil(duration_s) + 2):
                gpu.write(
                    {
                        "type": "gpu",
                        "host": p.gpu_host,
                        "t": T0 + s * S,
                        "gpu": 0,
                        "uuid": "GPU-0",
                        "name": p.gpu_name,
                        "util_pct": float(rng.uniform(60, 90)),
                        "mem_util_pct": 40.0,
                        "mem_used_mib": 60_000.0 + float(rng.uniform(0, 500)),
                        "mem_total_mib": 81_559.0,
                        "power_w": 400.0,
                        "temp_c": 60.0,
                        "sm_clock_mhz": 1980.0,
                        "source": "nvml",
                    }
                )
        with _writer(directory / "server.jsonl", "server", "engine") as server:
            for s in range(math.ceil(duration_s) + 2):
                server.write(
                    {
                        "type": "server",
                        "host": "engine",
                        "t": T0 + s * S,
                        "engine": "vllm",
                        "running": float(rng.integers(4, 9)),
                        "waiting": float(rng.integers(0, 3)),
                        "kv_cache_pct": float(rng.uniform(20, 40)),
                        "preemptions": 0.0,
                        "metrics": {},
                    }
                )
    return directory
