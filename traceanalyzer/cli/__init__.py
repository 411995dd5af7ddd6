"""The ``traceanalyzer`` command line: one thin module per command, each calling one library function.

Errors a user can cause (:class:`traceanalyzer.errors.TraceAnalyzerError`) become one line on stderr and the
error's exit code (2 bad input or usage, 3 a recorder could not reach its source); tracebacks are for bugs.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from traceanalyzer.distribution import DISTRIBUTION
from traceanalyzer.errors import TraceAnalyzerError


class LazyGroup(click.Group):
    """A group whose subcommands are imported when one is used, so that ``record http`` on a capture host
    starts without loading the analyzer (pyarrow, DuckDB, the consistency stage)."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy
        """Command name -> ``"module:attribute"`` of the command."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, attribute = self.lazy[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    lazy={
        "record": "traceanalyzer.cli.record:record",
        "import": "traceanalyzer.cli.imports:import_group",
        "analyze": "traceanalyzer.cli.analyze:analyze",
        "report": "traceanalyzer.cli.report:report",
        "compare": "traceanalyzer.cli.compare:compare",
        "sim": "traceanalyzer.cli.sim:sim",
        "export": "traceanalyzer.cli.export:export_group",
    },
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog="""\b
Example, after a soak test:
  traceanalyzer analyze captures/soak-01 --json summary.json
  traceanalyzer report captures/soak-01 -o report.html -o report.pdf
""",
)
@click.version_option(package_name=DISTRIBUTION)
def cli() -> None:
    """Analyze recorded traces of LLM-serving load and soak tests.

    Record a capture (client timings, GPU, server metrics, Locust), then analyze it offline: latency layers,
    capacity, the causal error sequence, resource diagnosis and output consistency, as a console summary,
    JSON, HTML or PDF.
    """


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
