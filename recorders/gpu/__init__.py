"""GPU and host sampler (``traceanalyzer record gpu``) and the sampling loop it shares with the
serving-engine scraper (:mod:`recorders.server_metrics`).

Modules: ``schedule`` (drift-free ticks), ``runtime`` (run loop, signals, summary), ``faults`` (fault ->
event), ``records`` (gpu/host records, psutil host sampler), ``nvml`` / ``smi`` / ``dcgm`` (backends),
``prometheus`` (aiohttp scrape + prometheus_client parse), ``testing`` (a stand-in ``pynvml`` for tests).
"""

from __future__ import annotations

from recorders.gpu.recorder import BACKENDS, GpuRecorderOptions, record_gpu, record_gpu_async
from recorders.gpu.runtime import RecordSummary, SamplingControl

__all__ = [
    "BACKENDS",
    "GpuRecorderOptions",
    "RecordSummary",
    "SamplingControl",
    "record_gpu",
    "record_gpu_async",
]
