"""``traceanalyzer analyze``: load a capture, analyze it, print the console summary and write summary@1."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from traceanalyzer.cli.language import language_option
from traceanalyzer.cli.options import CaptureSettings, analysis_options


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
    "--json", "json_out", metavar="FILE|-", help="Write the summary@1 JSON to FILE, or stdout with '-'."
)
@click.option("--fail-on-slo", is_flag=True, help="Exit with code 1 when an SLO fails.")
@click.option("--quiet", is_flag=True, help="No progress bar (none is shown with --json - either).")
@analysis_options
@language_option
def analyze(
    capture: tuple[str, ...],
    json_out: str | None,
    fail_on_slo: bool,
    quiet: bool,
    settings: CaptureSettings,
    lang: str = "en",
) -> int:
    """Analyze a capture (directories or files) and print the summary."""
    from traceanalyzer import progress
    from traceanalyzer.api import analyze as run_analysis
    from traceanalyzer.console import render

    with progress.shown(enabled=not quiet and json_out != "-"):
        result = run_analysis(settings.load(capture), settings.options_for(capture))
    if json_out == "-":
        sys.stdout.write(result.to_json())
    else:
        render(result, lang=lang)
        if json_out:
            Path(json_out).write_text(result.to_json(), encoding="utf-8")
    failed = any(s.passed is False for s in result.slo)
    return 1 if fail_on_slo and failed else 0
