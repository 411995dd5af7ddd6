"""``traceanalyzer record server``: the serving engine's Prometheus metrics scraper."""

from __future__ import annotations

import click

from traceanalyzer.cli.record_gpu import sampling_options


@click.command(
    "server",
    epilog="""\b
Example:
  traceanalyzer record server --url http://127.0.0.1:8000/metrics --interval 1 --out capture/server.jsonl
""",
)
@click.option(
    "--url", required=True, help="The engine's Prometheus endpoint, e.g. http://llm-host:8000/metrics."
)
@click.option("--metrics-match", help="Keep only `metrics` keys matching this regular expression.")
@sampling_options("Scrape", "Scrape timeout (default: the interval, 1-10 s).")
def record_server(
    url: str,
    metrics_match: str | None,
    interval: float,
    duration: float | None,
    timeout: float | None,
    host_name: str | None,
    run_id: str | None,
    out: str,
) -> None:
    """Scrape the serving engine's /metrics (vLLM, SGLang, TGI) into server records.

    Queue depth, running requests, KV-cache use and preemptions are mapped to common fields; every other
    counter and gauge (histograms as _sum and _count) is kept under `metrics`. A failed scrape is recorded
    as an event and retried on the next tick.
    """
    from recorders.server_metrics import ServerRecorderOptions
    from recorders.server_metrics import record_server as run

    summary = run(
        ServerRecorderOptions(
            out=out,
            url=url,
            interval_s=interval,
            duration_s=duration,
            timeout_s=timeout,
            metrics_match=metrics_match,
            host=host_name,
            run=run_id,
        )
    )
    engine = summary.info.get("engine") or "unknown engine"
    click.echo(f"{summary.describe()} ({engine})", err=True)
