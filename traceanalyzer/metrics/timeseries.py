"""Per-window request series on the analysis' window grid (layer 1-3 over time).

Window ``i`` covers ``[start_s[i], start_s[i] + length_s[i])`` seconds since the first ``t_send``; rates
divide by the window's real length (the last window may be shorter).

- sent = requests whose ``t_send`` falls in the window; offered QPS = sent / window length.
- ok = successful requests completed (last text chunk, else ``t_end``) in the window;
  QPS (window) = ok / window length.
- failed = failures whose ``t_end`` falls in the window (a failure's time is when the client saw it), per
  error class too; error rate (window) = failed / (ok + failed).
- Cluster TPS (window) = output tokens whose chunk arrived in the window / window length. A chunk arrives at
  ``t_send + chunks_us[j]`` and carries ``chunk_tokens[j]`` tokens (one when ``chunk_tokens`` is omitted);
  chunks of every request count, failed streams included (they were delivered). Computed in the one numpy
  pass over the chunk offsets (:mod:`traceanalyzer.metrics.chunks`).
- Latency percentiles (window) = p50 / p95 / p99 of TTFT, TPOT, E2E of the successful requests completed in
  the window.
- In-flight (window) = mean client in-flight count at send of the requests sent in the window.
- Concurrency (window) = time-weighted mean number of open requests: ``integral of N(t) dt / length`` with
  ``N(t)`` the requests with ``t_send <= t < t_end``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
import pandas as pd

from traceanalyzer.metrics.context import StageContext, WindowGrid
from traceanalyzer.model import Analysis, WindowSeries

LATENCY_SQL = """
SELECT w_done AS w,
       quantile_cont(ttft_s, [0.5, 0.95, 0.99]) FILTER (WHERE NOT isnan(ttft_s)) AS ttft,
       quantile_cont(tpot_s, [0.5, 0.95]) FILTER (WHERE NOT isnan(tpot_s)) AS tpot,
       quantile_cont(e2e_s, [0.5, 0.95, 0.99]) FILTER (WHERE NOT isnan(e2e_s)) AS e2e
FROM ok_requests
GROUP BY w_done
"""
"""Per-window latency percentiles (linear interpolation) of successful requests by completion window."""


def cluster_tokens(ctx: StageContext) -> npt.NDArray[np.float64]:
    """Output tokens per window by chunk arrival time (:mod:`traceanalyzer.metrics.chunks`)."""
    return ctx.chunks().tokens_per_window


def concurrency_mean(grid: WindowGrid, send_s: np.ndarray, end_s: np.ndarray) -> npt.NDArray[np.float64]:
    """Time-weighted mean number of open requests per window.

    ``F(x) = sum over t_send <= x of (x - t_send) - sum over t_end <= x of (x - t_end)`` is the integral of
    ``N(t)`` from the origin to ``x``; a window's mean is ``(F(b) - F(a)) / (b - a)``. Sorted times and prefix
    sums make it O(n log n).
    """
    keep = np.isfinite(send_s) & np.isfinite(end_s)
    s, e = np.sort(send_s[keep]), np.sort(np.maximum(end_s[keep], send_s[keep]))
    edges = np.append(grid.start_s, grid.start_s[-1] + grid.length_s[-1])

    def integral(times: np.ndarray) -> np.ndarray:
        prefix = np.concatenate([[0.0], np.cumsum(times)])
        k = np.searchsorted(times, edges, side="right")
        result: np.ndarray = k * edges - prefix[k]
        return result

    area = integral(s) - integral(e)
    return np.diff(area) / grid.length_s


def _bincount(index: np.ndarray, n: int) -> npt.NDArray[np.int64]:
    return np.bincount(index.astype(np.int64), minlength=n)[:n]


def _optional(values: np.ndarray) -> tuple[float | None, ...]:
    return tuple(None if not np.isfinite(v) else float(v) for v in values)


def _latency_columns(ctx: StageContext) -> dict[str, tuple[float | None, ...]]:
    n = ctx.grid.n
    names = {
        "ttft": ("ttft_p50_s", "ttft_p95_s", "ttft_p99_s"),
        "tpot": ("tpot_p50_s", "tpot_p95_s"),
        "e2e": ("e2e_p50_s", "e2e_p95_s", "e2e_p99_s"),
    }
    columns = {name: np.full(n, np.nan) for group in names.values() for name in group}
    ok = ctx.ok[["w_done", "ttft_s", "tpot_s", "e2e_s"]]
    if len(ok):
        con = ctx.duck()
        con.register("ok_requests", ok)
        try:
            rows = con.execute(LATENCY_SQL).fetchall()
        finally:
            con.unregister("ok_requests")
        for w, *per_metric in rows:
            for targets, values in zip(names.values(), per_metric, strict=True):
                for target, value in zip(targets, values or (), strict=False):
                    if value is not None:
                        columns[target][w] = value
    return {name: _optional(values) for name, values in columns.items()}


def requests_series_stage(ctx: StageContext, analysis: Analysis) -> Analysis:
    """The request part of ``Analysis.timeseries`` (module docstring); resources are joined later."""
    grid, frame = ctx.grid, ctx.requests
    n, length = grid.n, grid.length_s
    ok_mask = frame["ok"].to_numpy(dtype=bool)
    sent = _bincount(frame["w_send"].to_numpy(), n)
    ok = _bincount(frame["w_done"].to_numpy()[ok_mask], n)
    failures = frame[~ok_mask]
    failed = _bincount(failures["w_end"].to_numpy(), n)
    errors = {
        str(cls): tuple(int(v) for v in _bincount(group["w_end"].to_numpy(), n))
        for cls, group in failures.groupby("error_class", observed=True)
    }
    ended = ok + failed
    with np.errstate(invalid="ignore", divide="ignore"):
        error_rate = np.where(ended > 0, failed / np.maximum(ended, 1), np.nan)
    in_flight = pd.Series(frame["in_flight"].to_numpy(dtype=float)).groupby(frame["w_send"].to_numpy()).mean()
    series = WindowSeries(
        window_s=grid.window_s,
        start_s=tuple(float(v) for v in grid.start_s),
        length_s=tuple(float(v) for v in length),
        stage=ctx.window_stage,
        steady=tuple(bool(v) for v in ctx.steady),
        sent=tuple(int(v) for v in sent),
        ok=tuple(int(v) for v in ok),
        failed=tuple(int(v) for v in failed),
        errors=errors,
        error_rate=_optional(error_rate),
        qps=tuple(float(v) for v in ok / length),
        offered_qps=tuple(float(v) for v in sent / length),
        tps=tuple(float(v) for v in cluster_tokens(ctx) / length),
        in_flight_mean=_optional(in_flight.reindex(range(n)).to_numpy(dtype=float)),
        concurrency_mean=tuple(
            float(v) for v in concurrency_mean(grid, frame["send_s"].to_numpy(), frame["end_s"].to_numpy())
        ),
        **_latency_columns(ctx),  # type: ignore[arg-type]
    )
    return dataclasses.replace(analysis, timeseries=series)
