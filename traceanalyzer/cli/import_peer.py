"""``traceanalyzer import [TOOL] PATH... --out DIR``: other benchmark tools' exports into trace files.

The ``import`` group takes a registered tool name as its first word (``import aiperf ...``) or, when the first
word is not a subcommand, detects the tool from the files (``import artifacts/run1 --out capture/``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from recorders.importers import SOURCES

#: Tools with an importer, in the order ``--help`` lists them.
TOOLS: tuple[str, ...] = tuple(SOURCES)
AUTO = "auto"


class ImportGroup(click.Group):
    """``import`` with subcommands per tool, plus auto-detection when the first word names none."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = [AUTO, *args]
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in super().list_commands(ctx) if name != AUTO]


def _options(fn: Any) -> Any:
    for option in reversed(
        [
            click.argument("paths", nargs=-1, required=True),
            click.option(
                "--out",
                "out_dir",
                required=True,
                type=click.Path(file_okay=False),
                help="Directory for the trace files.",
            ),
            click.option(
                "--run", "run_id", default=None, help="Run id written into the records [default: new]."
            ),
            click.option("--host", default=None, help="Host written into the records [default: this host]."),
            click.option(
                "--start",
                default=None,
                help="Epoch time (ISO 8601 or seconds) of the tool's first request, for tools that stamp "
                "requests on a process clock (inference-perf, EvalScope, vLLM bench serve) or none (llmperf, "
                "SGLang bench_serving) [default: from the file time].",
            ),
            click.option("--overwrite", is_flag=True, help="Replace output files that exist."),
            click.option("--quiet", is_flag=True, help="No progress display."),
        ]
    ):
        fn = option(fn)
    return fn


@contextlib.contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[int], None] | None]:
    """A transient records-read counter on stderr (nothing when piped or ``--quiet``)."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"))
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("reading the export", total=None)
        yield lambda n: bar.update(task, description=f"reading the export: {n:,} records")


def _run(
    tool: str | None,
    paths: tuple[str, ...],
    out_dir: str,
    run_id: str | None,
    host: str | None,
    start: str | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    from recorders.importers import import_export
    from recorders.importers.base import parse_start

    with _progress(quiet) as on_read:
        result = import_export(
            paths,
            out_dir,
            tool=tool,
            run=run_id,
            host=host,
            start_ns=parse_start(start) if start else None,
            overwrite=overwrite,
            on_read=on_read,
        )
    click.echo(
        f"{result.tool}: {len(result.inputs)} file(s) read: {', '.join(p.name for p in result.inputs)}"
    )
    for output in result.outputs:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(output.records.items())) or "no records"
        click.echo(f"{output.path}: {counts}")
    for note in result.notes:
        click.echo(f"note: {note}", err=True)


def make_command(tool: str | None) -> click.Command:
    """The ``import TOOL`` command (``tool=None``: the hidden auto-detecting one)."""
    name = tool or AUTO
    if tool:
        from recorders.importers import source

        label = f"{source(tool).TITLE}'s"
    else:
        label = "the detected tool's"

    def command(
        paths: tuple[str, ...],
        out_dir: str,
        run_id: str | None,
        host: str | None,
        start: str | None,
        overwrite: bool,
        quiet: bool,
    ) -> None:
        _run(tool, paths, out_dir, run_id, host, start, overwrite, quiet)

    command.__doc__ = (
        f"Convert {label} export into trace files, with its own summary kept for the parity table.\n\n"
        "Requests (times, chunk times where the tool has them, tokens, errors), GPU and server samples where "
        "the tool exported them, and the tool's summary numbers; see docs/imports.md."
    )
    epilog = (
        f"\b\nExample:\n  traceanalyzer import {tool} artifacts/run1 --out capture/\n"
        if tool
        else "\b\nExample:\n  traceanalyzer import artifacts/run1 --out capture/\n"
    )
    return click.command(name, epilog=epilog, hidden=tool is None)(_options(command))
