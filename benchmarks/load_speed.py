"""Benchmark: how fast the loader reads a large capture, side by side with DuckDB's own ``read_json``.

Generates (with the recorders' :class:`~recorders.tracefile.TraceWriter`) a capture of N requests with C chunk
offsets each, then loads it in fresh subprocesses so each peak RSS is that run's own:

- ``traceanalyzer (parse)``: ``load_capture(cache=False)``: read, validate, dispatch by type;
- ``traceanalyzer (first load)``: the same with the capture cache on: the call returns while a background
  thread writes the cache; the next row adds the time until that write has finished;
- ``traceanalyzer (warm cache)``: a second load of the unchanged capture;
- ``duckdb read_json (auto)``: ``SELECT * FROM read_json(path)`` into an Arrow table, what a user would type;
- ``duckdb read_json (columns)``: the same with the request columns spelled out (no type detection).

Times are of the load call only (interpreter start and imports excluded: also pandas, which pyarrow imports
on first use and every ``traceanalyzer`` command has imported before it loads a capture); MB/s is the file's
size over that time. Each row is the median of ``--repeat`` runs, taken round-robin.

Usage: ``python benchmarks/load_speed.py [--requests 200000] [--chunks 100] [--out DIR] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

T0_NS = 1_700_000_000_000_000_000

_DUCKDB_COLUMNS = {
    "type": "VARCHAR", "v": "BIGINT", "run": "VARCHAR", "host": "VARCHAR", "worker": "VARCHAR",
    "id": "VARCHAR", "response_id": "VARCHAR", "model": "VARCHAR", "api": "VARCHAR", "scenario": "VARCHAR",
    "prompt_id": "VARCHAR", "stage": "VARCHAR", "in_flight": "BIGINT", "prompt_tokens": "BIGINT",
    "max_tokens": "BIGINT", "t_send": "BIGINT", "t_headers": "BIGINT", "t_first": "BIGINT", "t_end": "BIGINT",
    "chunks_us": "BIGINT[]", "output_tokens": "BIGINT", "tokens_source": "VARCHAR", "status": "BIGINT",
    "finish_reason": "VARCHAR", "error": "JSON", "text": "VARCHAR",
}  # fmt: skip


def generate(path: Path, requests: int, chunks: int, *, seed: int = 1) -> None:
    """Write a request capture like the HTTP collector's: a meta line, then one line per request."""
    from recorders.tracefile import Clock, TraceWriter

    rng = random.Random(seed)
    clock = Clock(mono=lambda: 0, wall_ns=T0_NS, mono_ns=0)
    config = {"url": "http://127.0.0.1:8000/v1", "model": "llama-3-8b", "concurrency": 64, "api_key": "sk-x"}
    with TraceWriter(
        path, recorder="http_stream", config=config, run="bench", host="client-1", clock=clock
    ) as w:
        for i in range(requests):
            t_send = T0_NS + i * 2_000_000
            first = rng.randint(40_000, 400_000)
            offsets = [first]
            for _ in range(chunks - 1):
                offsets.append(offsets[-1] + rng.randint(8_000, 40_000))
            failed = i % 500 == 499
            w.write(
                {
                    "type": "request",
                    "run": "bench",
                    "host": "client-1",
                    "worker": f"w{i % 16}",
                    "id": f"req-{i:07d}",
                    "response_id": f"chatcmpl-{rng.getrandbits(64):016x}",
                    "model": "llama-3-8b",
                    "api": "chat",
                    "scenario": "chat",
                    "prompt_id": f"p{i % 512:04d}",
                    "stage": f"s{i * 4 // requests + 1}",
                    "in_flight": 64,
                    "prompt_tokens": rng.randint(50, 2000),
                    "max_tokens": chunks,
                    "t_send": t_send,
                    "t_headers": t_send + first * 1000 - 5_000_000,
                    "t_first": t_send + first * 1000,
                    "t_end": t_send + offsets[-1] * 1000 + 200_000,
                    "chunks_us": [] if failed else offsets,
                    "output_tokens": 0 if failed else chunks,
                    "tokens_source": "usage",
                    "status": 500 if failed else 200,
                    "finish_reason": None if failed else "length",
                    "error": {"class": "server_5xx", "status": 500, "message": "boom"} if failed else None,
                    "text": "" if failed else f"Answer {i % 97}.",
                }
            )


def _measure(mode: str, path: str) -> dict[str, float]:
    """Run one load in this process; returns seconds, rows and peak RSS (MiB)."""
    import resource

    import duckdb
    import pandas  # noqa: F401 - imported by the analysis before any load; not the loader's cost

    from traceanalyzer.loader import cache, load_capture

    start = time.perf_counter()
    if mode in ("parse", "first", "first+write", "warm"):
        rows = load_capture([path], cache=mode != "parse").requests.num_rows
        if mode == "first+write":
            cache.wait()
    else:
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        if mode == "duckdb-auto":
            sql = f"SELECT * FROM read_json('{path}')"
        else:
            columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in _DUCKDB_COLUMNS.items()) + "}"
            sql = f"SELECT * FROM read_json('{path}', format='newline_delimited', columns={columns})"
        rows = con.sql(sql).to_arrow_table().num_rows - 1  # the meta line
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "rows": rows, "peak_rss_mib": peak_mib}


def _run(mode: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", mode, str(path)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


ROWS = [
    ("parse", "traceanalyzer (parse, no cache)"),
    ("first", "traceanalyzer (first load)"),
    ("first+write", "traceanalyzer (first load + cache written)"),
    ("warm", "traceanalyzer (warm, from cache)"),
    ("duckdb-auto", "duckdb read_json (auto-detect)"),
    ("duckdb-columns", "duckdb read_json (columns given)"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument(
        "--out",
        type=Path,
        help="directory of the capture; one generated there earlier is reused (default: a temp dir)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--measure", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(_measure(*args.measure)))
        return

    workdir = args.out or Path(tempfile.mkdtemp(prefix="load-speed-"))
    path = workdir / "requests.jsonl"
    try:
        if not path.exists():
            workdir.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            generate(path, args.requests, args.chunks)
            print(f"generated {path} in {time.perf_counter() - start:.1f} s")
        size_mb = path.stat().st_size / 1e6
        print(f"capture: {path} ({size_mb:,.0f} MB, one file; rows below are its requests)")
        print(f"{'':44} {'time_s':>8} {'MB/s':>7} {'peak_RSS_MiB':>13} {'rows':>9}")
        cache = workdir / ".traceanalyzer-cache"
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode, _ in ROWS}
        for _ in range(args.repeat):  # round-robin, so a busy moment does not land on one row only
            for mode, _ in ROWS:
                if mode.startswith("first"):
                    shutil.rmtree(cache, ignore_errors=True)
                runs[mode].append(_run(mode, path))
        for mode, label in ROWS:
            secs = statistics.median(r["seconds"] for r in runs[mode])
            rss = statistics.median(r["peak_rss_mib"] for r in runs[mode])
            rows = int(runs[mode][0]["rows"])
            print(f"{label:44} {secs:8.2f} {size_mb / secs:7.0f} {rss:13.0f} {rows:9,}")
    finally:
        if args.out is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
