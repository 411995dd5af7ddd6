"""Import time of ``import prometheus`` for a long window at 1 s step, 8 GPUs, against a real Prometheus.

1. Writes ``--hours`` of synthetic series at 1 s resolution as OpenMetrics text: a DCGM exporter with 8 GPUs
   (7 fields each), a vLLM engine (gauges and counters, the counters with a reset), a node exporter
   (memory, load, ``node_cpu_seconds_total`` of 8 CPUs x 3 modes); about 110 series.
2. Turns them into TSDB blocks with ``promtool tsdb create-blocks-from openmetrics`` (backfill) and starts
   the ``prometheus`` binary on them (a free loopback port, no scrape target).
3. Times ``import prometheus`` over the whole window at ``--step 1s`` (queries split at the 11,000-point
   limit, 4 at a time) and, from the responses it saved, the import from files; prints seconds, records,
   requests, and the figure extrapolated linearly to 24 h (the work is per step: one query part per
   11,000 steps, one record per GPU, engine and host per step), and the peak memory of the import from the
   server (run first, so the figure is its own).

Usage: ``python benchmarks/prometheus_import.py [--hours 2]`` (needs ``prometheus`` and ``promtool``, from the
Debian package ``prometheus``).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from recorders.prometheus_import import PrometheusImportOptions, import_prometheus
from recorders.prometheus_import.testing import run_prometheus

GPUS = 8
CPUS = 8
DCGM = {
    "DCGM_FI_DEV_GPU_UTIL": lambda g, k: 50 + 40 * math.sin(k / 300 + g),
    "DCGM_FI_DEV_MEM_COPY_UTIL": lambda g, k: 30 + 20 * math.sin(k / 200 + g),
    "DCGM_FI_DEV_FB_USED": lambda g, k: 70000 + k * 0.01,
    "DCGM_FI_DEV_FB_FREE": lambda g, k: 11559 - k * 0.01,
    "DCGM_FI_DEV_POWER_USAGE": lambda g, k: 400 + 200 * math.sin(k / 100 + g),
    "DCGM_FI_DEV_GPU_TEMP": lambda g, k: 60 + g,
    "DCGM_FI_DEV_SM_CLOCK": lambda g, k: 1980,
}


def openmetrics(start_s: int, steps: int) -> Iterator[str]:
    """The lines of the backfill file, family by family, each series in time order."""
    for name, value in DCGM.items():
        yield f"# TYPE {name} gauge"
        for g in range(GPUS):
            labels = (
                f'gpu="{g}",UUID="GPU-{g:08d}-0000-0000-0000-000000000000",modelName="NVIDIA H100 80GB HBM3",'
                f'Hostname="gpu-node-1",instance="gpu-node-1:9400",job="dcgm"'
            )
            for k in range(steps):
                yield f"{name}{{{labels}}} {value(g, k):.3f} {start_s + k}"
    engine = 'instance="gpu-node-1:8000",job="vllm",model_name="llama"'
    for name in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"):
        yield f"# TYPE {name} gauge"
        for k in range(steps):
            yield f"{name}{{{engine}}} {(k % 64) / (64 if 'perc' in name else 1):.3f} {start_s + k}"
    for family in ("vllm:generation_tokens", "vllm:prompt_tokens", "vllm:num_preemptions"):
        yield f"# TYPE {family} counter"
        restart = steps // 2  # the engine restarts half way: a counter reset
        for k in range(steps):
            yield f"{family}_total{{{engine}}} {(k if k < restart else k - restart) * 40} {start_s + k}"
    node = 'instance="gpu-node-1:9100",job="node"'
    for name, value in (
        ("node_memory_MemTotal_bytes", lambda k: 512 << 30),
        ("node_memory_MemAvailable_bytes", lambda k: (400 << 30) - k * 1024),
        ("node_load1", lambda k: 4 + math.sin(k / 60)),
    ):
        yield f"# TYPE {name} gauge"
        for k in range(steps):
            yield f"{name}{{{node}}} {value(k)} {start_s + k}"
    yield "# TYPE node_cpu_seconds counter"
    rng = random.Random(1)
    for cpu in range(CPUS):
        for mode in ("idle", "iowait", "user"):
            total = 0.0
            for k in range(steps):
                total += {"idle": 0.6, "iowait": 0.05, "user": 0.35}[mode] * (1 + rng.uniform(-0.1, 0.1))
                yield f'node_cpu_seconds_total{{cpu="{cpu}",mode="{mode}",{node}}} {total:.2f} {start_s + k}'
    yield "# EOF"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=2.0)
    args = parser.parse_args()
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        print("skipped: needs prometheus and promtool (apt-get install prometheus)")
        return
    steps = int(args.hours * 3600)
    end_s = int(time.time()) - 3600  # an hour back: the backfilled blocks do not overlap the live head
    start_s = end_s - steps + 1
    with tempfile.TemporaryDirectory(prefix="prom-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        source = root / "backfill.om"
        with open(source, "w") as fh:
            for line in openmetrics(start_s, steps):
                fh.write(line + "\n")
        t1 = time.perf_counter()
        blocks = root / "prometheus" / "data"
        command = [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--quiet",
            str(source),
            str(blocks),
        ]
        subprocess.run(command, check=True)
        source.unlink()
        t2 = time.perf_counter()
        print(f"backfill: {steps} steps, written in {t1 - t0:.1f} s, blocks made in {t2 - t1:.1f} s")
        with run_prometheus({}, root / "prometheus") as prom:
            runs = []
            options = dict(start=start_s, end=end_s, step_s=1.0, scrape_interval_s=1.0, progress=False)
            started = time.perf_counter()
            live = import_prometheus(
                PrometheusImportOptions(
                    out=root / "live",
                    url=prom.url,
                    save_responses=root / "responses",
                    **options,  # type: ignore[arg-type]
                )
            )
            runs.append(("server", time.perf_counter() - started, live))
            rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        files = import_prometheus(
            PrometheusImportOptions(out=root / "files", responses=(str(root / "responses"),), progress=False)
        )
        runs.append(("saved responses", time.perf_counter() - started, files))
        saved_mb = sum(p.stat().st_size for p in (root / "responses").iterdir()) / 1e6
        written_mb = sum(p.stat().st_size for p in (root / "live").iterdir()) / 1e6
    load = os.getloadavg()[0]
    print(f"window {args.hours:g} h at 1 s step, {GPUS} GPUs; load average {load:.1f} (shared machine)")
    header = ("from", "seconds", "gpu", "server", "host", "requests", "parts", "24 h est. s")
    widths = (16, 9, 9, 9, 9, 10, 7, 13)
    print(f"{header[0]:<16}" + "".join(f"{h:>{w}}" for h, w in zip(header[1:], widths[1:], strict=True)))
    for name, seconds, result in runs:
        r = result.records
        print(
            f"{name:<16}{seconds:>9.1f}{r['gpu']:>9}{r['server']:>9}{r['host']:>9}{result.requests:>10}"
            f"{result.parts:>7}{seconds * 24 / args.hours:>13.0f}"
        )
    print(f"responses saved: {saved_mb:.1f} MB; trace files written: {written_mb:.1f} MB")
    print(f"peak RSS of this process after the import from the server: {rss_mb:.0f} MB")
    print(f"24 h: {GPUS * 86400} gpu, 86400 server, 86400 host records; "
          f"{math.ceil(86400 / 11000)} parts x 4 queries")  # fmt: skip


if __name__ == "__main__":
    main()
