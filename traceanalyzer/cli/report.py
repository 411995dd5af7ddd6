"""``traceanalyzer report``: analyze a capture once and render it into every output asked for.

The format of each ``-o`` file follows from its extension (``.html``, ``.pdf``, ``.json``); ``--json`` writes
the summary@1 whatever its name. Output paths are checked before the analysis runs.

The loading and analysis options are those of ``analyze`` (:mod:`traceanalyzer.cli.options`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from traceanalyzer.cli.language import language_option
from traceanalyzer.cli.options import CaptureSettings, analysis_options

if TYPE_CHECKING:
    from traceanalyzer.api import Output


def echo_written(path: Path, seconds: float) -> None:
    click.echo(f"wrote {path} ({seconds:.1f} s)", err=True)


@click.command(
    epilog="""\b
Examples:
  traceanalyzer report captures/ramp-oom -o report.html -o report.pdf --json summary.json
  traceanalyzer report client.jsonl gpu.jsonl --clock-offset gpu-node=+12ms -o soak.pdf --title "Soak 01"
"""
)
@click.argument("capture", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    required=True,
    metavar="FILE",
    help="Write the report to FILE; the format follows the extension (.html, .pdf, .json). Repeatable.",
)
@click.option(
    "--json", "json_out", metavar="FILE|-", help="Also write the summary@1 JSON to FILE (or stdout)."
)
@click.option("--title", help="Report title (default: from the capture's model).")
@click.option("--fail-on-slo", is_flag=True, help="Exit with code 1 when an SLO fails.")
@click.option(
    "--trace-url",
    metavar="TEMPLATE",
    help="Link request ids to a tracing tool: a URL with {trace_id}, {client_id}, {response_id} or "
    "{session_id} in it.",
)
@click.option("--quiet", is_flag=True, help="No progress bar (none is shown with --json - either).")
@analysis_options
@language_option
def report(
    capture: tuple[str, ...],
    outputs: tuple[str, ...],
    json_out: str | None,
    title: str | None,
    fail_on_slo: bool,
    trace_url: str | None,
    quiet: bool,
    settings: CaptureSettings,
    lang: str = "en",
) -> int:
    """Analyze a capture and render the report; the format follows each output file's extension."""
    from reports import plan_outputs
    from traceanalyzer import progress
    from traceanalyzer.api import analyze, render

    if trace_url is not None:
        from reports.trace_links import check_template

        check_template(trace_url)
    files: list[Output] = [*outputs, *([("json", json_out)] if json_out and json_out != "-" else [])]
    plan_outputs(files)  # fail on a bad output before the analysis runs
    with progress.shown(enabled=not quiet and json_out != "-"):
        result = analyze(settings.load(capture), settings.options_for(capture))
        render(result, files, title=title, lang=lang, trace_url=trace_url, on_written=echo_written)
    if json_out == "-":
        sys.stdout.write(result.to_json())
    failed = any(s.passed is False for s in result.slo)
    return 1 if fail_on_slo and failed else 0
