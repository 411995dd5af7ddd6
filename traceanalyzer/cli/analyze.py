"""``traceanalyzer analyze``: compute the analysis and print / write the summary."""

from __future__ import annotations

import click

from traceanalyzer.cli._placeholder import not_built


@click.command(
    epilog="""\b
Example:
  traceanalyzer analyze sample_traces/ramp-oom --json summary.json
"""
)
@click.argument("capture", nargs=-1, required=True)
@click.option("--lenient", is_flag=True, help="Skip and count bad lines instead of stopping at the first.")
def analyze(capture: tuple[str, ...], lenient: bool) -> None:
    """Analyze a capture (directory or files) and print the summary."""
    raise not_built("analyze", "analyzer")
