"""Statistics shared by every metric stage: ``Stats`` of a sample, of value counts, CV and quantile grids.

Percentiles use linear interpolation between order statistics (numpy's ``linear`` method: the value at
probability ``p`` of ``n`` sorted values is at rank ``h = (n - 1) p``, interpolated between ``floor(h)`` and
``ceil(h)``); ``std`` is the population standard deviation (ddof=0). Non-finite values are dropped first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from traceanalyzer.model import Stats

PERCENTILES: tuple[float, ...] = (0.50, 0.90, 0.95, 0.99, 0.999)
"""The percentiles of every ``Stats`` (p50, p90, p95, p99, p99.9)."""

FloatArray = npt.NDArray[np.float64]


def finite(values: npt.ArrayLike) -> FloatArray:
    """``values`` as float64 with NaN and infinities removed."""
    arr = np.asarray(values, dtype=np.float64)
    return arr[np.isfinite(arr)]


def describe(values: npt.ArrayLike) -> Stats:
    """Count, mean, std (ddof=0), min, p50, p90, p95, p99, p99.9 and max of the finite ``values``."""
    arr = finite(values)
    if arr.size == 0:
        return Stats()
    p50, p90, p95, p99, p999 = (float(v) for v in np.quantile(arr, PERCENTILES, method="linear"))
    return Stats(
        count=int(arr.size),
        mean=float(arr.mean()),
        std=float(arr.std(ddof=0)),
        min=float(arr.min()),
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        p99_9=p999,
        max=float(arr.max()),
    )


def quantiles_from_counts(
    values: npt.ArrayLike, counts: npt.ArrayLike, probs: Sequence[float] | FloatArray
) -> FloatArray:
    """Exact linear-interpolation quantiles of a sample given as distinct ``values`` with ``counts``.

    Same result as ``np.quantile(np.repeat(values, counts), probs)`` without materialising the sample: the
    order statistic of rank ``k`` (0-based) is the first value whose cumulative count exceeds ``k``.
    """
    order = np.argsort(values, kind="stable")
    v = np.asarray(values, dtype=np.float64)[order]
    c = np.asarray(counts, dtype=np.int64)[order]
    cum = np.cumsum(c)
    n = int(cum[-1]) if cum.size else 0
    p = np.asarray(probs, dtype=np.float64)
    if n == 0:
        return np.full(p.shape, np.nan)
    h = (n - 1) * p
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    v_lo = v[np.searchsorted(cum, lo, side="right")]
    v_hi = v[np.searchsorted(cum, hi, side="right")]
    result: FloatArray = v_lo + (h - lo) * (v_hi - v_lo)
    return result


def describe_counts(values: npt.ArrayLike, counts: npt.ArrayLike, scale: float = 1.0) -> Stats:
    """``describe`` of the sample where each of ``values`` occurs ``counts`` times, times ``scale``.

    Exact for integer-valued samples such as chunk gaps in microseconds (``scale`` 1e-6 gives seconds).
    """
    v = np.asarray(values, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    keep = np.isfinite(v) & (c > 0)
    v, c = v[keep], c[keep]
    n = float(c.sum())
    if n == 0:
        return Stats()
    mean = float((v * c).sum() / n)
    var = float((c * (v - mean) ** 2).sum() / n)
    qs = quantiles_from_counts(v, c.astype(np.int64), PERCENTILES) * scale
    return Stats(
        count=int(n),
        mean=mean * scale,
        std=float(np.sqrt(var)) * scale,
        min=float(v.min()) * scale,
        p50=float(qs[0]),
        p90=float(qs[1]),
        p95=float(qs[2]),
        p99=float(qs[3]),
        p99_9=float(qs[4]),
        max=float(v.max()) * scale,
    )


def cv(values: npt.ArrayLike) -> float | None:
    """Coefficient of variation: population std / mean of the finite values (``None`` if none or mean 0)."""
    arr = finite(values)
    if arr.size == 0:
        return None
    mean = float(arr.mean())
    if mean == 0:
        return None
    return float(arr.std(ddof=0) / abs(mean))


def cv_of(stats: Stats) -> float | None:
    """CV = std / mean from already computed ``Stats``."""
    if stats.count == 0 or stats.mean is None or stats.std is None or stats.mean == 0:
        return None
    return stats.std / abs(stats.mean)


def quantile_grid(values: npt.ArrayLike, points: int) -> tuple[float, ...]:
    """The quantile function at ``points`` evenly spaced probabilities 0..1 (empty when no finite value)."""
    arr = finite(values)
    if arr.size == 0 or points < 2:
        return ()
    # sorted first: the same order statistics, and one sort beats ``points`` selections
    return tuple(float(v) for v in np.quantile(np.sort(arr), np.linspace(0.0, 1.0, points), method="linear"))


def quantile_grid_from_counts(
    values: npt.ArrayLike, counts: npt.ArrayLike, points: int, scale: float = 1.0
) -> tuple[float, ...]:
    """``quantile_grid`` of a sample given as values with counts, times ``scale``."""
    c = np.asarray(counts)
    if c.size == 0 or int(c.sum()) == 0 or points < 2:
        return ()
    qs = quantiles_from_counts(values, counts, np.linspace(0.0, 1.0, points)) * scale
    return tuple(float(v) for v in qs)


def optional(value: float | np.floating | None) -> float | None:
    """A float, or ``None`` for missing / NaN / infinite."""
    if value is None:
        return None
    f = float(value)
    return f if np.isfinite(f) else None


def quantile_or_none(values: npt.ArrayLike, q: float) -> float | None:
    """The linear-interpolation quantile ``q`` of the finite values, ``None`` when there are none."""
    arr = finite(values)
    return float(np.quantile(arr, q, method="linear")) if arr.size else None


def quantiles(values: npt.ArrayLike, probs: Sequence[float]) -> tuple[float | None, ...]:
    """Linear-interpolation quantiles of the finite values at ``probs`` (one sort), ``None``s when empty."""
    arr = finite(values)
    if arr.size == 0:
        return (None,) * len(probs)
    return tuple(float(v) for v in np.quantile(arr, probs, method="linear"))
