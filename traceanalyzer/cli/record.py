"""``traceanalyzer record``: the recorders (HTTP collector, GPU/host sampler, server-metrics scraper)."""

from __future__ import annotations

import click

from traceanalyzer.cli.record_gpu import record_gpu
from traceanalyzer.cli.record_http import record_http
from traceanalyzer.cli.record_server import record_server


@click.group(
    epilog="""\b
Example, one soak test on three hosts:
  traceanalyzer record http --url http://llm:8000/v1 --model m --concurrency 32 --duration 2h \\
      --out cap/requests.jsonl
  traceanalyzer record gpu --host-metrics --interval 1 --out cap/gpu.jsonl
  traceanalyzer record server --url http://llm:8000/metrics --out cap/server.jsonl
"""
)
def record() -> None:
    """Record a capture: client request timings, GPU and host samples, serving-engine metrics."""


record.add_command(record_http)
record.add_command(record_gpu)
record.add_command(record_server)
