"""Layer 2, capacity (DESIGN sections 4 and 5): QPS, TPS, goodput, load levels, knee, sustainable load.

- QPS (window) = successful requests completed in the window / window length; offered QPS = sent / length.
- QPS mean = successful requests / run duration; peak = highest windowed QPS (over windows at least half a
  window long, so a short last window cannot fake a peak); stable = median windowed QPS over steady-state
  windows.
- QPS fluctuation (``qps.cv``) = CV (population std / mean) of windowed QPS in steady state, computed per
  load stage and averaged over stages weighted by their steady windows (load changes between stages are not
  fluctuation).
- Cluster TPS = output tokens delivered / duration (mean) and the highest windowed cluster TPS (peak).
- Per-request TPS = output_tokens / E2E; decode speed = 1 / TPOT (tokens/s).
- Goodput (req/s) = successful requests meeting every per-request SLO (TTFT <= ``ttft_p95_s``, TPOT <=
  ``tpot_p95_s`` when it has a TPOT, E2E <= ``e2e_p95_s`` when set) / run duration; SLO attainment = their
  share of all requests. A successful request without a first text chunk has no TTFT and misses the TTFT SLO.
- Load levels: the load stages; else the Locust user counts (``load`` records, when two or more differ);
  else power-of-two bins of the windows' mean client in-flight count (when three or more bins occur). Each
  level's QPS is the median windowed QPS over its steady windows (all its windows when none is steady), its
  TPS the mean cluster TPS over the same windows, its latencies the p95 over successful requests sent in them.
- Saturation knee: levels ordered by load (users; else median in-flight, then offered QPS). A step from
  level ``a`` to the next level ``b`` is saturated when TPS rose by less than a quarter of the load's relative
  increase (less than 5 % when the load measure did not increase) while E2E p95 grew by more than 10 %. The
  knee is level ``a`` of the first saturated step: past it, TPS stops rising while latency grows.
- Maximum sustainable load = the highest level whose error rate is <= the error-rate SLO (0.1 %) and whose
  latency SLOs (TTFT p95, TPOT p95, E2E p95 when set) hold.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from traceanalyzer.metrics.context import StageContext
from traceanalyzer.metrics.latency import decode_speed, tps_per_request
from traceanalyzer.metrics.stats import cv, describe, optional, quantile_or_none
from traceanalyzer.model import (
    Analysis,
    CapacityResult,
    LevelKind,
    LoadLevel,
    LoadPoint,
    QpsStats,
    SloThresholds,
)

KNEE_TPS_EFFICIENCY = 0.25
"""A step is saturated when TPS gain / load gain falls below this."""
KNEE_TPS_GAIN_FLAT = 0.05
"""... or, when the load measure did not increase, when TPS rose by less than this share."""
KNEE_LATENCY_GROWTH = 0.10
"""... while E2E p95 grew by more than this share."""
MIN_IN_FLIGHT_BINS = 3


def good_requests(ctx: StageContext) -> np.ndarray:
    """Mask over ``ctx.requests``: successful and meeting every per-request SLO (module docstring)."""
    frame, slo = ctx.requests, ctx.options.slo
    good = frame["ok"].to_numpy(dtype=bool).copy()
    if slo.ttft_p95_s is not None:
        good &= np.nan_to_num(frame["ttft_s"].to_numpy(dtype=float), nan=np.inf) <= slo.ttft_p95_s
    if slo.tpot_p95_s is not None:
        good &= np.nan_to_num(frame["tpot_s"].to_numpy(dtype=float), nan=0.0) <= slo.tpot_p95_s
    if slo.e2e_p95_s is not None:
        good &= np.nan_to_num(frame["e2e_s"].to_numpy(dtype=float), nan=np.inf) <= slo.e2e_p95_s
    return good


def _full_windows(length: np.ndarray, window_s: float) -> np.ndarray:
    full = length >= 0.5 * window_s
    return full if full.any() else np.ones(length.size, dtype=bool)


def qps_fluctuation(qps: np.ndarray, steady: np.ndarray, stage: Sequence[str | None]) -> float | None:
    """CV of windowed QPS in steady state, per stage, weighted by the stage's steady windows."""
    labels = np.asarray([s if s is not None else "" for s in stage], dtype=object)
    total, weight = 0.0, 0
    for label in dict.fromkeys(labels[steady]):
        values = qps[steady & (labels == label)]
        value = cv(values) if values.size >= 2 else None
        if value is not None:
            total += value * values.size
            weight += values.size
    return total / weight if weight else None


def _level_latency(ok: pd.DataFrame, column: str) -> float | None:
    return quantile_or_none(ok[column].to_numpy(dtype=float), 0.95)


def _slo_held(level: dict[str, float | None], slo: SloThresholds) -> bool:
    checks = [
        (level["error_rate"], slo.error_rate),
        (level["ttft_p95_s"], slo.ttft_p95_s),
        (level["tpot_p95_s"], slo.tpot_p95_s),
        (level["e2e_p95_s"], slo.e2e_p95_s),
    ]
    return all(bound is None or value is None or value <= bound for value, bound in checks) and (
        level["error_rate"] is not None
    )


LEVEL_COLUMNS = ("w_send", "ok", "ttft_s", "tpot_s", "e2e_s", "in_flight", "stage")
"""The request columns a load level reads."""


def _level(
    ctx: StageContext,
    analysis: Analysis,
    name: str,
    kind: LevelKind,
    windows: np.ndarray,
    requests: pd.DataFrame,
) -> LoadLevel:
    series = analysis.timeseries
    steady = windows & ctx.steady
    use = steady if steady.any() else windows
    qps = np.asarray(series.qps)[use]
    tps = np.asarray(series.tps)[use]
    offered = np.asarray(series.offered_qps)[use]
    users = (
        np.asarray([np.nan if u is None else u for u in series.users], dtype=float)[use]
        if series.users
        else []
    )
    use_idx = np.flatnonzero(use)
    in_use = requests[requests["w_send"].isin(use_idx)]
    ok = in_use[in_use["ok"]]
    total, n_ok = len(requests), int(requests["ok"].sum())
    idx = np.flatnonzero(windows)
    start = float(series.start_s[idx[0]]) if idx.size else 0.0
    end = float(series.start_s[idx[-1]] + series.length_s[idx[-1]]) if idx.size else 0.0
    in_flight = requests["in_flight"].dropna()
    values: dict[str, float | None] = {
        "error_rate": (total - n_ok) / total if total else None,
        "ttft_p95_s": _level_latency(ok, "ttft_s"),
        "tpot_p95_s": _level_latency(ok, "tpot_s"),
        "e2e_p95_s": _level_latency(ok, "e2e_s"),
    }
    return LoadLevel(
        name=name,
        kind=kind,
        start_s=start,
        end_s=end,
        in_flight=round(float(in_flight.median())) if len(in_flight) else None,
        users=optional(np.nanmean(users)) if len(users) and np.isfinite(users).any() else None,
        requests=total,
        ok=n_ok,
        failed=total - n_ok,
        error_rate=values["error_rate"],
        offered_qps=optional(offered.mean()) if offered.size else None,
        qps=optional(np.median(qps)) if qps.size else None,
        tps=optional(tps.mean()) if tps.size else None,
        ttft_p95_s=values["ttft_p95_s"],
        tpot_p95_s=values["tpot_p95_s"],
        e2e_p95_s=values["e2e_p95_s"],
        slo_held=_slo_held(values, ctx.options.slo),
    )


def load_levels(ctx: StageContext, analysis: Analysis) -> tuple[LevelKind | None, list[LoadLevel]]:
    """The load levels of the run (module docstring), in order of load."""
    frame, n = ctx.requests[list(LEVEL_COLUMNS)], ctx.grid.n
    window_stage = np.asarray([s if s is not None else "" for s in ctx.window_stage], dtype=object)
    if len(ctx.stages) >= 1 and len(frame):
        levels = [
            _level(ctx, analysis, name, "stage", window_stage == name, frame[frame["stage"] == name])
            for name in ctx.stages
        ]
        levels.sort(key=lambda lv: (lv.in_flight or 0, lv.offered_qps or 0.0))
        return "stage", levels
    users = np.asarray([np.nan if u is None else round(u) for u in analysis.timeseries.users], dtype=float)
    if users.size == n and np.unique(users[np.isfinite(users)]).size >= 2:
        kinds: LevelKind = "users"
        keys, labels = users, {u: f"users={u:g}" for u in np.unique(users[np.isfinite(users)])}
    else:
        mean = np.asarray(
            [np.nan if v is None else v for v in analysis.timeseries.in_flight_mean], dtype=float
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            bins = np.where(np.isfinite(mean), 2.0 ** np.ceil(np.log2(np.maximum(mean, 1.0))), np.nan)
        present = np.unique(bins[np.isfinite(bins)])
        if present.size < MIN_IN_FLIGHT_BINS:
            return None, []
        kinds, keys, labels = "in_flight", bins, {b: f"in_flight<={b:g}" for b in present}
    levels = []
    for key, label in sorted(labels.items()):
        windows = keys == key
        requests = frame[frame["w_send"].isin(np.flatnonzero(windows))]
        levels.append(_level(ctx, analysis, label, kinds, windows, requests))
    return kinds, levels


def _point(level: LoadLevel) -> LoadPoint:
    return LoadPoint(
        stage=level.name,
        in_flight=level.in_flight,
        qps=level.qps,
        users=level.users,
        offered_qps=level.offered_qps,
    )


def _load(level: LoadLevel) -> float | None:
    if level.kind == "users":
        return level.users
    return float(level.in_flight) if level.in_flight else level.offered_qps


def saturation_knee(levels: Sequence[LoadLevel]) -> LoadLevel | None:
    """Level ``a`` of the first saturated step ``a -> b`` (module docstring); ``None`` without one."""
    for a, b in itertools.pairwise(levels):
        if not (a.tps and b.tps is not None and a.e2e_p95_s and b.e2e_p95_s is not None):
            continue
        tps_gain = b.tps / a.tps - 1
        latency_growth = b.e2e_p95_s / a.e2e_p95_s - 1
        load_a, load_b = _load(a), _load(b)
        if load_a and load_b is not None and load_b > load_a:
            flat = tps_gain < KNEE_TPS_EFFICIENCY * (load_b / load_a - 1)
        else:
            flat = tps_gain < KNEE_TPS_GAIN_FLAT
        if flat and latency_growth > KNEE_LATENCY_GROWTH:
            return a
    return None


def max_sustainable(levels: Sequence[LoadLevel]) -> LoadLevel | None:
    """The highest level (in load order) whose error rate and latency SLOs held."""
    held = [level for level in levels if level.slo_held]
    return held[-1] if held else None


def capacity_stage(ctx: StageContext, analysis: Analysis) -> Analysis:
    """QPS, TPS, goodput, load levels, knee and maximum sustainable load (module docstring)."""
    series, grid = analysis.timeseries, ctx.grid
    duration = max(grid.duration_s, 1e-9)
    qps = np.asarray(series.qps, dtype=float)
    tps = np.asarray(series.tps, dtype=float)
    full = _full_windows(grid.length_s, grid.window_s)
    steady_qps = qps[ctx.steady]
    frame, ok = ctx.requests, ctx.ok
    good = good_requests(ctx)
    kind, levels = load_levels(ctx, analysis)
    if not levels:
        ctx.note("capacity", "no knee or sustainable load: the load did not vary (no stages or user levels)")
    knee = saturation_knee(levels) if len(levels) >= 2 else None
    sustainable = max_sustainable(levels)
    # Cluster TPS counts tokens by chunk arrival: without any chunk time (a capture of non-streamed requests,
    # an import from a tool that keeps none) it is not measured, rather than 0 tokens/s.
    timed = tps.size > 0 and int(frame["n_chunks"].to_numpy().sum()) > 0
    if len(frame) and not timed:
        ctx.note("capacity", "not measured: cluster TPS, no request recorded chunk arrival times")
    result = CapacityResult(
        qps=QpsStats(
            mean=len(ok) / duration,
            peak=float(qps[full].max()) if qps.size else 0.0,
            stable=optional(np.median(steady_qps)) if steady_qps.size else None,
            cv=qps_fluctuation(qps, ctx.steady, series.stage or (None,) * grid.n),
        ),
        offered_qps_mean=len(frame) / duration,
        tps_cluster_mean=float((tps * grid.length_s).sum() / duration) if timed else None,
        tps_cluster_peak=float(tps[full].max()) if timed else None,
        tps_per_request=describe(tps_per_request(ok)),
        decode_speed=describe(decode_speed(ok)),
        goodput_rps=int(good.sum()) / duration,
        slo_attainment=float(good.mean()) if len(frame) else None,
        good_requests=int(good.sum()),
        levels=tuple(levels),
        level_kind=kind,
        knee=_point(knee) if knee else None,
        max_sustainable=_point(sustainable) if sustainable else None,
    )
    return dataclasses.replace(analysis, capacity=result)
