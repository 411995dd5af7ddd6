"""``traceanalyzer compare``: compare a candidate run against a baseline."""

from __future__ import annotations

import click

from traceanalyzer.cli._placeholder import not_built


@click.command(
    epilog="""\b
Example:
  traceanalyzer compare sample_traces/regression-baseline sample_traces/regression-candidate -o compare.html
"""
)
@click.argument("baseline")
@click.argument("candidate")
def compare(baseline: str, candidate: str) -> None:
    """Compare two captures: every headline metric with its delta, significance and regressions flagged."""
    raise not_built("compare", "run comparison")
