"""``traceanalyzer import``: convert other tools' output into the trace schema."""

from __future__ import annotations

import click

from traceanalyzer.cli.import_langfuse import import_langfuse
from traceanalyzer.cli.import_peer import TOOLS, ImportGroup, make_command
from traceanalyzer.cli.import_prometheus import import_prometheus


@click.group(
    "import",
    cls=ImportGroup,
    epilog="""\b
Example:
  traceanalyzer import locust results/run1 --out capture/
  traceanalyzer import artifacts/aiperf-run --out capture/     (tool detected from the files)
""",
)
def import_group() -> None:
    """Import captures made by other tools (Locust, AIPerf, GuideLLM, inference-perf, EvalScope, llmperf,
    SGLang bench_serving, vLLM bench serve, GenAI-Perf) as traces.

    Name the tool, or give the paths alone and the tool is detected from the files.
    """


@click.command(
    "locust",
    epilog="""\b
Examples:
  traceanalyzer import locust results/run1 --out capture/             (the prefix given to locust --csv)
  traceanalyzer import locust results/ locust.log --timezone Europe/Berlin --out capture/
  traceanalyzer import locust results/run1_stats_history.csv results/run1_failures.csv --out capture/
""",
)
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory for the trace files."
)
@click.option(
    "--timezone",
    default="local",
    show_default=True,
    help="Zone of the Locust log's times (Locust logs local time): local, UTC, +05:30, Europe/Berlin.",
)
@click.option(
    "--pseudo-type",
    "pseudo_types",
    multiple=True,
    metavar="TYPE",
    help="A request type that carries measurements, not requests (METRIC and TTFT always are). Repeatable.",
)
@click.option("--host", default=None, help="Host written into the records [default: the Locust log's host].")
@click.option("--run", "run_id", default=None, help="Run id written into the records [default: a new one].")
@click.option("--overwrite", is_flag=True, help="Replace output files that exist.")
def import_locust(
    paths: tuple[str, ...],
    out_dir: str,
    timezone: str,
    pseudo_types: tuple[str, ...],
    host: str | None,
    run_id: str | None,
    overwrite: bool,
) -> None:
    """Convert Locust output into trace files: CSV prefixes, CSVs, directories, logs, request logs.

    _stats_history.csv becomes load records (and per-endpoint series with --csv-full-history), _failures.csv
    failure counts by error class, _stats.csv Locust's own totals, _exceptions.csv and the log events, and
    csv_request_logger files request records (no chunk timing). See docs/locust.md.
    """
    from recorders.locust_import import ImportOptions
    from recorders.locust_import import import_locust as run_import

    result = run_import(
        paths,
        out_dir,
        ImportOptions(
            timezone=timezone, pseudo_types=pseudo_types, host=host, run=run_id, overwrite=overwrite
        ),
    )
    for output in result.outputs:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(output.records.items())) or "no records"
        click.echo(f"{output.path}  <- {output.input} ({output.kind}): {counts}")
    if result.locust_requests is not None:
        click.echo(f"Locust totals: {result.locust_requests} requests, {result.locust_failures} failures")
    if result.logged_requests is not None:
        click.echo(f"request logs: {result.logged_requests} requests, {result.logged_failures} failures")
    if result.pseudo_rows:
        left_out = ", ".join(f"{k}: {v}" for k, v in sorted(result.pseudo_rows.items()))
        click.echo(f"pseudo request types, not counted as requests: {left_out}")
    for note in result.notes:
        click.echo(f"note: {note}", err=True)


import_group.add_command(import_locust)
import_group.add_command(import_prometheus)
import_group.add_command(import_langfuse)
for _tool in (None, *TOOLS):
    import_group.add_command(make_command(_tool))
