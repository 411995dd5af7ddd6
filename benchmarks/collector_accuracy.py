"""How faithful the collector's timestamps are, measured against the simulated server's ground truth.

The simulated server runs with fixed timing (first token 200 ms after arrival, then one every 20 ms, 64
tokens per answer: ``max_tokens`` 64 with ``ignore_eos``) and ``--truth`` on. The collector
(``traceanalyzer record http``, a separate process, as users run it) drives it; each request record is paired
with the server's truth by response id. Per run it prints:

- first-chunk read lag = the collector's ``t_first`` - the server's wall-clock write of that chunk: pure
  client error (both sides stamp epoch ns from a wall + monotonic anchor on the same host);
- later-chunk read lag = the same for chunks 2..64 (``t_send + chunks_us[i]`` against the write time);
- send delay = when the server read the request off its socket (truth ``t_received``) - ``t_send``; the
  server's own handling before its handler ran (``t_arrival - t_received``) is printed apart, under the
  machine's conditions;
- throughput against the ideal: closed loop, requests/s over (last ``t_end`` - first ``t_send``) against
  ``streams / 1.46 s`` (200 ms + 63 x 20 ms per request, ``ceil(requests / streams)`` rounds); open loop, the
  achieved send rate against the rate of the seeded arrival schedule the collector was following (rebuilt
  from ``--seed``), plus the schedule lag: how late each send was against that schedule, relative to the
  earliest one;
- the collector's CPU seconds (user + system of its process, start-up included);
- the machine's conditions during the run, in a second table: the server's own lateness (its write of a
  chunk - the schedule it was due on), its handling delay, its CPU seconds, and the steal time of this
  virtual machine (CPU time the hypervisor gave to others while this machine wanted to run, % of all CPU
  time): they say how much the run was starved, which no client can make up for.

Runs: closed loop at 8, 64, 128 and 256 streams (1,024 requests each) and Poisson arrivals at 170 requests/s
(1,024 requests). Targets on a 2-core machine shared with the server: at 256 streams read lag mean <= 0.5 ms,
p99 <= 3 ms and >= 97 % of ideal throughput; at Poisson 170/s send delay mean <= 1 ms, p99 <= 5 ms.

    .venv/bin/python benchmarks/collector_accuracy.py [--requests 1024] [--runs closed8,...] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recorders.http_stream.load import arrival_gaps, arrival_rng
from recorders.simserver.testing import run_simserver

TTFT_MS = 200.0
GAP_MS = 20.0
TOKENS = 64
REQUEST_S = (TTFT_MS + (TOKENS - 1) * GAP_MS) / 1000.0
RUNS = {
    "closed8": ("--concurrency", "8"),
    "closed64": ("--concurrency", "64"),
    "closed128": ("--concurrency", "128"),
    "closed256": ("--concurrency", "256"),
    "poisson170": ("--rate", "170", "--arrival", "poisson"),
}


@dataclass
class RunResult:
    name: str
    requests: int
    ok: int
    paired: int
    first_lag_ms: np.ndarray
    later_lag_ms: np.ndarray
    send_delay_ms: np.ndarray
    throughput_pct: float
    cpu_s: float
    schedule_lag_ms: np.ndarray
    server_late_ms: np.ndarray
    server_handling_ms: np.ndarray
    server_cpu_s: float
    steal_pct: float


def _read_jsonl(path: Path, kind: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [r for r in map(json.loads, fh) if r.get("type") == kind]


def run_one(name: str, requests: int, workdir: Path, seed: int) -> RunResult:
    truth_path, out = workdir / f"{name}.truth.jsonl", workdir / f"{name}.requests.jsonl"
    overrides = {"timing.mode": "fixed", "timing.ttft_ms": TTFT_MS, "timing.gap_ms": GAP_MS}
    with run_simserver("fixed-timing", seed=seed, truth=truth_path, overrides=overrides) as sim:
        cmd = [
            sys.executable, "-m", "traceanalyzer", "record", "http",
            "--url", sim.base_url, "--model", sim.model, *RUNS[name], "--requests", str(requests),
            "--max-tokens", str(TOKENS),
            "--extra-body", '{"ignore_eos": true}', "--prompts", "builtin:mixed", "--seed", str(seed),
            "--no-text", "--quiet", "--out", str(out),
        ]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_cpu0, cpu_times0 = _process_cpu_s(sim.process.pid), _cpu_times()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the server is still running: not counted
        server_cpu_s, cpu_times1 = _process_cpu_s(sim.process.pid) - server_cpu0, _cpu_times()
        if proc.returncode != 0:
            raise SystemExit(f"collector failed ({proc.returncode}):\n{proc.stderr}")
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    truth = {t["id"]: t for t in _read_jsonl(truth_path, "sim_truth")}
    records = _read_jsonl(out, "request")
    first: list[int] = []
    later: list[int] = []
    send: list[int] = []
    handling: list[int] = []
    server_late = [w - s for t in truth.values() for w, s in zip(t["t_chunks"], t["t_sched"], strict=False)]
    ok = paired = 0
    for rec in records:
        ok += rec["error"] is None
        t = truth.get(rec["response_id"])
        if t is None or rec["error"] is not None:
            continue
        paired += 1
        send.append(t["t_received"] - rec["t_send"])
        handling.append(t["t_arrival"] - t["t_received"])
        chunks = [rec["t_send"] + us * 1000 for us in rec["chunks_us"]]
        if chunks and len(chunks) == len(t["t_chunks"]):
            first.append(rec["t_first"] - t["t_chunks"][0])
            later.extend(c - w for c, w in zip(chunks[1:], t["t_chunks"][1:], strict=True))
    if name.startswith("closed"):
        streams = int(RUNS[name][1])
        elapsed_s = (max(r["t_end"] for r in records) - min(r["t_send"] for r in records)) / 1e9
        ideal_s = math.ceil(len(records) / streams) * REQUEST_S
        throughput = 100.0 * ideal_s / elapsed_s
        schedule_lag = np.zeros(0)
    else:
        throughput, schedule_lag = _open_loop(records, float(RUNS[name][1]), seed)
    return RunResult(
        name,
        len(records),
        ok,
        paired,
        np.asarray(first, dtype=np.float64) / 1e6,
        np.asarray(later, dtype=np.float64) / 1e6,
        np.asarray(send, dtype=np.float64) / 1e6,
        throughput,
        cpu_s,
        schedule_lag,
        np.asarray(server_late, dtype=np.float64) / 1e6,
        np.asarray(handling, dtype=np.float64) / 1e6,
        server_cpu_s,
        _steal_pct(cpu_times0, cpu_times1),
    )


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_times() -> list[int]:
    """The machine's CPU time counters (``/proc/stat`` line ``cpu``: user nice system idle iowait irq softirq
    steal ...), in clock ticks."""
    with open("/proc/stat") as fh:
        return [int(v) for v in fh.readline().split()[1:9]]


def _steal_pct(t0: list[int], t1: list[int]) -> float:
    """Steal time between two readings, % of all CPU time (what the hypervisor gave to other machines)."""
    deltas = [b - a for a, b in zip(t0, t1, strict=True)]
    return 100.0 * deltas[7] / max(1, sum(deltas))


def _open_loop(records: list[dict[str, Any]], rate: float, seed: int) -> tuple[float, np.ndarray]:
    """Achieved send rate as % of the seeded schedule's own rate, and each send's lag behind that schedule
    (ms, relative to the least late send)."""
    sends = np.sort(np.asarray([r["t_send"] for r in records], dtype=np.int64))
    gaps = arrival_gaps(rate, "poisson", arrival_rng(seed, 0))
    schedule = np.cumsum([next(gaps) for _ in range(len(sends))])  # seconds after the start
    achieved_pct = 100.0 * (schedule[-1] - schedule[0]) / ((sends[-1] - sends[0]) / 1e9)
    late_s = (sends - sends[0]) / 1e9 - (schedule - schedule[0])
    return achieved_pct, (late_s - late_s.min()) * 1e3


def _stat(values: np.ndarray) -> str:
    if values.size == 0:
        return "-"
    return f"{values.mean():6.3f} / {np.percentile(values, 99):6.3f}"


def print_table(results: list[RunResult]) -> None:
    head = (
        f"{'run':<11} {'requests':>8} {'ok':>5} {'paired':>6}  {'first lag ms':>15}  {'later lag ms':>15}  "
        f"{'send delay ms':>15}  {'of ideal':>8}  {'cpu s':>6}  {'sched lag ms':>15}"
    )
    mean_p99 = f"{'mean / p99':>15}"
    print(head)
    print(
        f"{'':<11} {'':>8} {'':>5} {'':>6}  {mean_p99}  {mean_p99}  {mean_p99}  {'':>8}  {'':>6}  {mean_p99}"
    )
    for r in results:
        lags = f"{_stat(r.first_lag_ms):>15}  {_stat(r.later_lag_ms):>15}  {_stat(r.send_delay_ms):>15}"
        counts = f"{r.name:<11} {r.requests:>8} {r.ok:>5} {r.paired:>6}"
        print(f"{counts}  {lags}  {r.throughput_pct:>7.1f}%  {r.cpu_s:>6.2f}  {_stat(r.schedule_lag_ms):>15}")
    print("\nconditions: the server's lateness and handling delay, its CPU, this machine's steal time")
    print(f"{'run':<11}  {'server late ms':>15}  {'handling ms':>15}  {'server cpu s':>12}  {'steal':>6}")
    print(f"{'':<11}  {mean_p99}  {mean_p99}")
    for r in results:
        late = f"{_stat(r.server_late_ms):>15}  {_stat(r.server_handling_ms):>15}"
        print(f"{r.name:<11}  {late}  {r.server_cpu_s:>12.2f}  {r.steal_pct:>5.1f}%")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1024)
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, from {', '.join(RUNS)}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat", type=int, default=1, help="run the list this many times (a shared machine varies)"
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.runs.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        parser.error(f"unknown run(s) {', '.join(unknown)}; known: {', '.join(RUNS)}")
    print(
        f"collector accuracy: simulated server with fixed timing (TTFT {TTFT_MS:g} ms, {GAP_MS:g} ms gaps, "
        f"{TOKENS} tokens), {args.requests} requests per run, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}\n",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="collector-accuracy-") as tmp:
        for rep in range(max(1, args.repeat)):
            workdir = Path(tmp) / f"rep{rep}"
            workdir.mkdir()
            for name in names:
                started = time.monotonic()
                results.append(run_one(name, args.requests, workdir, args.seed))
                print(f"  {name}: {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    print_table(results)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
