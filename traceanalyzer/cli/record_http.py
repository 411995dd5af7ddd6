"""``traceanalyzer record http``: the OpenAI-compatible streaming collector."""

from __future__ import annotations

import click

from traceanalyzer.cli._placeholder import not_built


@click.command(
    "http",
    epilog="""\b
Example:
  traceanalyzer record http --url http://127.0.0.1:8000/v1 --model m --concurrency 16 --requests 500 \\
      --out capture/requests.jsonl
""",
)
def record_http() -> None:
    """Drive an OpenAI-compatible endpoint with streaming requests and record every chunk's arrival."""
    raise not_built("record http", "HTTP streaming collector")
