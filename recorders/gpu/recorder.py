"""``record gpu``: sample every GPU (and optionally the host) on a drift-free schedule into a trace file.

The source is opened before the trace file is created, so a host without a driver gets one clear line
(:class:`SourceUnreachableError`, exit code 3) and no empty file. Each tick writes one ``gpu`` record per
GPU (nvidia-smi: per line that arrived since the previous tick) and, with ``host_metrics``, one ``host``
record stamped with the same ``t``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from recorders.gpu.faults import FaultLog
from recorders.gpu.records import HostSampler
from recorders.gpu.runtime import (
    RecordSummary,
    SamplingControl,
    Sink,
    check_timing,
    default_timeout_s,
    meta_config,
    run_sampling,
)
from recorders.tracefile import Clock, TraceWriter
from traceanalyzer.errors import UsageError

BACKENDS = ("nvml", "nvidia-smi", "dcgm", "none")
RECORDER = "traceanalyzer.record.gpu"


class GpuBackend(Protocol):
    """A source of ``gpu`` records. ``open`` raises SourceUnreachableError when the source is not there."""

    source: str

    async def open(self) -> None: ...

    async def sample(self, t: int, faults: FaultLog) -> list[dict[str, Any]]: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class GpuRecorderOptions:
    """Options of ``record gpu``.

    - ``backend``: ``nvml`` (default), ``nvidia-smi``, ``dcgm`` (needs ``url``) or ``none`` (host only).
    - ``interval_s``: sampling interval, seconds; ``duration_s``: run length (None: until SIGINT/SIGTERM).
    - ``timeout_s``: per-scrape timeout of the dcgm backend (default: the interval, within 1-10 s).
    - ``per_process``: NVML only, add each GPU's compute processes and their memory.
    - ``host``: the ``host`` field of every record (default: this machine's name); ``run``: the run id.
    """

    out: str | Path
    backend: str = "nvml"
    url: str | None = None
    interval_s: float = 1.0
    duration_s: float | None = None
    host_metrics: bool = False
    per_process: bool = False
    timeout_s: float | None = None
    host: str | None = None
    run: str | None = None

    def validate(self) -> None:
        if self.backend not in BACKENDS:
            raise UsageError(f"unknown backend {self.backend!r}; known: {', '.join(BACKENDS)}")
        if self.backend == "dcgm" and not self.url:
            raise UsageError(
                "--backend dcgm needs --url, the exporter's metrics URL (http://gpu-host:9400/metrics)"
            )
        if self.url and self.backend != "dcgm":
            raise UsageError("--url is for --backend dcgm only")
        if self.backend == "none" and not self.host_metrics:
            raise UsageError("--backend none records nothing without --host-metrics")
        if self.per_process and self.backend != "nvml":
            raise UsageError("--per-process needs --backend nvml")
        check_timing(self.interval_s, self.duration_s, self.timeout_s)


class _NoGpu:
    """The ``none`` backend: host records only (a client or load-generator host)."""

    source = "none"

    async def open(self) -> None:
        return None

    async def sample(self, t: int, faults: FaultLog) -> list[dict[str, Any]]:
        return []

    async def close(self) -> None:
        return None


def make_backend(options: GpuRecorderOptions, clock: Clock) -> GpuBackend:
    """The backend named by ``options`` (imports only what it needs)."""
    if options.backend == "nvml":
        from recorders.gpu.nvml import NvmlBackend

        return NvmlBackend(per_process=options.per_process)
    if options.backend == "nvidia-smi":
        from recorders.gpu.smi import NvidiaSmiBackend

        return NvidiaSmiBackend(interval_s=options.interval_s, clock=clock)
    if options.backend == "dcgm":
        from recorders.gpu.dcgm import DcgmBackend

        assert options.url is not None
        return DcgmBackend(options.url, timeout_s=options.timeout_s or default_timeout_s(options.interval_s))
    return _NoGpu()


async def record_gpu_async(
    options: GpuRecorderOptions,
    *,
    control: SamplingControl | None = None,
    backend: GpuBackend | None = None,
) -> RecordSummary:
    """Run the GPU/host sampler until the duration ends or ``control.stop`` is set (SIGINT/SIGTERM set it).

    ``control`` injects the clock and the wait, for exact, sleep-free tests of the schedule; ``backend``
    replaces the one ``options.backend`` names.
    """
    options.validate()
    control = control or SamplingControl()
    clock = control.clock or Clock()
    backend = backend or make_backend(options, clock)
    try:
        await backend.open()
        host_sampler = HostSampler() if options.host_metrics else None
        with TraceWriter(
            options.out,
            recorder=RECORDER,
            config=meta_config(options),
            run=options.run,
            host=options.host,
            clock=clock,
        ) as writer:
            sink = Sink(writer)

            async def tick(t: int) -> None:
                for rec in await backend.sample(t, sink.faults):
                    sink.write(rec)
                if host_sampler is not None:
                    sink.write(host_sampler.sample(t))

            summary = await run_sampling(
                sink, tick, interval_s=options.interval_s, duration_s=options.duration_s, control=control
            )
    finally:
        await backend.close()
    return summary


def record_gpu(options: GpuRecorderOptions) -> RecordSummary:
    """Blocking entry point of ``traceanalyzer record gpu``."""
    return asyncio.run(record_gpu_async(options))
