"""``traceanalyzer import langfuse``: production generations from Langfuse as a capture."""

from __future__ import annotations

import click


@click.command(
    "langfuse",
    epilog="""\b
Examples:
  LANGFUSE_PUBLIC_KEY=pk-lf-... LANGFUSE_SECRET_KEY=sk-lf-... \\
    traceanalyzer import langfuse --url https://cloud.langfuse.com \\
      --from 2026-03-01T00:00:00Z --to 2026-03-02T00:00:00Z --out capture/
  traceanalyzer import langfuse exports/observations.jsonl.gz --out capture/     (export files)
""",
)
@click.argument("files", nargs=-1)
@click.option(
    "--url", default=None, help="Langfuse base URL (Cloud or self-hosted), read with the public API."
)
@click.option("--from", "from_time", default=None, metavar="T", help="Start time, RFC 3339 or Unix seconds.")
@click.option(
    "--to", "to_time", default=None, metavar="T", help="End time (exclusive), RFC 3339 or Unix seconds."
)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory for langfuse.jsonl."
)
@click.option("--name", default=None, help="Only generations with this name.")
@click.option("--model", default=None, help="Only generations of this model.")
@click.option("--environment", default=None, help="Only generations of this Langfuse environment.")
@click.option("--run", "run_id", default=None, help="Run id written into the records [default: a new one].")
@click.option("--page-size", default=100, show_default=True, type=int, help="Generations per API page.")
@click.option("--overwrite", is_flag=True, help="Replace langfuse.jsonl if it exists.")
@click.option("--quiet", is_flag=True, help="No progress counter.")
def import_langfuse(
    files: tuple[str, ...],
    url: str | None,
    from_time: str | None,
    to_time: str | None,
    out_dir: str,
    name: str | None,
    model: str | None,
    environment: str | None,
    run_id: str | None,
    page_size: int,
    overwrite: bool,
    quiet: bool,
) -> int:
    """Import generations from Langfuse (public API or export files) as request records.

    Reads the observations API v2 (cursor pages; v1 page numbers when the server has no v2) with Basic auth
    from LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY, or export files (API JSON/JSONL, blob-storage JSONL/CSV).
    Start, completion start and end times become t_send, t_first and t_end; usage gives the token counts;
    level ERROR an error class. See docs/observability.md.
    """
    from recorders.langfuse_import import ImportOptions
    from recorders.langfuse_import import import_langfuse as run_import

    result = run_import(
        ImportOptions(
            out_dir=out_dir,
            url=url,
            from_time=from_time,
            to_time=to_time,
            files=files,
            name=name,
            model=model,
            environment=environment,
            run=run_id,
            overwrite=overwrite,
            page_size=page_size,
            progress=not quiet,
        )
    )
    source = f"API {result.api}, {result.pages} pages" if result.api in ("v1", "v2") else "export files"
    click.echo(f"{result.path}: {result.requests} requests ({result.errors} failed) from Langfuse ({source})")
    for reason, n in sorted(result.skipped.items()):
        click.echo(f"left out: {n} {reason}", err=True)
    if result.waits_s:
        click.echo(f"waited {result.waits_s:.1f} s for rate limits and retries", err=True)
    if result.stopped:
        click.echo("stopped by a signal: the generations above were imported, the rest were not", err=True)
        return 130
    return 0
