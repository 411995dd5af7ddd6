"""Constructed window grids for the causal and diagnosis unit tests (built through the real adapter), and
trace files written through the real writer."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recorders.tracefile import TraceWriter
from traceanalyzer.diagnosis.frame import error_counts, window_frame
from traceanalyzer.model import DeviceSeries, WindowSeries


def write_trace(path: Path, recorder: str, records: Sequence[dict[str, Any]], host: str) -> None:
    """Records written as ``recorder`` on ``host`` would write them, through the real trace writer."""
    writer = TraceWriter(path, recorder=recorder, host=host)
    try:
        for record in records:
            writer.write(record)
    finally:
        writer.close()


def _tuple(values: Sequence[float] | np.ndarray) -> tuple[float | None, ...]:
    return tuple(None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values)


def series(
    n: int,
    *,
    window_s: float = 10.0,
    errors: Mapping[str, Sequence[int]] | None = None,
    gpu_mem_used_mib: Sequence[float] | None = None,
    gpu_mem_total_mib: float | None = None,
    stage: Sequence[str | None] | None = None,
    steady: Sequence[bool] | None = None,
    **columns: Sequence[float] | np.ndarray,
) -> WindowSeries:
    """A ``WindowSeries`` of ``n`` windows; numeric columns given by name (``ok``, ``ttft_p95_s``, ...)."""
    fields: dict[str, object] = {
        "window_s": window_s,
        "start_s": tuple(i * window_s for i in range(n)),
        "length_s": (window_s,) * n,
        "stage": tuple(stage) if stage is not None else (None,) * n,
        "steady": tuple(steady) if steady is not None else (True,) * n,
        "errors": {k: tuple(int(x) for x in v) for k, v in (errors or {}).items()},
    }
    ints = {"sent", "ok", "failed"}
    for name, values in columns.items():
        fields[name] = tuple(int(v) for v in values) if name in ints else _tuple(values)
    if "failed" not in columns:
        total = np.zeros(n, dtype=int)
        for v in (errors or {}).values():
            total += np.asarray(v, dtype=int)
        fields["failed"] = tuple(int(x) for x in total)
    if gpu_mem_used_mib is not None:
        fields["gpu_mem_used_mib"] = _tuple(gpu_mem_used_mib)
        fields["gpus"] = (
            DeviceSeries(
                key="h/gpu0",
                host="h",
                gpu=0,
                util_pct=_tuple(columns.get("gpu_util_pct", [math.nan] * n)),
                mem_used_mib=_tuple(gpu_mem_used_mib),
                mem_total_mib=gpu_mem_total_mib,
            ),
        )
    return WindowSeries(**fields)  # type: ignore[arg-type]


def frames(n: int, **kwargs: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The window frame and the error-count frame of :func:`series`."""
    s = series(n, **kwargs)  # type: ignore[arg-type]
    return window_frame(s), error_counts(s)


def healthy(n: int, seed: int, *, window_s: float = 10.0, gpu: bool = True) -> dict[str, np.ndarray]:
    """Columns of a stationary healthy run: noise around constant levels, no queue, no errors."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {
        "ok": rng.poisson(100, n).astype(float),
        "sent": rng.poisson(100, n).astype(float),
        "ttft_p50_s": rng.normal(0.20, 0.01, n),
        "ttft_p95_s": rng.normal(0.30, 0.02, n),
        "tpot_p50_s": rng.normal(0.020, 0.001, n),
        "tpot_p95_s": rng.normal(0.025, 0.001, n),
        "e2e_p50_s": rng.normal(1.5, 0.05, n),
        "e2e_p95_s": rng.normal(2.0, 0.08, n),
        "concurrency_mean": rng.normal(16, 0.5, n),
        "offered_qps": rng.normal(10, 0.3, n),
        "qps": rng.normal(10, 0.3, n),
        "tps": rng.normal(640, 15, n),
        "queue_waiting": np.zeros(n),
        "kv_cache_pct": rng.normal(30, 2, n),
        "cpu_pct": rng.normal(35, 3, n),
    }
    if gpu:
        cols["gpu_util_pct"] = np.clip(rng.normal(80, 4, n), 0, 100)
        cols["gpu_mem_used_mib"] = rng.normal(60_000, 150, n)
    return cols
