"""``traceanalyzer report``: render the analysis as HTML and/or PDF."""

from __future__ import annotations

import click

from traceanalyzer.cli._placeholder import not_built


@click.command(
    epilog="""\b
Example:
  traceanalyzer report sample_traces/ramp-oom -o report.html -o report.pdf
"""
)
@click.argument("capture", nargs=-1, required=True)
def report(capture: tuple[str, ...]) -> None:
    """Render a report of a capture; the format follows each output file's extension."""
    raise not_built("report", "reports")
