"""``traceanalyzer sim``: the simulated OpenAI-compatible LLM server with a GPU model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


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
Examples:
  traceanalyzer sim serve --scenario steady --port 8000 --seed 1
  traceanalyzer sim serve --scenario queue-timeout --truth truth.jsonl --set engine.queue_timeout_s=3
  traceanalyzer sim serve --scenario my-scenario.toml --port 0      # port 0: any free port
"""
)
@click.option("--scenario", default="steady", show_default=True, help="Bundled scenario name or a TOML file.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="0: any free port."
)
@click.option("--seed", default=1, show_default=True, type=int, help="Seed of texts, faults and noise.")
@click.option(
    "--truth", type=click.Path(dir_okay=False, path_type=Path), help="Write the ground-truth JSONL here."
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="SECTION.KEY=VALUE",
    help="Override a scenario parameter (repeatable), e.g. engine.max_batch=8.",
)
@click.option("--model", help="Served model name (default: the scenario's).")
@click.option(
    "--loop",
    "event_loop",
    type=click.Choice(["auto", "uvloop", "asyncio"]),
    default="auto",
    show_default=True,
    help="Event loop (auto: uvloop when installed).",
)
@click.option(
    "--no-prefix-cache",
    is_flag=True,
    help="Turn the scenario's prefix cache off (engine.prefix_cache_tokens=0).",
)
@click.option("--show", is_flag=True, help="Print the resolved scenario as JSON and exit.")
def serve(
    scenario: str,
    host: str,
    port: int,
    seed: int,
    truth: Path | None,
    settings: tuple[str, ...],
    model: str | None,
    event_loop: str,
    no_prefix_cache: bool,
    show: bool,
) -> None:
    """Serve the simulated LLM (OpenAI API under /v1, /health, /metrics, /metrics/dcgm) until Ctrl-C.

    Prints one line when listening: "simserver listening on http://HOST:PORT/v1 ...".
    """
    from recorders.simserver.run import run
    from recorders.simserver.scenario import load_scenario, parse_set_option

    overrides = [parse_set_option(s) for s in settings]
    if model:
        overrides.append(("model.name", model))
    if no_prefix_cache:
        overrides.append(("engine.prefix_cache_tokens", 0))
    resolved = load_scenario(scenario, overrides)
    if show:
        click.echo(json.dumps(resolved.to_dict(), indent=2))
        return

    def ready(bound_port: int) -> None:
        click.echo(
            f"simserver listening on http://{host}:{bound_port}/v1 (scenario {resolved.name}, seed {seed}, "
            f"model {resolved.model.name})"
        )
        sys.stdout.flush()

    run(resolved, host=host, port=port, seed=seed, truth_path=truth, event_loop=event_loop, on_ready=ready)


@click.command(
    epilog="""\b
Example:
  traceanalyzer sim scenarios
  traceanalyzer sim serve --scenario queue-timeout --show
"""
)
def scenarios() -> None:
    """List the bundled scenarios, one line each."""
    from recorders.simserver.scenario import bundled_scenarios

    items = bundled_scenarios()
    width = max(map(len, items), default=0)
    for name, description in items.items():
        click.echo(f"{name:<{width}}  {description}")


sim.add_command(serve)
sim.add_command(scenarios)
