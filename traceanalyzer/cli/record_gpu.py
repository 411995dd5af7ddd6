"""``traceanalyzer record gpu``: the GPU and host sampler."""

from __future__ import annotations

import click

from traceanalyzer.cli._placeholder import not_built


@click.command(
    "gpu",
    epilog="""\b
Example:
  traceanalyzer record gpu --backend nvml --interval 1 --host-metrics --out capture/gpu.jsonl
""",
)
def record_gpu() -> None:
    """Sample every GPU (NVML, nvidia-smi or a DCGM exporter) and optionally the host at a fixed interval."""
    raise not_built("record gpu", "GPU and host sampler")
