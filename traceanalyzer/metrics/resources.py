"""Resources during the run (layer 3), and their as-of join onto the request window grid.

Samples come from ``gpu``, ``host``, ``server`` and ``load`` records; the loader has already applied each
host's clock offset, so every sample is on the capture's clock.

Per window and per source (a GPU ``host/gpu<index>``, a host, a serving engine, a load generator), the value
is the mean of the source's samples inside the window. A window without a sample of that source takes the
source's last earlier sample (an as-of join, ``pandas.merge_asof`` by source) when it is at most two windows
or two sampling intervals old, whichever is longer; otherwise the window has no value. Sources are then
combined per window: GPU utilisation and CPU are means over GPUs / hosts, memory used and queue depth are
sums, KV-cache usage is the highest over engines.

Summary figures use the samples between the first ``t_send`` and the end of the run (every sample when none
falls inside):

- ``gpu_util_mean`` = mean of ``util_pct`` over every sample of every GPU (percent);
- ``gpu_mem_used_max_mib`` = highest ``mem_used_mib`` of any GPU;
- ``cpu_pct_mean`` = mean of ``cpu_pct`` over every sample of every host.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from traceanalyzer.metrics.context import NS, StageContext, WindowGrid
from traceanalyzer.metrics.stats import optional
from traceanalyzer.model import Analysis, DeviceSeries, GpuSummary, ResourceSummary

FloatArray = npt.NDArray[np.float64]


def samples_frame(
    table: pa.Table, t0_ns: int, key: Sequence[str], columns: Sequence[str], labels: Sequence[str] = ()
) -> pd.DataFrame:
    """Samples as pandas, sorted by time: ``t_ns`` / ``t_s`` (since the origin), ``key`` (the source: the
    ``key`` columns joined with ``/``), numeric ``columns`` (NaN when missing) and text ``labels``."""
    wanted = ["t", *dict.fromkeys(c for c in (*key, *labels, *columns) if c in table.column_names)]
    if table.num_rows == 0 or "t" not in table.column_names:
        return pd.DataFrame(columns=["t_ns", "t_s", "key", *key, *labels, *columns])
    frame = table.select(wanted).to_pandas()
    frame = frame[frame["t"].notna()]
    frame["t_ns"] = frame["t"].astype("int64") - t0_ns
    frame["t_s"] = frame["t_ns"] / NS
    parts = [
        frame[k].astype("string").fillna("") if k in frame else pd.Series("", index=frame.index) for k in key
    ]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + "/" + part
    frame["key"] = joined.astype(str)
    for col in columns:
        frame[col] = pd.to_numeric(frame[col], errors="coerce") if col in frame else np.nan
    for col in labels:
        if col not in frame:
            frame[col] = None
    return frame.drop(columns=["t"]).sort_values("t_ns", kind="stable").reset_index(drop=True)


def window_join(samples: pd.DataFrame, column: str, grid: WindowGrid) -> dict[str, FloatArray]:
    """Per source, the per-window value of ``column`` (module docstring): mean of the window's samples, else
    the as-of last earlier sample within the tolerance, else NaN."""
    result: dict[str, FloatArray] = {}
    data = samples[["t_ns", "t_s", "key", column]].dropna()
    if data.empty:
        return result
    end = grid.start_s + grid.length_s
    inside = data[(data["t_s"] >= 0) & (data["t_s"] < end[-1] + 1e-9)]
    means = inside.groupby([inside["key"], grid.index(inside["t_s"].to_numpy())])[column].mean()
    for key, group in data.groupby("key", sort=True):
        times = group["t_ns"].to_numpy(dtype=np.int64)
        interval = int(np.median(np.diff(times))) if len(times) > 1 else 0
        tolerance = max(2 * round(grid.window_s * NS), 2 * interval)
        left = pd.DataFrame({"t_ns": np.round(end * NS).astype(np.int64), "key": key})
        right = group[["t_ns", "key", column]]
        asof = pd.merge_asof(left, right, on="t_ns", by="key", direction="backward", tolerance=tolerance)
        values = np.array(asof[column], dtype=float)
        if key in means.index.get_level_values(0):
            per_window = means.loc[key]
            values[per_window.index.to_numpy(dtype=np.int64)] = per_window.to_numpy(dtype=float)
        result[str(key)] = values
    return result


def combine(per_source: dict[str, FloatArray], how: str, n: int) -> tuple[float | None, ...]:
    """Per window, the mean / sum / max over sources of the values that exist (``None`` when none does)."""
    if not per_source:
        return (None,) * n
    stacked = np.vstack(list(per_source.values()))
    present = np.isfinite(stacked)
    with np.errstate(all="ignore"):
        if how == "mean":
            values = np.where(present, stacked, 0.0).sum(axis=0) / np.maximum(present.sum(axis=0), 1)
        elif how == "sum":
            values = np.nansum(stacked, axis=0)
        else:
            values = np.nanmax(np.where(present, stacked, -np.inf), axis=0)
    values = np.where(present.any(axis=0), values, np.nan)
    return tuple(optional(v) for v in values)


def _in_run(samples: pd.DataFrame, grid: WindowGrid) -> pd.DataFrame:
    inside = samples[(samples["t_s"] >= 0) & (samples["t_s"] <= grid.duration_s)]
    return inside if len(inside) else samples


def _mean(frame: pd.DataFrame, column: str) -> float | None:
    return optional(frame[column].mean()) if len(frame) and frame[column].notna().any() else None


def _max(frame: pd.DataFrame, column: str) -> float | None:
    return optional(frame[column].max()) if len(frame) and frame[column].notna().any() else None


def gpu_summaries(gpu: pd.DataFrame) -> tuple[GpuSummary, ...]:
    out = []
    for key, group in gpu.groupby("key", sort=True):
        first = group.iloc[0]
        out.append(
            GpuSummary(
                key=str(key),
                host=None if pd.isna(first.get("host")) else str(first["host"]),
                gpu=None if pd.isna(first.get("gpu")) else int(first["gpu"]),
                name=None if pd.isna(first.get("name")) else str(first["name"]),
                samples=len(group),
                util_pct_mean=_mean(group, "util_pct"),
                mem_used_mib_max=_max(group, "mem_used_mib"),
                mem_total_mib=_max(group, "mem_total_mib"),
                power_w_mean=_mean(group, "power_w"),
                temp_c_max=_max(group, "temp_c"),
            )
        )
    return tuple(out)


def resources_stage(ctx: StageContext, analysis: Analysis) -> Analysis:
    """Resource summary and the resource columns of ``Analysis.timeseries`` (module docstring)."""
    capture, grid, n = ctx.capture, ctx.grid, ctx.grid.n
    gpu_cols = ("util_pct", "mem_used_mib", "mem_total_mib", "power_w", "temp_c")
    gpu = samples_frame(capture.gpu, grid.t0_ns, ("host", "gpu"), gpu_cols, labels=("host", "gpu", "name"))
    if len(gpu):
        gpu["key"] = gpu["key"].str.replace(r"/([^/]*)$", r"/gpu\1", regex=True)
    host = samples_frame(capture.host, grid.t0_ns, ("host",), ("cpu_pct", "mem_used_mib"))
    server = samples_frame(capture.server, grid.t0_ns, ("host",), ("waiting", "running", "kv_cache_pct"))
    load = samples_frame(capture.load, grid.t0_ns, ("host", "source"), ("users", "rps"))
    for frame, section, what in (
        (gpu, "resources.gpu", "gpu"),
        (host, "resources.host", "host"),
        (server, "resources.server", "server"),
    ):
        if frame.empty:
            ctx.note(section, f"not measured: the capture has no {what} records")

    gpu_util = window_join(gpu, "util_pct", grid) if len(gpu) else {}
    gpu_mem = window_join(gpu, "mem_used_mib", grid) if len(gpu) else {}
    totals = gpu.groupby("key")["mem_total_mib"].max() if len(gpu) else pd.Series(dtype=float)
    devices = tuple(
        DeviceSeries(
            key=key,
            host=key.rsplit("/gpu", 1)[0] or None,
            gpu=int(key.rsplit("/gpu", 1)[1]) if key.rsplit("/gpu", 1)[-1].isdigit() else None,
            util_pct=tuple(optional(v) for v in gpu_util.get(key, np.full(n, np.nan))),
            mem_used_mib=tuple(optional(v) for v in gpu_mem.get(key, np.full(n, np.nan))),
            mem_total_mib=optional(totals.get(key)),
        )
        for key in sorted(set(gpu_util) | set(gpu_mem))
    )
    series = dataclasses.replace(
        analysis.timeseries,
        gpu_util_pct=combine(gpu_util, "mean", n),
        gpu_mem_used_mib=combine(gpu_mem, "sum", n),
        cpu_pct=combine(window_join(host, "cpu_pct", grid), "mean", n),
        host_mem_used_mib=combine(window_join(host, "mem_used_mib", grid), "sum", n),
        queue_waiting=combine(window_join(server, "waiting", grid), "sum", n),
        running=combine(window_join(server, "running", grid), "sum", n),
        kv_cache_pct=combine(window_join(server, "kv_cache_pct", grid), "max", n),
        users=combine(window_join(load, "users", grid), "sum", n),
        load_rps=combine(window_join(load, "rps", grid), "sum", n),
        gpus=devices,
    )
    gpu_run, host_run, server_run = _in_run(gpu, grid), _in_run(host, grid), _in_run(server, grid)
    sources = (
        tuple(sorted({str(s) for s in capture.gpu.column("source").to_pylist() if s})) if len(gpu) else ()
    )
    summary = ResourceSummary(
        gpu_util_mean=_mean(gpu_run, "util_pct") if len(gpu) else None,
        gpu_mem_used_max_mib=_max(gpu_run, "mem_used_mib") if len(gpu) else None,
        cpu_pct_mean=_mean(host_run, "cpu_pct") if len(host) else None,
        host_mem_used_max_mib=_max(host_run, "mem_used_mib") if len(host) else None,
        queue_waiting_max=_max(server_run, "waiting") if len(server) else None,
        kv_cache_pct_max=_max(server_run, "kv_cache_pct") if len(server) else None,
        gpus=gpu_summaries(gpu_run) if len(gpu) else (),
        sources=sources,
    )
    return dataclasses.replace(analysis, timeseries=series, resources=summary)
