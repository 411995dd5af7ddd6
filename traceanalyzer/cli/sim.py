"""``traceanalyzer sim``: the simulated OpenAI-compatible LLM server with a GPU model."""

from __future__ import annotations

import click

from traceanalyzer.cli._placeholder import not_built


@click.group(
    epilog="""\b
Example:
  traceanalyzer sim serve --scenario ramp-oom --port 8000
"""
)
def sim() -> None:
    """A simulated LLM server (OpenAI API, DCGM and vLLM metrics) to test recorders against."""


@click.command(
    epilog="""\b
Example:
  traceanalyzer sim serve --scenario steady --port 8000 --seed 1
"""
)
def serve() -> None:
    """Serve the simulated LLM on 127.0.0.1."""
    raise not_built("sim serve", "simulated server")


sim.add_command(serve)
