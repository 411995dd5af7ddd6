"""``traceanalyzer export``: send a capture's requests to observability tools."""

from __future__ import annotations

import click


@click.group(
    "export",
    epilog="""\b
Example:
  traceanalyzer export otel captures/soak-01 --endpoint http://127.0.0.1:6006
""",
)
def export_group() -> None:
    """Export captures to other tools (OpenTelemetry backends, Langfuse)."""


@click.command(
    "otel",
    epilog="""\b
Examples:
  traceanalyzer export otel captures/soak-01 --endpoint http://127.0.0.1:6006            (Phoenix)
  traceanalyzer export otel captures/soak-01 --endpoint http://collector:4318           (OTel Collector)
  LANGFUSE_PUBLIC_KEY=pk-lf-... LANGFUSE_SECRET_KEY=sk-lf-... \\
    traceanalyzer export otel captures/soak-01 --langfuse --endpoint https://cloud.langfuse.com
  traceanalyzer export otel captures/soak-01 --out spans.json                           (OTLP JSON file)
""",
)
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--endpoint",
    default=None,
    help="OTLP/HTTP receiver: a base URL (/v1/traces, or /api/public/otel/v1/traces with --langfuse, is "
    "added) or the full traces URL.",
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="NAME:VALUE",
    help="Extra HTTP header (repeatable; never logged).",
)
@click.option(
    "--langfuse",
    is_flag=True,
    help="Add Langfuse's attributes (generation, completion start time, session, metadata) and Basic auth "
    "from LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY.",
)
@click.option("--text", is_flag=True, help="Send the output text too (left out by default).")
@click.option("--include-chunks", is_flag=True, help="One span event per text chunk (else only the first).")
@click.option("--batch", default=256, show_default=True, type=int, help="Spans per OTLP request.")
@click.option(
    "--timeout",
    "timeout_s",
    default=10.0,
    show_default=True,
    type=float,
    help="Seconds per batch, retries with backoff included.",
)
@click.option("--provider", default="openai", show_default=True, help="gen_ai.provider.name of every span.")
@click.option(
    "--service-name", default="traceanalyzer", show_default=True, help="The resource's service.name."
)
@click.option(
    "--out",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write OTLP JSON here (one ExportTraceServiceRequest per line) instead of sending.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def export_otel(
    paths: tuple[str, ...],
    endpoint: str | None,
    headers: tuple[str, ...],
    langfuse: bool,
    text: bool,
    include_chunks: bool,
    batch: int,
    timeout_s: float,
    provider: str,
    service_name: str,
    out: str | None,
    quiet: bool,
) -> int:
    """Export every request of a capture as an OpenTelemetry span (GenAI semantic conventions).

    One span per request with its recorded send and end times, ids derived from the run and the client
    request id (a re-export sends the same ids), an event at the first chunk, status ERROR for failures.
    Sent over OTLP/HTTP protobuf in batches with retries; exit 3 when the endpoint cannot be reached.
    See docs/observability.md.
    """
    from recorders.http_stream.config import parse_header
    from recorders.otel_export import ExportOptions, SpanOptions
    from recorders.otel_export import export_otel as run_export

    result = run_export(
        paths,
        ExportOptions(
            endpoint=endpoint,
            headers=tuple(parse_header(h) for h in headers),
            spans=SpanOptions(
                langfuse=langfuse,
                text=text,
                include_chunks=include_chunks,
                provider=provider,
                service_name=service_name,
            ),
            out=out,
            batch=batch,
            timeout_s=timeout_s,
            progress=not quiet,
        ),
    )
    where = result.out if result.out is not None else result.endpoint
    click.echo(f"{result.spans} spans: {result.sent} sent, {result.refused} refused -> {where}")
    for reason in result.refusals:
        click.echo(f"refused: {reason}", err=True)
    if result.partial_lines:
        click.echo(f"note: skipped {result.partial_lines} partial last line(s) in the capture", err=True)
    if result.stopped:
        click.echo("stopped by a signal: the spans above were exported, the rest were not", err=True)
        return 130
    return 1 if result.refused else 0


export_group.add_command(export_otel)
