"""``traceanalyzer import``: convert other tools' output into the trace schema."""

from __future__ import annotations

import click

from traceanalyzer.cli._placeholder import not_built


@click.group(
    "import",
    epilog="""\b
Example:
  traceanalyzer import locust results/run1_stats_history.csv results/run1_failures.csv --out capture/
""",
)
def import_group() -> None:
    """Import captures made by other tools (Locust) into trace files."""


@click.command(
    "locust",
    epilog="""\b
Example:
  traceanalyzer import locust results/run1 --out capture/
""",
)
def import_locust() -> None:
    """Convert Locust CSVs, logs and request logs into trace files."""
    raise not_built("import locust", "Locust importer")


import_group.add_command(import_locust)
