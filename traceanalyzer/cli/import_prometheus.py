"""``traceanalyzer import prometheus``: GPU, engine and host metrics of a test window from Prometheus."""

from __future__ import annotations

import click

from traceanalyzer.cli.record_gpu import SECONDS


class Instant(click.ParamType):
    """A time: Unix seconds or RFC 3339 (``2026-12-06T15:00:00Z``)."""

    name = "time"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        from recorders.prometheus_import import parse_time
        from traceanalyzer.errors import UsageError

        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_time(str(value))
        except UsageError as exc:
            self.fail(str(exc), param, ctx)


@click.command(
    "prometheus",
    epilog="""\b
Examples:
  traceanalyzer import prometheus --url http://prometheus:9090 --capture capture/ --out capture/
  traceanalyzer import prometheus --url http://prometheus:9090 --start 2026-12-06T14:00:00Z \\
      --end 2026-12-06T16:00:00Z --step 5s --scrape-interval 5s --selector 'cluster="a"' --out capture/
  traceanalyzer import prometheus --url https://mimir/prometheus --bearer-token-env MIMIR_TOKEN \\
      --header 'X-Scope-OrgID: team-llm' --capture capture/ --out capture/
  traceanalyzer import prometheus responses/ --out capture/      (saved query_range responses)
""",
)
@click.argument("responses", nargs=-1, type=click.Path(exists=True))
@click.option("--url", help="Prometheus query API base URL (Prometheus, Thanos, Mimir, VictoriaMetrics).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--start", type=Instant(), help="Window start: Unix seconds or RFC 3339.")
@click.option("--end", type=Instant(), help="Window end: Unix seconds or RFC 3339.")
@click.option(
    "--capture",
    type=click.Path(exists=True, file_okay=False),
    help="Take the window from this capture's first and last request (plus --margin).",
)
@click.option("--margin", type=SECONDS, default=60.0, show_default=True, help="Margin around --capture.")
@click.option("--step", type=SECONDS, default=None, help="Query step [default: --scrape-interval].")
@click.option(
    "--scrape-interval",
    type=SECONDS,
    default=15.0,
    show_default=True,
    help="How often Prometheus scrapes the exporters; sets the rate window.",
)
@click.option("--selector", help='Label matchers added to every built-in query, e.g. cluster="a".')
@click.option(
    "--queries",
    "queries_file",
    type=click.Path(exists=True, dir_okay=False),
    help="TOML file of extra named PromQL queries ([queries] name = 'expr'), kept in server.metrics.",
)
@click.option("--header", "headers", multiple=True, metavar="K:V", help="HTTP header to send. Repeatable.")
@click.option("--bearer-token-env", metavar="VAR", help="Environment variable holding a bearer token.")
@click.option("--metrics-match", help="Keep only server.metrics keys matching this regular expression.")
@click.option("--timeout", type=SECONDS, default=60.0, show_default=True, help="Timeout of one request.")
@click.option(
    "--retries", type=click.IntRange(0, 20), default=4, show_default=True, help="Tries after a failure."
)
@click.option(
    "--save-responses",
    type=click.Path(file_okay=False),
    help="Also keep every query_range response in this directory (to import again from files).",
)
@click.option("--host", "host_name", help="Host of the meta lines and of series without an instance label.")
@click.option("--run", "run_id", help="Run id for the meta lines (default: generated).")
@click.option("--overwrite", is_flag=True, help="Replace gpu/server/host.jsonl files that exist in --out.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def import_prometheus(
    responses: tuple[str, ...],
    url: str | None,
    out_dir: str,
    start: float | None,
    end: float | None,
    capture: str | None,
    margin: float,
    step: float | None,
    scrape_interval: float,
    selector: str | None,
    queries_file: str | None,
    headers: tuple[str, ...],
    bearer_token_env: str | None,
    metrics_match: str | None,
    timeout: float,
    retries: int,
    save_responses: str | None,
    host_name: str | None,
    run_id: str | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Import GPU (DCGM exporter), engine (vLLM, SGLang, TGI) and host (node exporter) metrics of a test
    window from Prometheus, or from saved query_range responses, into gpu, server and host records.

    The mappings are those of `record gpu --backend dcgm` and `record server`. Long windows are split into
    several queries; failed requests are retried with backoff. See docs/prometheus.md.
    """
    from recorders.prometheus_import import PrometheusImportOptions
    from recorders.prometheus_import import import_prometheus as run

    result = run(
        PrometheusImportOptions(
            out=out_dir,
            url=url,
            responses=responses,
            start=start,
            end=end,
            capture=capture,
            margin_s=margin,
            step_s=step,
            scrape_interval_s=scrape_interval,
            selector=selector,
            queries_file=queries_file,
            headers=headers,
            bearer_token_env=bearer_token_env,
            metrics_match=metrics_match,
            timeout_s=timeout,
            attempts=retries + 1,
            save_responses=save_responses,
            overwrite=overwrite,
            host=host_name,
            run=run_id,
            progress=not quiet,
        )
    )
    for kind, path in result.files.items():
        click.echo(f"{path}: {result.records[kind]} {kind} records")
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(result.describe(), err=True)
