"""What every diagnosis rule shares: options, the memory series a leak is looked for in, evidence clean-up."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from traceanalyzer.model import Finding, JSONValue, Severity, SloThresholds

RULES: tuple[str, ...] = (
    "cpu_bound",
    "gpu_saturated",
    "memory_leak",
    "queueing",
    "latency_shift",
    "unstable",
    "error_burst",
)
"""Finding rule ids (DESIGN section 7; stable)."""


@dataclass(frozen=True)
class DiagnosisOptions:
    """Thresholds of the resource findings; docs/diagnosis.md explains each rule and what to do about it."""

    alpha: float = 0.01
    """Significance level of every test (Mann-Kendall, Spearman, permutation, Mann-Whitney)."""
    min_windows: int = 6
    """Fewest windows with data a rule needs before it says anything."""
    max_fit_points: int = 2000
    """Longer series are reduced to about this many points (bin medians for memory, every k-th pair for
    TTFT vs queue) before an O(n^2) Theil-Sen fit."""
    # memory_leak
    leak_min_rise_pct: float = 2.0
    """Least projected rise over the run, in % of total memory (or of the starting level when the total is
    unknown), for a significant climb to count as a leak."""
    leak_exhaustion_within_s: float = 7 * 24 * 3600.0
    """A significant climb projected to exhaust memory within this many seconds after the run is a leak,
    however little it rose during the run."""
    leak_min_daily_pct: float = 5.0
    """A significant climb whose slope would consume at least this % of total memory (of the starting level
    when the total is unknown) per 24 hours is a leak, however little it rose during the run."""
    leak_min_rise_noise: float = 3.0
    """The two projections above count only for a steady climb: the fitted rise over the run must be at least
    this many times the spread of the series around its trend line (robust sd), so that a cache that fills and
    empties (a sawtooth cut at some phase), or noise that happens to test as a trend, is not projected."""
    leak_critical_s: float = 24 * 3600.0
    """A leak projected to exhaust memory within this many seconds after the run is critical."""
    # queueing
    queue_min_rho: float = 0.6
    """Least Spearman rho between TTFT p95 and queue depth for ``queueing``."""
    queue_min_depth: float = 1.0
    """Queue depth (waiting requests) that counts as a queue."""
    max_lag: int = 3
    """Largest lag (windows) tried by lagged rank correlations."""
    # cpu_bound
    gpu_idle_pct: float = 50.0
    """Median GPU utilization below which slow windows count as GPU-idle (``cpu_bound``)."""
    min_slow_share: float = 0.1
    """Least share of windows with requests that must be slow for ``cpu_bound``."""
    failing_share: float = 0.5
    """Windows where at least this share of requests failed are left out of the latency-vs-GPU rules."""
    # gpu_saturated
    gpu_busy_pct: float = 85.0
    """Median GPU utilization at or above which a load level counts as GPU-busy."""
    load_step: float = 1.2
    """Least ratio of load between two levels for a load increase."""
    max_elasticity: float = 0.25
    """TPS elasticity (relative TPS gain / relative load gain) at or below which TPS counts as flat."""
    # latency_shift
    shift_min_change: float = 0.2
    """Least relative change of a window-median latency for a change point to be reported."""
    shift_min_abs_s: float = 0.005
    """Least absolute change (seconds) of a window-median latency for a change point to be reported."""
    moved_min_change: float = 0.1
    """Least relative change of a resource's median for it to count as having moved with a latency shift."""
    compare_windows: int = 30
    """Windows a side of a change point compared for the resources (bounded by other change points)."""
    # unstable
    counting_noise_factor: float = 1.5
    """A QPS CV within this factor of Poisson counting noise (``1 / sqrt(requests per window)``) is reported
    as ``info``: the window is too short to measure fluctuation."""


@dataclass(frozen=True)
class MemorySeries:
    """One memory watched for a leak: sample instants (s since origin), used and total MiB (NaN unknown)."""

    name: str
    t_s: np.ndarray
    used_mib: np.ndarray
    total_mib: float | None


@dataclass(frozen=True)
class Skipped:
    """A rule (or part of one) that did not run, and why."""

    rule: str
    reason: str


def clean(value: Any, digits: int = 6) -> JSONValue:
    """Evidence as plain JSON: numpy scalars unwrapped, NaN/inf -> None, floats to ``digits`` significant."""
    if isinstance(value, Mapping):
        return {str(k): clean(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [clean(v, digits) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        if not math.isfinite(f):
            return None
        return float(f"{f:.{digits}g}")
    if value is None or isinstance(value, str):
        return value
    return str(value)


def finding(
    rule: str,
    severity: Severity,
    start_s: float | None,
    end_s: float | None,
    message: str,
    evidence: Mapping[str, Any],
    chart: str | None = None,
) -> Finding:
    """A :class:`Finding` with its evidence cleaned to JSON values."""
    cleaned = clean(dict(evidence))
    assert isinstance(cleaned, dict)
    return Finding(rule, severity, start_s, end_s, message, cleaned, chart)


def has_data(windows: pd.DataFrame, column: str, min_windows: int = 1) -> bool:
    """The frame has ``column`` with at least ``min_windows`` finite values."""
    return column in windows and int(windows[column].notna().sum()) >= min_windows


def failing_mask(windows: pd.DataFrame, share: float) -> np.ndarray:
    """Windows where at least ``share`` of the requests that ended failed."""
    req = windows["requests"].to_numpy(dtype=float)
    failed = windows["failed"].fillna(0).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(req > 0, failed / req, 0.0) >= share


def slow_mask(windows: pd.DataFrame, slo: SloThresholds) -> tuple[np.ndarray, list[str]]:
    """Windows breaking a latency SLO (TTFT p95, TPOT p95, E2E p95 where set), and which SLOs were tested."""
    slow = np.zeros(len(windows), dtype=bool)
    tested = []
    for column, bound in (
        ("ttft_p95_s", slo.ttft_p95_s),
        ("tpot_p95_s", slo.tpot_p95_s),
        ("e2e_p95_s", slo.e2e_p95_s),
    ):
        if bound is None or not has_data(windows, column):
            continue
        tested.append(column)
        slow |= windows[column].to_numpy(dtype=float) > bound
    return slow, tested


def median(values: pd.Series | np.ndarray) -> float | None:
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(np.median(arr)) if arr.size else None


def fmt_s(seconds: float | None) -> str:
    """A duration in words-friendly units: ``850 ms``, ``4.2 s``, ``12 min``, ``3.5 h``."""
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    if abs(seconds) < 1:
        return f"{seconds * 1000:.0f} ms"
    if abs(seconds) < 120:
        return f"{seconds:.1f} s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
