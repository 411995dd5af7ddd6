"""``traceanalyzer record server``: the serving engine's Prometheus metrics scraper."""

from __future__ import annotations

import click

from traceanalyzer.cli._placeholder import not_built


@click.command(
    "server",
    epilog="""\b
Example:
  traceanalyzer record server --url http://127.0.0.1:8000/metrics --interval 1 --out capture/server.jsonl
""",
)
def record_server() -> None:
    """Scrape the serving engine's /metrics (vLLM, SGLang, TGI) into server records."""
    raise not_built("record server", "serving-engine metrics scraper")
