"""Analyze at soak scale: a 24 h capture of N requests x K chunk offsets, against a DuckDB floor.

Generates (once; reruns reuse the files in ``--out``):

- ``requests.jsonl`` (``requests.jsonl.gz`` with ``--gzip``): N requests (``--requests``, default 1,000,000)
  spread over 24 h, each with K chunk offsets (``--chunks``, default 100; 1M x 100 is about 1.2 GB of JSONL);
  0.3 % fail as 5xx or timeouts before any chunk;
- ``gpu.jsonl``: a day of 1 Hz samples of one GPU, plus ``host.jsonl`` (1 Hz CPU).

Both are written by DuckDB ``COPY ... (FORMAT JSON)`` from generated columns: the requests in parts of
250,000, each appended (with ``--gzip``, as a gzip member at level 1) by a second thread while DuckDB writes
the next. About 45 s for 1M x 100; 8.64M x 500 with ``--gzip`` (about 18 GB) takes about 40 minutes.

Then, each in a fresh subprocess (so every figure is that run's own wall time and peak RSS):

1. ``analyze`` (``load_capture`` + ``analyze`` + summary) with no cache of the parsed capture: the first run,
   which also writes that cache;
2. the same again, reading the cache the first run wrote (the loader keeps it as Arrow IPC files);
3. the floor: a plain DuckDB script loading only the columns it needs and computing the headline numbers
   (TTFT and E2E percentiles, exact percentiles of every pooled chunk gap, per-minute QPS).

    python benchmarks/analyze_scale.py [--requests N] [--chunks K] [--gzip] [--out DIR] [--regen] [--repeat N]
                                       [--no-floor]

Targets (one machine, 2 cores): 3,000,000 x 100 with a first-analyze peak RSS <= 2.5 GB and time within 1.0x
of the floor; 1,000,000 x 100 within 1.3x of the floor; 1,000,000 x 500 at most 1.2x the peak RSS of
1,000,000 x 100 (memory follows requests, not chunk offsets). On a shared machine, use ``--repeat 3``:
rounds interleave the three runs and the medians are printed.
"""

from __future__ import annotations

import argparse
import gzip as gzip_module
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

T0 = 1_700_000_000_000_000_000
DAY_S = 86_400

REQUESTS_SQL = """
COPY (
    SELECT
        'request' AS type, 1 AS v, 'bench' AS run, 'client-1' AS host,
        'req-' || i AS id, 'resp-' || i AS response_id, 'bench-model' AS model, 'chat' AS api,
        CASE WHEN i % 3 = 0 THEN 'long' ELSE 'chat' END AS scenario, 'p' || (i % 1000) AS prompt_id,
        in_flight, 200 AS prompt_tokens, $chunks AS max_tokens,
        t_send, t_send + 50000000 AS t_headers,
        CASE WHEN failed THEN NULL ELSE t_send + ttft_us * 1000 END AS t_first,
        CASE WHEN failed THEN t_send + 300000000
             ELSE t_send + (ttft_us + ($chunks - 1) * 20000 + 9999) * 1000 END AS t_end,
        CASE WHEN failed THEN []::BIGINT[]
             ELSE list_transform(range($chunks), lambda j: ttft_us + j * 20000 + hash(i * 131 + j) % 10000)
        END AS chunks_us,
        CASE WHEN failed THEN NULL ELSE $chunks END AS output_tokens,
        'usage' AS tokens_source,
        CASE WHEN failed THEN NULL ELSE 'length' END AS finish_reason,
        CASE WHEN i % 500 = 7 THEN 500 WHEN failed THEN NULL ELSE 200 END AS status,
        CASE WHEN i % 500 = 7 THEN {'class': 'server_5xx', 'status': 500, 'message': 'internal error'}
             WHEN failed THEN {'class': 'timeout', 'status': NULL, 'message': 'ttft timeout'}
             ELSE NULL END AS error
    FROM (
        SELECT i,
               $t0 + (i * $spacing_ns)::BIGINT + hash(i) % 50000000 AS t_send,
               150000 + hash(i * 7) % 250000 AS ttft_us,
               (8 + hash(i * 13) % 17)::BIGINT AS in_flight,
               (i % 500 = 7 OR i % 1000 = 3) AS failed
        FROM range($start, $stop) t(i)
    )
) TO '{path}' (FORMAT JSON)
"""

GPU_SQL = """
COPY (
    SELECT 'gpu' AS type, 1 AS v, 'gpu-node' AS host, $t0 + s * 1000000000 AS t, 0 AS gpu, 'GPU-0' AS uuid,
           'H100' AS name, 55.0 + (hash(s) % 400) / 10.0 AS util_pct, 40.0 AS mem_util_pct,
           60000.0 + (hash(s * 3) % 2000) AS mem_used_mib, 81559.0 AS mem_total_mib, 400.0 AS power_w,
           60.0 AS temp_c, 1980.0 AS sm_clock_mhz, 'nvml' AS source
    FROM range($seconds) t(s)
) TO '{path}' (FORMAT JSON)
"""

HOST_SQL = """
COPY (
    SELECT 'host' AS type, 1 AS v, 'gpu-node' AS host, $t0 + s * 1000000000 AS t,
           20.0 + (hash(s) % 300) / 10.0 AS cpu_pct, 30000.0 AS mem_used_mib, 512000.0 AS mem_total_mib,
           4.0 AS load1
    FROM range($seconds) t(s)
) TO '{path}' (FORMAT JSON)
"""

FLOOR_SQL = {
    "load": """
        CREATE TABLE r AS
        SELECT t_send, t_first, chunks_us, error
        FROM read_json('{path}', format = 'newline_delimited',
                       columns = {{type: 'VARCHAR', t_send: 'BIGINT', t_first: 'BIGINT',
                                  chunks_us: 'BIGINT[]', error: 'JSON'}})
        WHERE type = 'request'
    """,
    "ttft_e2e": """
        SELECT quantile_cont((t_first - t_send) / 1e9, [0.5, 0.9, 0.95, 0.99, 0.999]),
               quantile_cont(chunks_us[len(chunks_us)] / 1e6, [0.5, 0.9, 0.95, 0.99, 0.999])
        FROM r WHERE error IS NULL
    """,
    "itl": """
        SELECT count(*), quantile_cont(gap / 1e6, [0.5, 0.9, 0.95, 0.99, 0.999])
        FROM (SELECT unnest(list_transform(range(1, len(chunks_us)),
                                           lambda i: chunks_us[i + 1] - chunks_us[i])) AS gap
              FROM r WHERE error IS NULL)
    """,
    "qps": """
        SELECT count(*) FROM (
            SELECT (t_send + chunks_us[len(chunks_us)] * 1000 - {t0}) // 60000000000 AS minute, count(*) AS n
            FROM r WHERE error IS NULL GROUP BY minute)
    """,
}


def generate(out: Path, n: int, chunks: int, gzip: bool = False) -> None:
    """Write requests.jsonl (.gz), gpu.jsonl and host.jsonl under ``out`` (skipped when they exist)."""
    out.mkdir(parents=True, exist_ok=True)
    spacing_ns = DAY_S * 1_000_000_000 // n
    requests_name = "requests.jsonl.gz" if gzip else "requests.jsonl"
    jobs = [
        (requests_name, REQUESTS_SQL, {"n": n, "chunks": chunks, "spacing_ns": spacing_ns}),
        ("gpu.jsonl", GPU_SQL, {"seconds": DAY_S}),
        ("host.jsonl", HOST_SQL, {"seconds": DAY_S}),
    ]
    for name, sql, params in jobs:
        final = out / name
        if final.exists():
            continue
        started = time.perf_counter()
        recorder = name.split(".")[0]
        meta = {
            "type": "meta",
            "v": 1,
            "recorder": "http_stream" if recorder == "requests" else recorder,
            "tool_version": "bench",
            "run": "bench",
            "host": "client-1" if recorder == "requests" else "gpu-node",
            "t": T0,
            "clock": {"wall_ns": T0, "mono_ns": 0},
            "config": {"generated_by": "benchmarks/analyze_scale.py"},
        }
        tmp = out / f".{name}.tmp"
        with open(tmp, "wb") as dst:
            head = (json.dumps(meta) + "\n").encode()
            dst.write(gzip_module.compress(head) if name.endswith(".gz") else head)  # gzip: one member each
            if "n" in params:  # the requests, in parts of PART_ROWS rows
                parts = [(a, min(a + PART_ROWS, params["n"])) for a in range(0, params["n"], PART_ROWS)]
            else:
                parts = [(0, 0)]
            _write_parts(out / f".{name}.part", sql, params, parts, dst, gzip=name.endswith(".gz"))
        tmp.rename(final)
        size = final.stat().st_size / 1e9
        print(f"generated {final} ({size:.2f} GB) in {time.perf_counter() - started:.1f} s", flush=True)


#: Requests per generated part: DuckDB writes one part while the previous one is compressed.
PART_ROWS = 250_000


def _write_parts(
    body: Path, sql: str, params: dict[str, int], parts: list[tuple[int, int]], dst: BinaryIO, *, gzip: bool
) -> None:
    """Append the JSONL of each part of the rows to ``dst``: DuckDB writes a part to a file, and a second
    thread appends it (as one gzip member at level 1 with ``gzip``) while DuckDB writes the next."""
    import duckdb

    def append(part: Path) -> None:
        with open(part, "rb") as src:
            packer = zlib.compressobj(1, zlib.DEFLATED, 31) if gzip else None  # 31: a gzip member
            while block := src.read(16 << 20):
                dst.write(packer.compress(block) if packer else block)  # zlib lets go of the GIL
            if packer:
                dst.write(packer.flush())
        part.unlink()

    with ThreadPoolExecutor(max_workers=1) as packer_thread:
        pending = None
        for k, (start, stop) in enumerate(parts):
            part = body.with_suffix(f".{k}")
            con = duckdb.connect()
            con.execute("SET enable_progress_bar = false")
            values = {"t0": T0, **params}
            if values.pop("n", None) is not None:
                values |= {"start": start, "stop": stop}
            con.execute(sql.replace("{path}", str(part)), values)
            con.close()
            if pending is not None:
                pending.result()
            pending = packer_thread.submit(append, part)
        if pending is not None:
            pending.result()


def _peak_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def child_analyze(out: Path, cache: bool) -> dict[str, float]:
    """One analyze run in this process: load, analyze, write the summary; wall time and peak RSS."""
    from traceanalyzer.analysis import analyze
    from traceanalyzer.loader import load_capture
    from traceanalyzer.summary import summary_json

    started = time.perf_counter()
    capture = load_capture(capture_files(out), cache=cache)
    loaded = time.perf_counter()
    result = analyze(capture)
    (out / "summary.json").write_text(summary_json(result), encoding="utf-8")
    done = time.perf_counter()
    return {
        "wall_s": done - started,
        "load_s": loaded - started,
        "analyze_s": done - loaded,
        "peak_rss": float(_peak_rss_bytes()),
        "requests": float(result.requests.total),
        "itl_gaps": float(result.latency.itl_s.count),
        "ttft_p50": result.latency.ttft_s.p50 or 0.0,
        "itl_p99": result.latency.itl_s.p99 or 0.0,
    }


def child_floor(out: Path) -> dict[str, float]:
    """The floor: plain DuckDB over only the needed columns (module docstring)."""
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    results = {}
    for name, sql in FLOOR_SQL.items():
        results[name] = con.execute(sql.format(path=capture_files(out)[0], t0=T0)).fetchall()
    wall = time.perf_counter() - started
    return {
        "wall_s": wall,
        "peak_rss": float(_peak_rss_bytes()),
        "itl_gaps": results["itl"][0][0],
        "ttft_p50": results["ttft_e2e"][0][0][0],
        "itl_p99": results["itl"][0][1][3],
    }


def run_child(mode: str, out: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--out", str(out)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.exit(f"{mode} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def clear_cache(out: Path) -> None:
    """Remove the loader's cache of parsed captures for the generated files."""
    from traceanalyzer.loader.cache import cache_root

    shutil.rmtree(cache_root(capture_files(out)), ignore_errors=True)


def capture_files(out: Path) -> list[Path]:
    requests = out / "requests.jsonl.gz"
    return [requests if requests.exists() else out / "requests.jsonl", out / "gpu.jsonl", out / "host.jsonl"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--chunks", type=int, default=100)
    default_out = Path(tempfile.gettempdir()) / "traceanalyzer-analyze-scale"
    parser.add_argument(
        "--out", type=Path, default=default_out, help="Where the capture is generated and kept."
    )
    parser.add_argument("--regen", action="store_true", help="Generate the capture again.")
    parser.add_argument("--gzip", action="store_true", help="Write the requests as requests.jsonl.gz.")
    parser.add_argument(
        "--repeat", type=int, default=1, help="Rounds of the three runs (medians are printed)."
    )
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="Skip the DuckDB floor (it holds the needed columns in memory: ~20 GB at 8.64M x 100).",
    )
    modes = ["analyze-cold", "analyze-cached", "floor"]
    parser.add_argument("--child", choices=modes, help=argparse.SUPPRESS)
    args = parser.parse_args()
    out: Path = args.out
    if args.child:
        if args.child == "floor":
            print(json.dumps(child_floor(out)))
        else:
            print(json.dumps(child_analyze(out, cache=True)))
        return
    if args.regen and out.exists():
        shutil.rmtree(out)
    tag = out / f".{args.requests}x{args.chunks}{'.gz' if args.gzip else ''}"
    if out.exists() and not tag.exists():
        shutil.rmtree(out)
    generate(out, args.requests, args.chunks, gzip=args.gzip)
    tag.touch()
    size = sum(p.stat().st_size for p in capture_files(out)) / 1e9
    kind = "gzip-compressed JSONL (requests)" if args.gzip else "JSONL"
    print(f"capture: {args.requests:,} requests x {args.chunks} chunks, {size:.2f} GB of {kind} in {out}")
    print(f"machine: {os.cpu_count()} CPUs (figures are indicative on a shared machine)", flush=True)

    rounds: list[dict[str, dict[str, float]]] = []
    for _ in range(args.repeat):
        clear_cache(out)
        cold = run_child("analyze-cold", out)
        cached = run_child("analyze-cached", out)
        floor = None if args.no_floor else run_child("floor", out)
        rounds.append({"cold": cold, "cached": cached} | ({"floor": floor} if floor else {}))
    report(rounds)


def report(rounds: list[dict[str, dict[str, float]]]) -> None:
    """Print the median wall time and the highest peak RSS of each kind of run, and the ratio to the floor."""

    def median(kind: str, key: str) -> float:
        return statistics.median(r[kind][key] for r in rounds)

    names = {
        "cold": "analyze, first run (parse + write cache)",
        "cached": "analyze, second run (cached capture)",
        "floor": "floor: plain DuckDB, needed columns only",
    }
    label = "median of " + str(len(rounds)) if len(rounds) > 1 else "one run"
    print(f"\n{'run (' + label + ')':<46} {'wall':>9} {'peak RSS':>10}")
    for kind, name in names.items():
        if kind not in rounds[0]:
            continue
        rss = max(r[kind]["peak_rss"] for r in rounds) / 2**30
        print(f"{name:<46} {median(kind, 'wall_s'):>8.1f}s {rss:>7.2f} GB")
    print(
        f"first analyze: load {median('cold', 'load_s'):.1f} s + analysis {median('cold', 'analyze_s'):.1f} s"
    )
    if "floor" not in rounds[0]:
        return
    ratios = [r["cold"]["wall_s"] / r["floor"]["wall_s"] for r in rounds]
    print(
        f"\nfirst analyze / floor: {statistics.median(ratios):.2f}x (per round: "
        + ", ".join(f"{x:.2f}x" for x in ratios)
        + "); targets: <= 1.0x at 3M x 100, <= 1.3x at 1M x 100; peak RSS <= 2.5 GB at 3M x 100"
    )
    cold, floor = rounds[-1]["cold"], rounds[-1]["floor"]
    print(
        f"cross-check: ITL gaps {cold['itl_gaps']:,.0f} vs {floor['itl_gaps']:,.0f}; "
        f"ITL p99 {cold['itl_p99']:.6f} s vs {floor['itl_p99']:.6f} s; "
        f"TTFT p50 {cold['ttft_p50']:.6f} s vs {floor['ttft_p50']:.6f} s"
    )


if __name__ == "__main__":
    main()
