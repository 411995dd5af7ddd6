"""Report rendering at soak scale: the 1,000,000-request, 24 h capture of ``analyze_scale.py``, rendered.

Reuses that benchmark's generator (and its files, when they are already there), then in one fresh process:

1. ``load_capture`` + ``analyze`` (the Parquet cache is used when present: the analysis is not what this
   benchmark measures);
2. each renderer on the same ``Analysis``: HTML (charts + template), PDF (WeasyPrint on that HTML) and the
   summary JSON, timed separately.

    .venv/bin/python benchmarks/report_speed.py [--requests 1000000] [--chunks 100] [--out DIR] [--keep DIR]

Target: HTML + PDF under 10 s beyond the analysis.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET_S = 10.0


def _analyze_scale() -> object:
    """The ``analyze_scale`` benchmark module (its generator and file list)."""
    spec = importlib.util.spec_from_file_location("analyze_scale", HERE / "analyze_scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def child(out: Path, keep: Path | None) -> dict[str, object]:
    """Analyze once, then time every renderer on the result (run in a fresh process)."""
    from reports import RenderOptions, get_renderer
    from traceanalyzer.analysis import analyze
    from traceanalyzer.loader import load_capture

    scale = _analyze_scale()
    started = time.perf_counter()
    capture = load_capture(scale.capture_files(out))  # type: ignore[attr-defined]
    loaded = time.perf_counter()
    analysis = analyze(capture)
    analyzed = time.perf_counter()
    del capture
    options = RenderOptions(title="Soak benchmark: 1,000,000 requests")
    figures: dict[str, object] = {
        "load_s": loaded - started,
        "analyze_s": analyzed - loaded,
        "requests": analysis.requests.total,
        "windows": len(analysis.timeseries.start_s),
    }
    for name in ("html", "pdf", "json"):
        t = time.perf_counter()
        data = get_renderer(name).render(analysis, options)  # the PDF reuses the HTML (options.memo)
        figures[f"{name}_s"] = time.perf_counter() - t
        figures[f"{name}_bytes"] = len(data)
        if keep is not None:
            (keep / f"report.{name}").write_bytes(data)
    html_fresh = time.perf_counter()
    get_renderer("html").render(analysis, RenderOptions())
    figures["html_fresh_s"] = time.perf_counter() - html_fresh
    return figures


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
    parser.add_argument(
        "--keep", type=Path, help="Also write report.html / .pdf / .json into this directory."
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.out, args.keep)))
        return

    scale = _analyze_scale()
    out: Path = args.out
    tag = out / f".{args.requests}x{args.chunks}"
    if out.exists() and not tag.exists():
        out = out.with_name(out.name + f"-{args.requests}x{args.chunks}")  # never touch another size's files
    scale.generate(out, args.requests, args.chunks)  # type: ignore[attr-defined]
    (out / f".{args.requests}x{args.chunks}").touch()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    print(f"capture: {args.requests:,} requests x {args.chunks} chunks in {out}")
    print(f"machine: {os.cpu_count()} CPUs (figures are indicative on a shared machine)", flush=True)

    cmd = [sys.executable, __file__, "--child", "--out", str(out)]
    if args.keep is not None:
        cmd += ["--keep", str(args.keep)]
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    res = json.loads(proc.stdout.strip().splitlines()[-1])

    rows = [
        ("load (parse or cache)", res["load_s"], ""),
        ("analyze", res["analyze_s"], ""),
        ("render HTML (charts + template)", res["html_s"], f"{res['html_bytes'] / 1e6:.2f} MB"),
        ("render PDF (WeasyPrint on the HTML)", res["pdf_s"], f"{res['pdf_bytes'] / 1e6:.2f} MB"),
        ("render summary JSON", res["json_s"], f"{res['json_bytes'] / 1e3:.1f} kB"),
    ]
    print(f"\n{'step':<40} {'wall':>8} {'output':>10}")
    for name, seconds, size in rows:
        print(f"{name:<40} {seconds:>7.2f}s {size:>10}")
    rendering = res["html_s"] + res["pdf_s"] + res["json_s"]
    print(
        f"\n{res['requests']:,} requests, {res['windows']:,} windows; rendering beyond the analysis: "
        f"{rendering:.1f} s (target < {TARGET_S:g} s); HTML again, warm: {res['html_fresh_s']:.1f} s"
    )


if __name__ == "__main__":
    main()
