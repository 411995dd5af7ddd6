"""The analysis' window grid (``WindowSeries``) as the pandas frames the causal and diagnosis rules read.

Column names are the ``WindowSeries`` field names (``ttft_p95_s``, ``gpu_util_pct``, ``queue_waiting``, ...),
``None`` becomes NaN, plus a few derived columns:

- ``end_s = start_s + length_s``; ``requests = ok + failed`` (requests that ended in the window);
- ``gpu_mem_pct``: the highest per-GPU ``100 * mem_used_mib / mem_total_mib`` in the window (the GPU
  closest to running out), NaN without GPU samples or totals;
- ``load``: the best load measure the capture has, in this order: time-weighted open requests
  (``concurrency_mean``), client in-flight at send, Locust users.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from traceanalyzer.model import WindowSeries

_SERIES = (
    "stage",
    "steady",
    "sent",
    "ok",
    "failed",
    "qps",
    "offered_qps",
    "tps",
    "ttft_p50_s",
    "ttft_p95_s",
    "ttft_p99_s",
    "tpot_p50_s",
    "tpot_p95_s",
    "e2e_p50_s",
    "e2e_p95_s",
    "e2e_p99_s",
    "in_flight_mean",
    "concurrency_mean",
    "users",
    "load_rps",
    "gpu_util_pct",
    "gpu_mem_used_mib",
    "cpu_pct",
    "host_mem_used_mib",
    "queue_waiting",
    "running",
    "kv_cache_pct",
)
_TEXT = {"stage"}
_FLAGS = {"steady"}


def _floats(values: Sequence[float | int | None], n: int) -> np.ndarray:
    if len(values) != n:
        return np.full(n, np.nan)
    return np.asarray([np.nan if v is None else float(v) for v in values], dtype=float)


def window_frame(series: WindowSeries) -> pd.DataFrame:
    """One row per window of ``series`` with the columns described in the module docstring."""
    n = len(series.start_s)
    frame = pd.DataFrame({"start_s": _floats(series.start_s, n)})
    length = _floats(series.length_s, n)
    frame["length_s"] = np.where(np.isfinite(length), length, series.window_s)
    frame["end_s"] = frame["start_s"] + frame["length_s"]
    for name in _SERIES:
        values = getattr(series, name)
        if name in _TEXT:
            frame[name] = list(values) if len(values) == n else [None] * n
        elif name in _FLAGS:
            frame[name] = [bool(v) for v in values] if len(values) == n else [True] * n
        else:
            frame[name] = _floats(values, n)
    frame["requests"] = frame["ok"].fillna(0) + frame["failed"].fillna(0)
    frame["gpu_mem_pct"] = _gpu_mem_pct(series, n)
    load = frame["concurrency_mean"].copy()
    for fallback in ("in_flight_mean", "users"):
        if load.isna().all():
            load = frame[fallback].copy()
    frame["load"] = load
    return frame


def _gpu_mem_pct(series: WindowSeries, n: int) -> np.ndarray:
    per_gpu = []
    for device in series.gpus:
        if not device.mem_total_mib:
            continue
        per_gpu.append(100.0 * _floats(device.mem_used_mib, n) / device.mem_total_mib)
    if not per_gpu:
        return np.full(n, np.nan)
    stacked = np.vstack(per_gpu)
    out = np.full(n, np.nan)
    seen = np.isfinite(stacked).any(axis=0)
    out[seen] = np.nanmax(stacked[:, seen], axis=0)
    return out


def error_counts(series: WindowSeries) -> pd.DataFrame:
    """Failures per window (rows) and error class (columns), zeros where none."""
    n = len(series.start_s)
    data = {cls: _floats(counts, n) for cls, counts in sorted(series.errors.items())}
    return pd.DataFrame(data, index=range(n)).fillna(0.0)
