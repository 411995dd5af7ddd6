"""``traceanalyzer record gpu``: the GPU and host sampler."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class Seconds(click.ParamType):
    """A duration: plain seconds (``0.5``) or with a unit (``500ms``, ``30s``, ``10m``, ``2h``)."""

    name = "seconds"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        match = _DURATION.match(str(value))
        if not match:
            self.fail(f"{value!r} is not a duration (e.g. 0.5, 500ms, 30s, 10m, 2h)", param, ctx)
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
        if seconds <= 0:
            self.fail(f"{value!r} must be positive", param, ctx)
        return seconds


SECONDS = Seconds()


def sampling_options(what: str, timeout_help: str) -> Callable[[F], F]:
    """The options ``record gpu`` and ``record server`` share, in this order: --interval, --duration,
    --timeout, --host, --run, --out. ``what`` names the action in the interval's help."""
    options = [
        click.option("--interval", type=SECONDS, default=1.0, show_default=True, help=f"{what} interval."),
        click.option(
            "--duration", type=SECONDS, default=None, help="Stop after this long (default: at Ctrl-C)."
        ),
        click.option("--timeout", type=SECONDS, default=None, help=timeout_help),
        click.option("--host", "host_name", help="Host name put in every record (default: this machine's)."),
        click.option("--run", "run_id", help="Run id for the meta line (default: generated)."),
        click.option(
            "--out", required=True, type=click.Path(dir_okay=False), help="Trace file (.jsonl[.gz])."
        ),
    ]

    def decorate(fn: F) -> F:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


@click.command(
    "gpu",
    epilog="""\b
Examples:
  traceanalyzer record gpu --interval 1 --host-metrics --out capture/gpu.jsonl
  traceanalyzer record gpu --backend nvidia-smi --interval 500ms --duration 2h --out capture/gpu.jsonl.gz
  traceanalyzer record gpu --backend dcgm --url http://gpu-host:9400/metrics --host gpu-host \\
      --out capture/gpu.jsonl
""",
)
@click.option(
    "--backend",
    type=click.Choice(["nvml", "nvidia-smi", "dcgm", "none"]),
    default="nvml",
    show_default=True,
    help="nvml: NVIDIA driver library; nvidia-smi: its CSV query loop; dcgm: a DCGM exporter's /metrics; "
    "none: host records only (needs --host-metrics).",
)
@click.option("--url", help="DCGM exporter metrics URL (--backend dcgm), e.g. http://gpu-host:9400/metrics.")
@click.option(
    "--host-metrics", is_flag=True, help="Also write host records (CPU %, memory, load) on the same ticks."
)
@click.option("--per-process", is_flag=True, help="NVML: add each GPU's processes and their GPU memory.")
@sampling_options("Sampling", "DCGM scrape timeout (default: the interval, 1-10 s).")
def record_gpu(
    backend: str,
    url: str | None,
    interval: float,
    duration: float | None,
    host_metrics: bool,
    per_process: bool,
    timeout: float | None,
    host_name: str | None,
    run_id: str | None,
    out: str,
) -> None:
    """Sample every GPU (NVML, nvidia-smi or a DCGM exporter) and optionally the host at a fixed interval.

    Samples follow a drift-free schedule (deadlines from the start). A GPU reading that fails mid-run is
    recorded as an event and sampling goes on; Ctrl-C or SIGTERM stops cleanly with everything flushed.
    """
    from recorders.gpu import GpuRecorderOptions
    from recorders.gpu import record_gpu as run

    summary = run(
        GpuRecorderOptions(
            out=out,
            backend=backend,
            url=url,
            interval_s=interval,
            duration_s=duration,
            host_metrics=host_metrics,
            per_process=per_process,
            timeout_s=timeout,
            host=host_name,
            run=run_id,
        )
    )
    click.echo(summary.describe(), err=True)
