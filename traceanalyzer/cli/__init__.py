"""The ``traceanalyzer`` command line: one thin module per command, each calling one library function.

Errors a user can cause (:class:`traceanalyzer.errors.TraceAnalyzerError`) become one line on stderr and the
error's exit code (2 bad input or usage, 3 a recorder could not reach its source); tracebacks are for bugs.
"""

from __future__ import annotations

import sys

import click

from traceanalyzer.cli.analyze import analyze
from traceanalyzer.cli.compare import compare
from traceanalyzer.cli.imports import import_group
from traceanalyzer.cli.record import record
from traceanalyzer.cli.report import report
from traceanalyzer.cli.sim import sim
from traceanalyzer.errors import TraceAnalyzerError


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog="""\b
Example, after a soak test:
  traceanalyzer analyze captures/soak-01 --json summary.json
  traceanalyzer report captures/soak-01 -o report.html -o report.pdf
""",
)
@click.version_option(package_name="traceanalyzer")
def cli() -> None:
    """Analyze recorded traces of LLM-serving load and soak tests.

    Record a capture (client timings, GPU, server metrics, Locust), then analyze it offline: latency layers,
    capacity, the causal error sequence, resource diagnosis and output consistency, as a console summary,
    JSON, HTML or PDF.
    """


cli.add_command(record)
cli.add_command(import_group)
cli.add_command(analyze)
cli.add_command(report)
cli.add_command(compare)
cli.add_command(sim)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI, turn user errors into one line and an exit code."""
    try:
        rv = cli.main(args=argv, prog_name="traceanalyzer", standalone_mode=False)
    except TraceAnalyzerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code == 1 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)
