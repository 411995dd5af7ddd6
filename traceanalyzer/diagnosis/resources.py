"""Findings joining latency and resources on one grid: ``queueing``, ``cpu_bound``, ``gpu_saturated``."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from traceanalyzer.diagnosis.common import (
    DiagnosisOptions,
    Skipped,
    failing_mask,
    finding,
    fmt_s,
    has_data,
    median,
    slow_mask,
)
from traceanalyzer.diagnosis.stats import lagged_spearman, trend
from traceanalyzer.model import Finding, Severity, SloThresholds


def ttft_by_send_window(windows: pd.DataFrame, requests: pd.DataFrame, q: float = 0.95) -> np.ndarray:
    """Per window, the ``q`` quantile of TTFT of the successful requests *sent* in it (``send_s``,
    ``ttft_s``), NaN where none was: the TTFT that the queue at send time explains."""
    starts = windows["start_s"].to_numpy(dtype=float)
    frame = requests[["send_s", "ttft_s"]].dropna()
    idx = np.clip(np.searchsorted(starts, frame["send_s"].to_numpy(dtype=float), side="right") - 1, 0, None)
    by_window = frame["ttft_s"].groupby(idx).quantile(q)
    return by_window.reindex(range(len(windows))).to_numpy(dtype=float)


def queueing(
    windows: pd.DataFrame,
    slo: SloThresholds,
    options: DiagnosisOptions,
    requests: pd.DataFrame | None = None,
) -> tuple[list[Finding], list[Skipped]]:
    """``queueing``: TTFT tracks the serving engine's queue depth.

    With the successful requests (``send_s``, ``ttft_s``): Spearman rank correlation of each request's TTFT
    with the queue depth (``queue_waiting``, window mean) of the window it was sent in, the queue it found on
    arrival. Without them: Spearman correlation of per-window queue depth with TTFT p95 of the requests
    completed in the window, at the lag (``-max_lag..max_lag`` windows) where it is most positive,
    Bonferroni-corrected over lags. Called when at least 3 windows had ``queue_min_depth`` requests waiting,
    ``rho >= queue_min_rho`` and ``p < alpha``. The Theil-Sen slope of TTFT on queue depth gives the seconds
    each waiting request adds. Severity: ``warning`` when TTFT p95 (of requests sent in a window) broke its
    SLO while requests were waiting, else ``info``.
    """
    if not has_data(windows, "queue_waiting"):
        return [], [Skipped("queueing", "no serving-engine metrics (queue depth) in the capture")]
    queue = windows["queue_waiting"].to_numpy(dtype=float)
    if requests is not None and len(requests) >= options.min_windows:
        ttft = ttft_by_send_window(windows, requests)
        starts = windows["start_s"].to_numpy(dtype=float)
        send = requests["send_s"].to_numpy(dtype=float)
        at_send = queue[np.clip(np.searchsorted(starts, send, side="right") - 1, 0, len(starts) - 1)]
        x, y, method = at_send, requests["ttft_s"].to_numpy(dtype=float), "per request, queue at send"
        corr = lagged_spearman(x, y, max_lag=0, sign=1)
    else:
        ttft = windows["ttft_p95_s"].to_numpy(dtype=float)
        x, y, method = queue, ttft, "per window, lagged"
        corr = lagged_spearman(queue, ttft, max_lag=options.max_lag, sign=1)
    if np.isfinite(ttft).sum() < options.min_windows:
        return [], [Skipped("queueing", f"fewer than {options.min_windows} windows with TTFT")]
    queued = np.nan_to_num(queue) >= options.queue_min_depth
    if queued.sum() < 3:
        return [], []
    if corr is None or corr.rho < options.queue_min_rho or corr.p_value >= options.alpha:
        return [], []
    stride = max(1, len(x) // options.max_fit_points)
    per_request = trend(x[::stride], y[::stride])
    ttft_queued = np.nanmax(np.where(queued, ttft, np.nan)) if np.isfinite(ttft[queued]).any() else math.nan
    broke = slo.ttft_p95_s is not None and ttft_queued > slo.ttft_p95_s
    severity: Severity = "warning" if broke else "info"
    idx = np.flatnonzero(queued)
    start, end = float(windows["start_s"].iloc[idx[0]]), float(windows["end_s"].iloc[idx[-1]])
    window_s = float(windows["length_s"].median())
    added = f"; each waiting request added about {fmt_s(per_request.slope)}" if per_request else ""
    message = (
        f"TTFT tracked the engine's queue: with up to {np.nanmax(queue):.0f} requests waiting, TTFT p95 "
        f"reached {fmt_s(ttft_queued)} (Spearman rho {corr.rho:.2f}){added}."
    )
    evidence = {
        "method": method,
        "spearman_rho": corr.rho,
        "p_value": corr.p_value,
        "lag_windows": corr.lag,
        "lag_s": corr.lag * window_s,
        "pairs": corr.n,
        "queued_windows": int(queued.sum()),
        "queue_max": float(np.nanmax(queue)),
        "queue_median_when_queued": median(queue[queued]),
        "ttft_p95_max_when_queued_s": ttft_queued,
        "ttft_p95_median_unqueued_s": median(ttft[~queued]),
        "ttft_s_per_waiting_request": per_request.slope if per_request else None,
        "ttft_slo_s": slo.ttft_p95_s,
    }
    return [finding("queueing", severity, start, end, message, evidence, chart="queue_waiting")], []


def cpu_bound(
    windows: pd.DataFrame, slo: SloThresholds, options: DiagnosisOptions
) -> tuple[list[Finding], list[Skipped]]:
    """``cpu_bound``: latency high while the GPU is mostly idle.

    Slow windows break a latency SLO (TTFT p95, TPOT p95, E2E p95 where set); windows where at least
    ``failing_share`` of requests failed are left out (a failing server is not slow). Called when at least 3
    and at least ``min_slow_share`` of the windows with successful requests are slow and the median GPU
    utilization over the slow windows is below ``gpu_idle_pct``: the time goes somewhere before the GPU
    (tokenization, CPU, I/O, scheduling). Evidence adds the lagged Spearman correlation of TTFT p95 with GPU
    utilization and the host CPU in the slow windows. Severity ``warning``.
    """
    if not has_data(windows, "gpu_util_pct"):
        return [], [Skipped("cpu_bound", "no GPU samples in the capture")]
    slow, tested = slow_mask(windows, slo)
    if not tested:
        return [], [Skipped("cpu_bound", "no latency SLO to judge slowness by, or no latency data")]
    usable = (windows["ok"].fillna(0).to_numpy() > 0) & ~failing_mask(windows, options.failing_share)
    slow &= usable
    n_usable = int(usable.sum())
    if n_usable < options.min_windows or slow.sum() < max(3, options.min_slow_share * n_usable):
        return [], []
    util = windows["gpu_util_pct"].to_numpy(dtype=float)
    util_slow = median(util[slow])
    if util_slow is None or util_slow >= options.gpu_idle_pct:
        return [], []
    corr = lagged_spearman(util, windows["ttft_p95_s"].to_numpy(dtype=float), max_lag=options.max_lag, sign=0)
    cpu = median(windows["cpu_pct"].to_numpy(dtype=float)[slow]) if has_data(windows, "cpu_pct") else None
    idx = np.flatnonzero(slow)
    latency = {c: median(windows[c].to_numpy(dtype=float)[slow]) for c in tested}
    worst = max(tested, key=lambda c: (latency[c] or 0) / (_bound(slo, c) or 1))
    cpu_text = f"; host CPU was at {cpu:.0f} %" if cpu is not None else ""
    message = (
        f"Latency broke its SLO in {int(slow.sum())} of {n_usable} windows while the GPU was mostly idle "
        f"(median utilization {util_slow:.0f} %): the time goes before the GPU (tokenization, CPU, I/O or "
        f"scheduling){cpu_text}."
    )
    evidence = {
        "slow_windows": int(slow.sum()),
        "windows": n_usable,
        "gpu_util_median_slow_pct": util_slow,
        "gpu_util_median_other_pct": median(util[usable & ~slow]),
        "latency_median_slow_s": latency,
        "slo_s": {c: _bound(slo, c) for c in tested},
        "cpu_pct_median_slow": cpu,
        "queue_waiting_median_slow": median(windows["queue_waiting"].to_numpy(dtype=float)[slow])
        if has_data(windows, "queue_waiting")
        else None,
        "spearman_ttft_vs_gpu_util": None
        if corr is None
        else {"rho": corr.rho, "p_value": corr.p_value, "lag_windows": corr.lag},
        "gpu_idle_pct": options.gpu_idle_pct,
    }
    start, end = float(windows["start_s"].iloc[idx[0]]), float(windows["end_s"].iloc[idx[-1]])
    return [finding("cpu_bound", "warning", start, end, message, evidence, chart=worst)], []


def _bound(slo: SloThresholds, column: str) -> float | None:
    return {"ttft_p95_s": slo.ttft_p95_s, "tpot_p95_s": slo.tpot_p95_s, "e2e_p95_s": slo.e2e_p95_s}.get(
        column
    )


def load_levels(windows: pd.DataFrame, options: DiagnosisOptions) -> pd.DataFrame:
    """Load levels of the run, one row each, ordered by load.

    A level is a load stage (when at least two stages have windows), else a Locust user count (when it
    varies), else a power-of-two bin of the time-averaged open requests (when the load varies by at least
    ``load_step``). Per level, over its steady windows (all its windows when none is steady) that are not
    failing: median load, TPS, GPU utilization, TTFT p95, E2E p50, and the level's first and last instant.
    Empty when the load does not vary.
    """
    frame = windows[~failing_mask(windows, options.failing_share) & (windows["requests"] > 0)].copy()
    if frame.empty or not has_data(frame, "load"):
        return pd.DataFrame()
    if frame["stage"].notna().any() and frame["stage"].nunique() >= 2:
        frame["level"] = frame["stage"]
    elif has_data(frame, "users") and frame["users"].nunique() >= 2:
        frame["level"] = frame["users"].map(lambda u: f"users={u:g}" if math.isfinite(u) else None)
    else:
        load = frame["load"].to_numpy(dtype=float)
        finite = load[np.isfinite(load) & (load > 0)]
        if finite.size == 0 or finite.max() / finite.min() < options.load_step:
            return pd.DataFrame()
        bins = np.floor(np.log2(np.where(load > 0, load, np.nan)))
        frame["level"] = [None if not math.isfinite(b) else f"load~{2**b:g}" for b in bins]
    rows = []
    for name, group in frame.dropna(subset=["level"]).groupby("level", sort=False):
        steady = group[group["steady"]] if group["steady"].any() else group
        rows.append(
            {
                "level": name,
                "start_s": float(group["start_s"].min()),
                "end_s": float(group["end_s"].max()),
                "windows": len(steady),
                "load": median(steady["load"]),
                "tps": median(steady["tps"]),
                "gpu_util_pct": median(steady["gpu_util_pct"]) if "gpu_util_pct" in steady else None,
                "ttft_p95_s": median(steady["ttft_p95_s"]),
                "e2e_p50_s": median(steady["e2e_p50_s"]),
            }
        )
    levels = pd.DataFrame(rows).dropna(subset=["load", "tps"])
    return levels.sort_values("load").reset_index(drop=True) if not levels.empty else levels


def gpu_saturated(
    windows: pd.DataFrame, slo: SloThresholds, options: DiagnosisOptions
) -> tuple[list[Finding], list[Skipped]]:
    """``gpu_saturated``: the GPU busy and TPS flat while load grows (batching / parallelism limit).

    Over the load levels (:func:`load_levels`), the first step up in load (ratio at least ``load_step``) where
    TPS elasticity ``(tps2 / tps1 - 1) / (load2 / load1 - 1)`` is at most ``max_elasticity``, the busier
    level's median GPU utilization is at least ``gpu_busy_pct`` and latency (E2E p50 or TTFT p95) rose by at
    least 10 %. Severity: ``warning`` when TTFT p95 broke its SLO at that level, else ``info`` (a load test
    that pushes past capacity finds exactly this).
    """
    if not has_data(windows, "gpu_util_pct"):
        return [], [Skipped("gpu_saturated", "no GPU samples in the capture")]
    levels = load_levels(windows, options)
    if len(levels) < 2:
        return [], []
    for i in range(1, len(levels)):
        lo, hi = levels.iloc[i - 1], levels.iloc[i]
        if not (lo["load"] > 0 and lo["tps"] > 0) or hi["load"] / lo["load"] < options.load_step:
            continue
        elasticity = (hi["tps"] / lo["tps"] - 1) / (hi["load"] / lo["load"] - 1)
        util = hi["gpu_util_pct"]
        latency_up = any(
            (hi[c] or 0) >= 1.1 * (lo[c] or math.inf)
            for c in ("e2e_p50_s", "ttft_p95_s")
            if lo[c] is not None
        )
        if (
            elasticity > options.max_elasticity
            or util is None
            or util < options.gpu_busy_pct
            or not latency_up
        ):
            continue
        broke = slo.ttft_p95_s is not None and (hi["ttft_p95_s"] or 0) > slo.ttft_p95_s
        severity: Severity = "warning" if broke else "info"
        message = (
            f"Past {lo['load']:.0f} requests open ({lo['level']}), TPS stayed flat ({lo['tps']:.0f} -> "
            f"{hi['tps']:.0f} tokens/s for {100 * (hi['load'] / lo['load'] - 1):.0f} % more load) "
            f"with the GPU "
            f"{util:.0f} % busy while latency rose: the engine reached its batching or parallelism limit."
        )
        evidence = {
            "from_level": lo["level"],
            "to_level": hi["level"],
            "tps_elasticity": elasticity,
            "gpu_util_pct": util,
            "levels": levels.to_dict(orient="records"),
        }
        end = float(levels["end_s"].max())
        return [
            finding("gpu_saturated", severity, float(hi["start_s"]), end, message, evidence, chart="tps")
        ], []
    return [], []
