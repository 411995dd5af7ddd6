"""Timing truth and CPU cost of the simulated server (``python benchmarks/simserver_timing.py``).

1. Accuracy: the ``fixed-timing`` scenario (TTFT 100 ms, one token every 20 ms) under a plain aiohttp client
   at concurrency 64. Prints the error distribution (mean, p50, p99, max; ms) of
   - TTFT error: client TTFT - 100 ms, and the part of it spent before the server received the request;
   - gap error: client inter-chunk gap - 20 ms;
   - client lateness: client arrival of each chunk - the server's scheduled time (truth file);
   - server lateness: the server's write time - the scheduled time (truth file; the server's own share).
2. Cost: 256 concurrent streams with 20 ms gaps for a few seconds; prints the server's CPU seconds per 1,000
   streamed tokens (psutil on the server process) and its lateness at that load.

The client stamps times with the same (wall, monotonic) anchor scheme as the server, so the two processes'
epoch-ns times are comparable to well under a millisecond. Figures taken on a shared machine are indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recorders.simserver.testing import SimServerHandle, run_simserver  # noqa: E402
from recorders.tracefile import Clock  # noqa: E402

TTFT_MS = 100.0
GAP_MS = 20.0


@dataclass
class Stream:
    response_id: str = ""
    t_send: int = 0
    chunks: list[int] = field(default_factory=list)  # epoch ns of each text chunk's arrival


async def _client(
    base_url: str, model: str, concurrency: int, requests: int, duration_s: float, tokens: int
) -> list[Stream]:
    clock = Clock()
    body = {
        "model": model,
        "prompt": "Benchmark prompt.",
        "max_tokens": tokens,
        "ignore_eos": True,
        "stream": True,
    }
    url = f"{base_url}/completions"
    streams: list[Stream] = []
    started = 0
    deadline = time.monotonic() + duration_s

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal started
        while started < requests and time.monotonic() < deadline:
            started += 1
            stream = Stream(t_send=clock.now_ns())
            async with session.post(url, json=body) as resp:
                stream.response_id = resp.headers["x-request-id"]
                async for line in resp.content:
                    if line.startswith(b'data: {"id"') and b'"text":""' not in line:
                        stream.chunks.append(clock.now_ns())
            streams.append(stream)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return streams


def _row(name: str, values_ns: list[float]) -> str:
    ms = np.asarray(values_ns, dtype=float) / 1e6
    return (
        f"{name:<34} {len(ms):>8} {ms.mean():>8.3f} {np.percentile(ms, 50):>8.3f} "
        f"{np.percentile(ms, 99):>8.3f} {ms.max():>8.3f}"
    )


def _truth(sim: SimServerHandle) -> dict[str, dict]:
    return {r["id"]: r for r in sim.truth_records() if r["outcome"] == "ok"}


def _errors(streams: list[Stream], truth: dict[str, dict]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"ttft": [], "transit": [], "gap": [], "client_late": [], "server_late": []}
    for s in streams:
        record = truth.get(s.response_id)
        if record is None or len(s.chunks) != len(record["t_sched"]):
            continue
        out["ttft"].append(s.chunks[0] - s.t_send - TTFT_MS * 1e6)
        out["transit"].append(record["t_arrival"] - s.t_send)
        out["gap"] += [b - a - GAP_MS * 1e6 for a, b in zip(s.chunks, s.chunks[1:], strict=False)]
        out["client_late"] += [c - t for c, t in zip(s.chunks, record["t_sched"], strict=True)]
        out["server_late"] += [w - t for w, t in zip(record["t_chunks"], record["t_sched"], strict=True)]
    return out


HEADER = f"{'error (ms)':<34} {'n':>8} {'mean':>8} {'p50':>8} {'p99':>8} {'max':>8}"
LABELS = {
    "ttft": f"TTFT - {TTFT_MS:g} ms",
    "transit": "  of which: server arrival - send",
    "gap": f"gap - {GAP_MS:g} ms",
    "client_late": "client arrival - schedule",
    "server_late": "server write - schedule",
}


def _table(errors: dict[str, list[float]], keys: list[str]) -> None:
    print(HEADER)
    for key in keys:
        print(_row(LABELS[key], errors[key]))


def _server(truth_path: Path, event_loop: str) -> AbstractContextManager[SimServerHandle]:
    overrides = {"timing.ttft_ms": TTFT_MS, "timing.gap_ms": GAP_MS}
    return run_simserver(
        "fixed-timing", truth=truth_path, overrides=overrides, extra_args=["--loop", event_loop]
    )


def accuracy(tmp: Path, concurrency: int, requests: int, event_loop: str) -> None:
    """Part 1: timing errors at ``concurrency`` streams of 30 tokens."""
    with _server(tmp / "truth.jsonl", event_loop) as sim:
        streams = asyncio.run(_client(sim.base_url, sim.model, concurrency, requests, 120.0, 30))
    errors = _errors(streams, _truth(sim))
    print(f"\n1. accuracy: concurrency {concurrency}, {len(streams)} streams of 30 tokens, "
          f"TTFT {TTFT_MS:g} ms, gap {GAP_MS:g} ms, server loop {event_loop}")  # fmt: skip
    _table(errors, ["ttft", "transit", "gap", "client_late", "server_late"])


def cost(tmp: Path, streams_n: int, seconds: float, event_loop: str) -> None:
    """Part 2: server CPU per 1,000 streamed tokens at ``streams_n`` concurrent streams of 100 tokens."""
    with _server(tmp / "truth-cpu.jsonl", event_loop) as sim:
        server, me = psutil.Process(sim.process.pid), psutil.Process()
        cpu0, mine0, t0 = sum(server.cpu_times()[:2]), sum(me.cpu_times()[:2]), time.monotonic()
        streams = asyncio.run(_client(sim.base_url, sim.model, streams_n, 10**9, seconds, 100))
        cpu1, mine1, t1 = sum(server.cpu_times()[:2]), sum(me.cpu_times()[:2]), time.monotonic()
    streamed = sum(len(s.chunks) for s in streams)
    errors = _errors(streams, _truth(sim))
    server_cpu = cpu1 - cpu0
    print(f"\n2. cost: {streams_n} concurrent streams, {GAP_MS:g} ms gaps, {t1 - t0:.1f} s, "
          f"{streamed} tokens ({streamed / (t1 - t0):.0f}/s; schedule allows "
          f"{streams_n * 1000 / GAP_MS:.0f}/s)")  # fmt: skip
    per_1k = server_cpu / streamed * 1000
    share = server_cpu / (t1 - t0) * 100
    print(f"server CPU: {server_cpu:.2f} s = {per_1k:.3f} CPU s per 1,000 tokens "
          f"({share:.0f} % of one core); client CPU {mine1 - mine0:.2f} s")  # fmt: skip
    _table(errors, ["server_late", "client_late", "gap"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--requests", type=int, default=640)
    parser.add_argument("--cpu-streams", type=int, default=256)
    parser.add_argument("--cpu-seconds", type=float, default=8.0)
    parser.add_argument("--loop", default="auto", choices=["auto", "uvloop", "asyncio"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        accuracy(Path(tmp), args.concurrency, args.requests, args.loop)
        cost(Path(tmp), args.cpu_streams, args.cpu_seconds, args.loop)
    load = ", ".join(f"{x:.2f}" for x in psutil.getloadavg())
    print(f"\n(load average {load} on {psutil.cpu_count()} CPUs; client and server share them)")


if __name__ == "__main__":
    main()
