"""The statistics behind the findings, on plain numpy series (one value per time window).

Every function here is pure, deterministic (permutation tests use a fixed seed) and tolerant of NaN: missing
windows are dropped pairwise before a test, and a series too short or constant to test gives ``None`` or a
result that says "no trend" rather than raising.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

FloatArray = np.ndarray


def _finite_pairs(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``x`` and ``y`` as float arrays with every position where either is NaN or infinite removed."""
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    keep = np.isfinite(xa) & np.isfinite(ya)
    return xa[keep], ya[keep]


@dataclass(frozen=True)
class Trend:
    """A monotonic trend of ``value`` over ``t``.

    - ``slope``, ``slope_low``, ``slope_high``: Theil-Sen slope (median of all pairwise slopes), with its
      confidence interval (Sen 1968, as ``scipy.stats.theilslopes`` computes it), value units per unit of t.
    - ``intercept``: Theil-Sen intercept, so the fitted line is ``intercept + slope * t``.
    - ``tau``, ``p_value``: the Mann-Kendall trend test, which is Kendall's rank correlation (tau-b, ties
      corrected) between time and value; ``p_value`` is two-sided.
    - ``n``: number of finite points used.
    """

    slope: float
    slope_low: float
    slope_high: float
    intercept: float
    tau: float
    p_value: float
    n: int

    def fitted(self, t: float) -> float:
        """The Theil-Sen line at ``t``."""
        return self.intercept + self.slope * t

    def rising(self, alpha: float) -> bool:
        """Significantly rising: Mann-Kendall ``p < alpha``, ``tau > 0``, the slope's interval above zero."""
        return self.p_value < alpha and self.tau > 0 and self.slope_low > 0


MAX_TREND_POINTS = 1000
"""Longer series are first averaged in consecutive blocks down to at most this many points: Theil-Sen is
quadratic in the number of points, and block means keep a monotonic trend (the test only gets more
conservative)."""


def _block_means(tx: FloatArray, vy: FloatArray, points: int) -> tuple[FloatArray, FloatArray]:
    """Means of ``tx`` and ``vy`` over ``points`` consecutive blocks of (nearly) equal size."""
    edges = np.linspace(0, tx.size, points + 1).astype(np.int64)
    counts = np.diff(edges).astype(float)
    return np.add.reduceat(tx, edges[:-1]) / counts, np.add.reduceat(vy, edges[:-1]) / counts


def trend(t: FloatArray, value: FloatArray, *, confidence: float = 0.95) -> Trend | None:
    """Theil-Sen slope and Mann-Kendall test of ``value`` against ``t``; ``None`` with fewer than 4 points.

    A constant series has slope 0 and ``p_value`` 1 (Kendall's tau is undefined there: no trend). Series
    longer than :data:`MAX_TREND_POINTS` are reduced to block means first (``n`` counts the points used).
    """
    tx, vy = _finite_pairs(t, value)
    if tx.size > MAX_TREND_POINTS:
        tx, vy = _block_means(tx, vy, MAX_TREND_POINTS)
    n = int(tx.size)
    if n < 4 or np.ptp(tx) == 0:
        return None
    res = stats.theilslopes(vy, tx, alpha=confidence)
    if np.ptp(vy) == 0:
        tau, p = 0.0, 1.0
    else:
        kt = stats.kendalltau(tx, vy)
        tau, p = float(kt.statistic), float(kt.pvalue)
        if not math.isfinite(tau):
            tau, p = 0.0, 1.0
    return Trend(
        slope=float(res.slope),
        slope_low=float(res.low_slope),
        slope_high=float(res.high_slope),
        intercept=float(res.intercept),
        tau=tau,
        p_value=p,
        n=n,
    )


@dataclass(frozen=True)
class LaggedCorrelation:
    """Spearman rank correlation of ``x[i]`` with ``y[i + lag]`` at the lag where it is strongest.

    ``lag`` is in windows; a positive lag means ``y`` follows ``x``. ``p_value`` is Bonferroni-corrected for
    the number of lags tried. ``n`` is the number of window pairs used at that lag.
    """

    rho: float
    p_value: float
    lag: int
    n: int


def lagged_spearman(
    x: FloatArray, y: FloatArray, *, max_lag: int = 3, sign: int = 1, min_pairs: int = 6
) -> LaggedCorrelation | None:
    """Strongest Spearman correlation of ``x`` and lagged ``y`` over lags ``-max_lag..max_lag``.

    ``sign=+1`` looks for the most positive rho, ``-1`` for the most negative, ``0`` for the largest
    ``|rho|``. Lags with fewer than ``min_pairs`` finite pairs, or with a constant side, are skipped; ``None``
    when no lag can be tested.
    """
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    best: LaggedCorrelation | None = None
    tried = 0
    for lag in range(-max_lag, max_lag + 1):
        if lag >= 0:
            xs, ys = xa[: xa.size - lag], ya[lag:]
        else:
            xs, ys = xa[-lag:], ya[: ya.size + lag]
        xs, ys = _finite_pairs(xs, ys)
        if xs.size < min_pairs or np.ptp(xs) == 0 or np.ptp(ys) == 0:
            continue
        tried += 1
        res = stats.spearmanr(xs, ys)
        rho, p = float(res.statistic), float(res.pvalue)
        if not math.isfinite(rho):
            continue
        score = rho * sign if sign else abs(rho)
        if best is None or score > (best.rho * sign if sign else abs(best.rho)):
            best = LaggedCorrelation(rho=rho, p_value=p, lag=lag, n=int(xs.size))
    if best is None:
        return None
    return LaggedCorrelation(rho=best.rho, p_value=min(1.0, best.p_value * tried), lag=best.lag, n=best.n)


@dataclass(frozen=True)
class ChangePoint:
    """A shift in the level of a series between two segments.

    ``index`` is the first window of the new level. ``before`` and ``after`` are the medians of the segments
    on either side (bounded by the neighbouring change points), ``p_value`` that of the permutation test that
    accepted the split.
    """

    index: int
    before: float
    after: float
    p_value: float

    @property
    def relative_change(self) -> float:
        """``(after - before) / |before|``; infinite when ``before`` is 0."""
        if self.before == 0:
            return math.inf if self.after != self.before else 0.0
        return (self.after - self.before) / abs(self.before)


def _best_split(x: FloatArray, min_size: int) -> tuple[int, float]:
    """The split ``k`` of ``x`` into ``x[:k]``, ``x[k:]`` that most reduces the squared-error cost.

    Cost reduction of a split is ``k (n - k) / n * (mean_left - mean_right)^2`` (the between-segment sum of
    squares). Returns ``(k, reduction)``.
    """
    n = x.size
    k = np.arange(min_size, n - min_size + 1)
    csum = np.cumsum(x)
    left_mean = csum[k - 1] / k
    right_mean = (csum[-1] - csum[k - 1]) / (n - k)
    gain = k * (n - k) / n * (left_mean - right_mean) ** 2
    i = int(np.argmax(gain))
    return int(k[i]), float(gain[i])


_PERMUTATION_BLOCK_VALUES = 1 << 17
"""Values shuffled at a time by :func:`_split_p_value` (1 MiB of float64 per array)."""


def _split_p_value(x: FloatArray, observed: float, min_size: int, permutations: int, seed: int) -> float:
    """Permutation p-value of the best split's gain: share of shuffles whose best gain reaches it."""
    rng = np.random.default_rng(seed)
    n = x.size
    k = np.arange(min_size, n - min_size + 1)
    weight = k * (n - k) / n
    reached = 0
    # Shuffles in blocks of rows (the generator shuffles row after row, so the blocks draw the very same
    # permutations as one call): a day of 10 s windows is 8,640 values, and all 299 shuffles at once would
    # allocate some 100 MB per array.
    block = max(1, _PERMUTATION_BLOCK_VALUES // max(n, 1))
    for start in range(0, permutations, block):
        rows = min(block, permutations - start)
        shuffled = rng.permuted(np.broadcast_to(x, (rows, n)), axis=1)
        csum = np.cumsum(shuffled, axis=1)
        total = csum[:, -1:]
        left_mean = csum[:, k - 1] / k
        right_mean = (total - csum[:, k - 1]) / (n - k)
        gains = (weight * (left_mean - right_mean) ** 2).max(axis=1)
        reached += int(np.count_nonzero(gains >= observed * (1 - 1e-12)))
    return float((1 + reached) / (permutations + 1))


def change_points(
    values: FloatArray,
    *,
    alpha: float = 0.01,
    min_size: int = 3,
    max_changes: int = 5,
    permutations: int = 299,
    seed: int = 0,
) -> list[ChangePoint]:
    """Level shifts in a series by binary segmentation with a permutation test.

    Method: binary segmentation (Scott & Knott 1974) on the squared-error cost of a piecewise-constant mean.
    The best single split of a segment is the one that maximises the between-segment sum of squares (the CUSUM
    statistic); it is accepted when a permutation test (``permutations`` shuffles of the segment, fixed
    ``seed``) gives ``p < alpha``; then both halves are searched again, up to ``max_changes`` splits in all.
    Segments shorter than ``2 * min_size`` windows are not split. NaN windows are dropped first (indices refer
    to the original series). The medians reported per change point are over the final segments on either side.
    A permutation test assumes exchangeable windows; a slow drift is found as a shift somewhere along it.
    """
    x = np.asarray(values, dtype=float)
    positions = np.flatnonzero(np.isfinite(x))
    clean = x[positions]
    accepted: dict[int, float] = {}
    pending: list[tuple[int, int]] = [(0, clean.size)]
    while pending and len(accepted) < max_changes:
        lo, hi = pending.pop(0)
        seg = clean[lo:hi]
        if seg.size < 2 * min_size or np.ptp(seg) == 0:
            continue
        k, gain = _best_split(seg, min_size)
        p = _split_p_value(seg, gain, min_size, permutations, seed + lo)
        if p >= alpha:
            continue
        accepted[lo + k] = p
        pending.extend([(lo, lo + k), (lo + k, hi)])
    bounds = [0, *sorted(accepted), clean.size]
    result = []
    for i in range(1, len(bounds) - 1):
        before = float(np.median(clean[bounds[i - 1] : bounds[i]]))
        after = float(np.median(clean[bounds[i] : bounds[i + 1]]))
        result.append(
            ChangePoint(
                index=int(positions[bounds[i]]), before=before, after=after, p_value=accepted[bounds[i]]
            )
        )
    return result


@dataclass(frozen=True)
class LevelChange:
    """How a series differs between two sets of windows: medians and a Mann-Whitney U test (two-sided)."""

    before: float
    after: float
    p_value: float

    @property
    def relative_change(self) -> float:
        """``(after - before) / |before|``; infinite when ``before`` is 0 and ``after`` is not."""
        if self.before == 0:
            return 0.0 if self.after == 0 else math.inf
        return (self.after - self.before) / abs(self.before)


def level_change(before: FloatArray, after: FloatArray, *, min_size: int = 3) -> LevelChange | None:
    """Median before/after and Mann-Whitney U p-value; ``None`` with fewer than ``min_size`` values a side."""
    b = np.asarray(before, dtype=float)
    a = np.asarray(after, dtype=float)
    b, a = b[np.isfinite(b)], a[np.isfinite(a)]
    if b.size < min_size or a.size < min_size:
        return None
    if np.ptp(np.concatenate([a, b])) == 0:
        p = 1.0
    else:
        p = float(stats.mannwhitneyu(b, a, alternative="two-sided").pvalue)
    return LevelChange(before=float(np.median(b)), after=float(np.median(a)), p_value=p)


def counting_noise_cv(mean_count: float) -> float:
    """CV that Poisson counting noise alone gives a per-window count with this mean: ``1 / sqrt(mean)``."""
    return math.inf if mean_count <= 0 else 1.0 / math.sqrt(mean_count)
