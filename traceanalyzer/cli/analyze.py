"""``traceanalyzer analyze``: load a capture, analyze it, print the console summary and write summary@1."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from traceanalyzer.errors import UsageError
from traceanalyzer.model import AnalysisOptions, SloThresholds

_OFFSET = re.compile(r"^(?P<host>[^=]+)=(?P<value>[+-]?\d+(?:\.\d+)?)\s*(?P<unit>ns|us|µs|ms|s)?$")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, None: 1_000_000_000}


def parse_clock_offsets(specs: tuple[str, ...] | list[str]) -> dict[str, int]:
    """``HOST=+12ms`` options as host -> nanoseconds added to that host's times.

    Units: ns, us, ms, s (seconds when none is given).
    """
    offsets: dict[str, int] = {}
    for spec in specs:
        m = _OFFSET.match(spec.strip())
        if m is None:
            raise UsageError(
                f"--clock-offset {spec!r}: expected HOST=OFFSET with a unit, e.g. gpu-node-1=+12ms"
            )
        offsets[m["host"].strip()] = round(float(m["value"]) * _UNIT_NS[m["unit"]])
    return offsets


@click.command(
    epilog="""\b
Examples:
  traceanalyzer analyze captures/soak-01 --json summary.json
  traceanalyzer analyze client.jsonl gpu.jsonl --clock-offset gpu-node=+12ms --window 30
  traceanalyzer analyze captures/ramp --slo slo.toml --fail-on-slo --json -
"""
)
@click.argument("capture", nargs=-1, required=True)
@click.option(
    "--slo", "slo_file", type=click.Path(dir_okay=False), help="SLO thresholds (TOML, [slo] table)."
)
@click.option("--window", "window_s", type=float, default=10.0, show_default=True, help="Window length (s).")
@click.option(
    "--warmup",
    "warmup_s",
    type=float,
    default=10.0,
    show_default=True,
    help="Warmup left out of steady state (s).",
)
@click.option(
    "--cooldown", "cooldown_s", type=float, default=10.0, show_default=True, help="Cooldown left out (s)."
)
@click.option(
    "--soak/--no-soak", default=None, help="Judge as a soak (default: runs of 1 h or more without stages)."
)
@click.option("--lenient", is_flag=True, help="Skip and count bad lines instead of stopping at the first.")
@click.option(
    "--json", "json_out", metavar="FILE|-", help="Write the summary@1 JSON to FILE, or stdout with '-'."
)
@click.option(
    "--clock-offset",
    "clock_offsets",
    multiple=True,
    metavar="HOST=OFFSET",
    help="Add OFFSET (e.g. +12ms, -3.5s) to every time recorded on HOST. Repeatable.",
)
@click.option("--fail-on-slo", is_flag=True, help="Exit with code 1 when an SLO fails.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the cache of the parsed capture.")
@click.option(
    "--embedding-model", type=click.Path(), help="Local sentence-transformers model for consistency."
)
@click.option(
    "--similarity-threshold", type=float, default=0.8, show_default=True, help="Cosine for 'consistent'."
)
def analyze(
    capture: tuple[str, ...],
    slo_file: str | None,
    window_s: float,
    warmup_s: float,
    cooldown_s: float,
    soak: bool | None,
    lenient: bool,
    json_out: str | None,
    clock_offsets: tuple[str, ...],
    fail_on_slo: bool,
    no_cache: bool,
    embedding_model: str | None,
    similarity_threshold: float,
) -> int:
    """Analyze a capture (directories or files) and print the summary."""
    from traceanalyzer.analysis import analyze as run_analysis
    from traceanalyzer.consistency import default_cache_dir
    from traceanalyzer.console import render
    from traceanalyzer.loader import load_capture
    from traceanalyzer.slo import load_slo_file
    from traceanalyzer.summary import summary_json

    if window_s <= 0:
        raise UsageError("--window must be positive")
    offsets = parse_clock_offsets(clock_offsets)
    options = AnalysisOptions(
        window_s=window_s,
        warmup_s=warmup_s,
        cooldown_s=cooldown_s,
        soak=soak,
        embedding_model=embedding_model,
        similarity_threshold=similarity_threshold,
        embedding_cache_dir=None if no_cache else str(default_cache_dir(list(capture))),
        clock_offsets_ns=offsets,
        slo=load_slo_file(slo_file) if slo_file else SloThresholds(),
    )
    loaded = load_capture(list(capture), lenient=lenient, clock_offsets=offsets, cache=not no_cache)
    result = run_analysis(loaded, options)
    if json_out == "-":
        sys.stdout.write(summary_json(result))
    else:
        render(result)
        if json_out:
            Path(json_out).write_text(summary_json(result), encoding="utf-8")
    failed = any(s.passed is False for s in result.slo)
    return 1 if fail_on_slo and failed else 0
