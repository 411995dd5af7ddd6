"""Sampler schedule accuracy and CPU overhead: ``record gpu`` and ``record server`` at 10 Hz for 10 s.

Runs, one after the other, in this process (so its CPU time is the sampler's own):
1. ``record gpu --backend nvml --host-metrics``: the real NVML when a driver is there, else the stand-in
   ``pynvml`` of ``recorders.gpu.testing`` with ``--gpus`` boards (then NVML's own C calls are not measured);
2. ``record gpu --backend dcgm --host-metrics`` against the simulated server's DCGM endpoint;
3. ``record server`` against the simulated server's vLLM ``/metrics``.
The simulated server runs in a child process under a light load, so its CPU is not counted.

Figures, from the sample times ``t_k`` written in the trace (one sample per tick), ``I`` the interval and
``k`` a sample's tick index (``round((t_k - t_0) / I)``):
- drift = ``t_last - (t_0 + k_last * I)``: how far the schedule slid over the whole run (must stay < I);
- lateness = ``t_k - (t_0 + k * I)``, p50 / p99 / max;
- jitter = ``|(t_k - t_{k-1}) - I|``, p99;
- CPU % = process CPU time (user + system) / wall time x 100, of one core.

Usage: ``python benchmarks/sampler_overhead.py [--seconds 10] [--hz 10] [--gpus 8]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import numpy as np

from recorders.gpu import GpuRecorderOptions, RecordSummary, record_gpu_async
from recorders.gpu.testing import fake_pynvml, h100_boards
from recorders.server_metrics import ServerRecorderOptions, record_server_async
from recorders.simserver.testing import run_simserver


def _real_nvml_available() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        return True
    except Exception:
        return False


def _schedule_figures(path: Path, kind: str, interval_s: float) -> dict[str, float]:
    times = []
    seen = set()
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec["type"] == kind and rec["t"] not in seen:
            seen.add(rec["t"])
            times.append(rec["t"])
    t = np.array(sorted(times), dtype=np.int64)
    interval_ns = interval_s * 1e9
    k = np.round((t - t[0]) / interval_ns)
    late_ms = (t - (t[0] + k * interval_ns)) / 1e6
    jitter_ms = np.abs(np.diff(t) - interval_ns) / 1e6
    return {
        "samples": len(t),
        "drift_ms": float(late_ms[-1]),
        "late_p50_ms": float(np.percentile(late_ms, 50)),
        "late_p99_ms": float(np.percentile(late_ms, 99)),
        "late_max_ms": float(late_ms.max()),
        "jitter_p99_ms": float(np.percentile(jitter_ms, 99)),
    }


def _measure(run: Callable[[], Coroutine[Any, Any, RecordSummary]]) -> tuple[RecordSummary, float]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    summary = asyncio.run(run())
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return summary, 100.0 * cpu / wall


def _background_load(base_url: str, model: str, stop: threading.Event) -> None:
    """One small chat completion at a time, so the simulated metrics move (runs in a thread, mostly idle)."""
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}
    ).encode()
    while not stop.is_set():
        req = urllib.request.Request(
            f"{base_url}/chat/completions", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                resp.read()
        except OSError:
            pass
        stop.wait(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--hz", type=float, default=10.0)
    parser.add_argument(
        "--gpus", type=int, default=8, help="boards of the stand-in NVML when there is no driver"
    )
    args = parser.parse_args(argv)
    interval, duration = 1.0 / args.hz, args.seconds

    nvml_label = "nvml"
    if not _real_nvml_available():
        sys.modules["pynvml"] = fake_pynvml(h100_boards(args.gpus))
        nvml_label = f"nvml (stand-in, {args.gpus} GPUs)"

    rows: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="sampler-bench-") as tmp, run_simserver("steady", seed=1) as sim:
        stop = threading.Event()
        loader = threading.Thread(target=_background_load, args=(sim.base_url, sim.model, stop), daemon=True)
        loader.start()
        runs: list[tuple[str, Path, str, Callable[[], Coroutine[Any, Any, RecordSummary]]]] = []
        nvml_out, dcgm_out, server_out = (
            Path(tmp, "nvml.jsonl"),
            Path(tmp, "dcgm.jsonl"),
            Path(tmp, "server.jsonl"),
        )
        runs.append(
            (
                f"gpu {nvml_label} + host",
                nvml_out,
                "host",
                lambda: record_gpu_async(
                    GpuRecorderOptions(
                        out=nvml_out, interval_s=interval, duration_s=duration, host_metrics=True
                    )
                ),
            )
        )
        runs.append(
            (
                "gpu dcgm (simserver) + host",
                dcgm_out,
                "host",
                lambda: record_gpu_async(
                    GpuRecorderOptions(
                        out=dcgm_out,
                        backend="dcgm",
                        url=sim.dcgm_url,
                        interval_s=interval,
                        duration_s=duration,
                        host_metrics=True,
                    )
                ),
            )
        )
        runs.append(
            (
                "server vLLM /metrics (simserver)",
                server_out,
                "server",
                lambda: record_server_async(
                    ServerRecorderOptions(
                        out=server_out, url=sim.metrics_url, interval_s=interval, duration_s=duration
                    )
                ),
            )
        )
        try:
            for label, out, kind, run in runs:
                summary, cpu_pct = _measure(run)
                figures = _schedule_figures(out, kind, interval)
                figures.update(
                    cpu_pct=cpu_pct, missed=summary.missed_ticks, events=summary.records.get("event", 0)
                )
                rows.append((label, figures))
        finally:
            stop.set()
            loader.join(15)

    load1 = os.getloadavg()[0]
    print(
        f"sampler overhead: {duration:g} s at {args.hz:g} Hz (interval {interval * 1000:g} ms); "
        f"{os.cpu_count()} CPUs, load1 {load1:.2f} at the end (shared machine: figures are indicative)"
    )
    header = (
        "run",
        "samples",
        "drift ms",
        "late p50",
        "late p99",
        "late max",
        "jitter p99",
        "missed",
        "CPU %",
    )
    print(f"{header[0]:<36}" + "".join(f"{h:>11}" for h in header[1:]))
    for label, f in rows:
        cells = (
            f"{f['samples']:d}",
            f"{f['drift_ms']:.2f}",
            f"{f['late_p50_ms']:.2f}",
            f"{f['late_p99_ms']:.2f}",
            f"{f['late_max_ms']:.2f}",
            f"{f['jitter_p99_ms']:.2f}",
            f"{f['missed']:d}",
            f"{f['cpu_pct']:.2f}",
        )
        print(f"{label:<36}" + "".join(f"{c:>11}" for c in cells))
    expected = round(duration * args.hz)
    worst = max(abs(f["drift_ms"]) for _, f in rows)
    ok = worst < interval * 1000 and all(f["samples"] + f["missed"] == expected for _, f in rows)
    verdict = "yes" if ok else "NO"
    print(f"total drift < one interval ({interval * 1000:g} ms) and every tick accounted for: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
