"""Findings about how things change over the run: ``memory_leak`` and ``latency_shift``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from traceanalyzer.diagnosis.common import (
    DiagnosisOptions,
    MemorySeries,
    Skipped,
    finding,
    fmt_s,
    has_data,
    median,
)
from traceanalyzer.diagnosis.stats import ChangePoint, change_points, level_change, trend
from traceanalyzer.i18n import N_
from traceanalyzer.model import Finding, Severity


def _reduce(t: np.ndarray, v: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points: medians of equal-count bins (keeps Theil-Sen at O(max_points^2))."""
    keep = np.isfinite(t) & np.isfinite(v)
    t, v = t[keep], v[keep]
    if t.size <= max_points:
        return t, v
    return _bin_medians(t, max_points), _bin_medians(v, max_points)


def _bin_medians(x: np.ndarray, bins: int) -> np.ndarray:
    """Medians of ``x`` cut into ``bins`` consecutive bins as ``np.array_split`` cuts it (the first
    ``size % bins`` bins one longer), computed per row of two reshaped blocks."""
    size, extra = divmod(x.size, bins)
    cut = extra * (size + 1)
    longer = np.median(x[:cut].reshape(extra, size + 1), axis=1)
    shorter = np.median(x[cut:].reshape(bins - extra, size), axis=1)
    return np.concatenate([longer, shorter])


def _load_adjusted(
    t: np.ndarray, used: np.ndarray, load_t: np.ndarray, load: np.ndarray, alpha: float
) -> tuple[np.ndarray, float | None]:
    """Memory minus the part a linear fit on load explains, when load itself trends; else ``used`` unchanged.

    Returns the series to test and the fitted MiB per unit of load (``None`` when no adjustment was made).
    """
    if load.size < 4 or not np.isfinite(load).any():
        return used, None
    at = np.interp(t, load_t[np.isfinite(load)], load[np.isfinite(load)])
    load_trend = trend(t, at)
    if load_trend is None or load_trend.p_value >= alpha or np.ptp(at) == 0:
        return used, None
    design = np.column_stack([np.ones_like(at), at])
    coef, *_ = np.linalg.lstsq(design, used, rcond=None)
    return used - coef[1] * at, float(coef[1])


def memory_leak(
    memories: Sequence[MemorySeries], windows: pd.DataFrame, options: DiagnosisOptions
) -> tuple[list[Finding], list[Skipped]]:
    """``memory_leak``: a memory series climbing steadily, with its projected time to exhaustion.

    For each GPU and host memory series (window means): Theil-Sen slope (MiB/s) with its 95 % interval,
    and the Mann-Kendall test (Kendall's tau of value vs time). When load itself trends (Mann-Kendall on the
    load at the same instants, ``p < alpha``), the test runs on memory minus a least-squares fit on load, so
    memory that only follows load (KV cache filling as concurrency rises) is not a leak. A climb is
    significant when ``p < alpha``, ``tau > 0`` and the slope's interval lies above zero. A significant climb
    is a leak when any of these holds (the rate and consequence decide, not only how long the soak ran):

    - the fitted rise over the run is at least ``leak_min_rise_pct`` % of total memory (of the starting level
      when the total is unknown);
    - the projected time to exhaustion is within ``leak_exhaustion_within_s`` after the run;
    - the slope would consume at least ``leak_min_daily_pct`` % of total memory (of the starting level) per
      24 hours.

    The two projections count only for a steady climb: the fitted rise over the run is at least
    ``leak_min_rise_noise`` times the robust spread (1.4826 x MAD) of the series around its Theil-Sen line, so
    that a sawtooth (a cache that fills and empties) cut at some phase is not projected into a leak.
    Time to exhaustion = (total - level at the end) / slope. Severity: ``critical`` when that is within
    ``leak_critical_s``, else ``warning``.
    """
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    if not memories:
        return [], [Skipped("memory_leak", "no GPU or host memory samples in the capture")]
    load_t = ((windows["start_s"] + windows["end_s"]) / 2).to_numpy(dtype=float)
    load = windows["load"].to_numpy(dtype=float) if "load" in windows else np.array([])
    for mem in memories:
        t, used = _reduce(np.asarray(mem.t_s, float), np.asarray(mem.used_mib, float), options.max_fit_points)
        if t.size < options.min_windows:
            skipped.append(Skipped("memory_leak", f"{mem.name}: fewer than {options.min_windows} windows"))
            continue
        tested, per_load = _load_adjusted(t, used, load_t, load, options.alpha)
        fit = trend(t, tested)
        if fit is None or not fit.rising(options.alpha):
            continue
        span = float(t[-1] - t[0])
        rise = fit.slope * span
        reference = mem.total_mib if mem.total_mib else float(np.median(used[: max(1, used.size // 10)]))
        rise_pct = 100.0 * rise / reference if reference else math.inf
        daily_pct = 100.0 * fit.slope * 86_400.0 / reference if reference else math.inf
        end_level = float(np.median(used[-max(1, used.size // 10) :]))
        to_exhaustion = (mem.total_mib - end_level) / fit.slope if mem.total_mib else None
        residuals = tested - (fit.intercept + fit.slope * t)
        spread = 1.4826 * float(np.median(np.abs(residuals - np.median(residuals))))
        steady = rise >= options.leak_min_rise_noise * spread
        criteria = [
            name
            for name, met in (
                ("rise", rise_pct >= options.leak_min_rise_pct),
                (
                    "time_to_exhaustion",
                    steady
                    and to_exhaustion is not None
                    and to_exhaustion <= options.leak_exhaustion_within_s,
                ),
                ("daily_rate", steady and daily_pct >= options.leak_min_daily_pct),
            )
            if met
        ]
        if not criteria:
            continue
        severity: Severity = (
            "critical"
            if to_exhaustion is not None and to_exhaustion <= options.leak_critical_s
            else "warning"
        )
        when = (
            f"; at this rate it runs out {fmt_s(to_exhaustion)} after the run"
            if to_exhaustion is not None
            else ""
        )
        of = "total" if mem.total_mib else "its starting level"
        message = (
            f"{mem.name} memory climbed steadily by {fit.slope * 60:.1f} MiB/min "
            f"({rise_pct:.1f} % of {of} over the run, {daily_pct:.1f} % per 24 h){when}."
        )
        findings.append(
            finding(
                "memory_leak",
                severity,
                float(t[0]),
                float(t[-1]),
                message,
                {
                    "series": mem.name,
                    "slope_mib_per_s": fit.slope,
                    "slope_low_mib_per_s": fit.slope_low,
                    "slope_high_mib_per_s": fit.slope_high,
                    "mann_kendall_tau": fit.tau,
                    "p_value": fit.p_value,
                    "points": fit.n,
                    "start_mib": float(np.median(used[: max(1, used.size // 10)])),
                    "end_mib": end_level,
                    "total_mib": mem.total_mib,
                    "rise_pct": rise_pct,
                    "daily_pct": daily_pct,
                    "rise_over_spread": rise / spread if spread > 0 else None,
                    "criteria": criteria,
                    "time_to_exhaustion_s": to_exhaustion,
                    "load_adjusted": per_load is not None,
                    "mib_per_unit_load": per_load,
                },
                chart="gpu_mem_used_mib" if mem.name.startswith("GPU") else "host_mem_used_mib",
            )
        )
    return findings, skipped


LATENCY_SERIES: tuple[tuple[str, str], ...] = (
    ("ttft_p50_s", N_("TTFT p50")),
    ("tpot_p50_s", N_("TPOT p50")),
    ("e2e_p50_s", N_("E2E p50")),
)
RESOURCE_SERIES: tuple[tuple[str, str], ...] = (
    ("offered_qps", N_("offered QPS")),
    ("users", N_("Locust users")),
    ("load", N_("requests open")),
    ("tps", N_("cluster TPS")),
    ("gpu_util_pct", N_("GPU utilization")),
    ("gpu_mem_pct", N_("GPU memory")),
    ("kv_cache_pct", N_("KV cache")),
    ("queue_waiting", N_("queue depth")),
    ("cpu_pct", N_("host CPU")),
)
OFFERED_LOAD = frozenset({"offered_qps", "users"})
"""What the load generator changes. Requests open are not among them: they follow latency in an open loop
(Little's law), as offered QPS falls with latency in a closed loop; a stage change is load too."""


def _significant(cp: ChangePoint, options: DiagnosisOptions) -> bool:
    before, after = math.exp(cp.before), math.exp(cp.after)
    return (
        abs(after / before - 1) >= options.shift_min_change and abs(after - before) >= options.shift_min_abs_s
    )


def latency_shift(windows: pd.DataFrame, options: DiagnosisOptions) -> tuple[list[Finding], list[Skipped]]:
    """``latency_shift``: a change point in window-median latency, and which resources moved with it.

    Method: binary segmentation with a permutation test (:func:`traceanalyzer.diagnosis.stats.change_points`)
    on the log of each window-median latency (TTFT p50, TPOT p50, E2E p50; log so that a shift is relative)
    over the steady-state windows (warm-up and cool-down transients are not shifts).
    A change point is reported when the median moves by at least ``shift_min_change`` (relative) and
    ``shift_min_abs_s``; change points of several latencies within two windows are one finding, named after
    the latency that moved most. Alongside,
    each resource's steady windows before and after (up to ``compare_windows`` a side, not crossing another
    change point) are compared with a Mann-Whitney U test; a resource moved when ``p < alpha`` and its median
    changed by at least ``moved_min_change``. Severity: ``warning`` when latency rose without a rise in
    offered load (a regression), ``info`` when offered load rose with it or latency fell.
    """
    per_metric: list[tuple[int, str, str, ChangePoint, list[int]]] = []
    steady = windows["steady"].to_numpy(dtype=bool)
    if not steady.any():
        steady = np.ones(len(windows), dtype=bool)
    tested = 0
    for column, label in LATENCY_SERIES:
        if column not in windows:
            continue
        values = np.where(steady, windows[column].to_numpy(dtype=float), np.nan)
        if np.isfinite(values).sum() < 2 * options.min_windows:
            continue
        tested += 1
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(values > 0, np.log(values), np.nan)
        cps = change_points(logs, alpha=options.alpha)
        bounds = sorted(cp.index for cp in cps)
        per_metric += [(cp.index, column, label, cp, bounds) for cp in cps if _significant(cp, options)]
    if not tested:
        reason = f"fewer than {2 * options.min_windows} steady windows with latency"
        return [], [Skipped("latency_shift", reason)]
    per_metric.sort(key=lambda item: item[0])
    groups: list[list[tuple[int, str, str, ChangePoint, list[int]]]] = []
    for item in per_metric:
        if groups and item[0] - groups[-1][0][0] <= 2:
            groups[-1].append(item)
        else:
            groups.append([item])
    return [_shift_finding(windows, group, options) for group in groups], []


def _load_direction(
    before: pd.DataFrame, after: pd.DataFrame, moved: dict[str, dict[str, float | None]]
) -> str | None:
    """``up`` / ``down`` when the offered load changed at the change point, else ``None``.

    Offered load changed when offered QPS or Locust users moved, or the load stage changed (then the
    direction is that of the requests open).
    """
    for column in OFFERED_LOAD:
        if column in moved:
            return "up" if (moved[column]["after"] or 0) > (moved[column]["before"] or 0) else "down"
    stages_before = before["stage"].dropna()
    stages_after = after["stage"].dropna()
    if len(stages_before) and len(stages_after) and stages_before.mode()[0] != stages_after.mode()[0]:
        open_before, open_after = median(before["load"]), median(after["load"])
        if open_before is not None and open_after is not None and open_after != open_before:
            return "up" if open_after > open_before else "down"
    return None


def _shift_finding(
    windows: pd.DataFrame,
    group: list[tuple[int, str, str, ChangePoint, list[int]]],
    options: DiagnosisOptions,
) -> Finding:
    index, _, _, _, bounds = group[0]
    earlier = [b for b in bounds if b < index]
    later = [b for b in bounds if b > index]
    lo = max([0, index - options.compare_windows, *earlier])
    hi = min([index + options.compare_windows, *later, len(windows)])
    before, after = windows.iloc[lo:index], windows.iloc[index:hi]
    if windows["steady"].any():
        before, after = before[before["steady"]], after[after["steady"]]
    latencies = {
        column: {"before_s": math.exp(cp.before), "after_s": math.exp(cp.after), "p_value": cp.p_value}
        for _, column, _, cp, _ in group
    }
    moved: dict[str, dict[str, float | None]] = {}
    for column, _ in RESOURCE_SERIES:
        if not has_data(windows, column):
            continue
        change = level_change(before[column].to_numpy(), after[column].to_numpy())
        if change is None or change.p_value >= options.alpha:
            continue
        if abs(change.relative_change) < options.moved_min_change:
            continue
        moved[column] = {"before": change.before, "after": change.after, "p_value": change.p_value}
    _, lead_column, lead_label, lead_cp, _ = max(group, key=lambda item: abs(item[3].after - item[3].before))
    b, a = math.exp(lead_cp.before), math.exp(lead_cp.after)
    rose = a > b
    direction = _load_direction(before, after, moved)
    severity: Severity = "warning" if rose and direction != "up" else "info"
    t = float(windows["start_s"].iloc[index])
    others = [name for column, name in RESOURCE_SERIES if column in moved and column not in OFFERED_LOAD]
    alongside = f"; with it moved: {', '.join(others)}" if others else "; no resource moved with it"
    if direction == ("up" if rose else "down"):
        cause = " as load " + ("rose" if rose else "fell")
    else:
        cause = " with no rise in offered load" if rose else ""
    message = (
        f"{lead_label} {'rose' if rose else 'fell'} {abs(a / b - 1) * 100:.0f} % ({fmt_s(b)} -> {fmt_s(a)}) "
        f"at {t:.1f} s{cause}{alongside}."
    )
    evidence = {
        "method": "binary segmentation, permutation test",
        "window": int(index),
        "at_s": t,
        "latency": latencies,
        "moved": moved,
        "compared_windows": {"before": len(before), "after": len(after)},
        "load_change": direction,
    }
    end = float(windows["end_s"].iloc[hi - 1])
    return finding("latency_shift", severity, t, end, message, evidence, chart=lead_column)
