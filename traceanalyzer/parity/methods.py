"""The statistics other tools use, written once each so a tool's definitions can name its method.

- :func:`numpy_linear`: ``np.percentile`` default (linear interpolation) - AIPerf, vLLM, SGLang, GenAI-Perf,
  inference-perf; pandas ``quantile`` (llmperf) is the same;
- :func:`weighted_inverse_cdf`: GuideLLM's ``DistributionSummary`` (``cumsum`` of unique-merged normalised
  weights, ``searchsorted`` left, no interpolation);
- :func:`nearest_rank_floor`: EvalScope's ``sorted[int(n * p / 100)]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

Values = npt.NDArray[np.float64]


def clean(values: Sequence[float] | Values) -> Values:
    arr = np.asarray(values, dtype=np.float64)
    return arr[np.isfinite(arr)]


def numpy_linear(values: Values, q: float) -> float:
    """Percentile ``q`` (0-100), NumPy's linear method."""
    return float(np.percentile(values, q))


def nearest_rank_floor(values: Values, q: float) -> float:
    """``sorted[int(n * q / 100)]``, clipped to the last element (EvalScope)."""
    data = np.sort(values)
    idx = min(int(len(data) * q / 100), len(data) - 1)
    return float(data[idx])


def basic_stat(
    values: Values, stat: str, percentile: Callable[[Values, float], float], ddof: int = 0
) -> float | None:
    """``avg``/``mean``, ``min``, ``max``, ``std``, ``sum``, ``count``, ``median`` or ``pNN`` of ``values``
    with the given percentile method; ``None`` for no values."""
    if values.size == 0:
        return None
    if stat in ("avg", "mean"):
        return float(np.mean(values))
    if stat == "min":
        return float(np.min(values))
    if stat == "max":
        return float(np.max(values))
    if stat in ("std", "stddev", "std_dev"):
        return float(np.std(values, ddof=ddof)) if values.size > ddof else None
    if stat in ("sum", "total_sum"):
        return float(np.sum(values))
    if stat == "count":
        return float(values.size)
    if stat == "median":
        return percentile(values, 50.0)
    if stat.startswith("p"):
        return percentile(values, percentile_of(stat))
    raise ValueError(f"unknown statistic {stat!r}")


def percentile_of(stat: str) -> float:
    """``p99`` -> 99, ``p99.9`` -> 99.9, ``p999`` (GuideLLM) -> 99.9, ``p001`` -> 0.1."""
    digits = stat[1:]
    if "." in digits:
        return float(digits)
    if len(digits) == 3 and digits.startswith("0"):
        return float(digits) / 10
    if len(digits) == 3 and digits.startswith("99"):
        return float(digits) / 10
    return float(digits)


def weighted_distribution(values: Values, weights: Values) -> tuple[Values, Values]:
    """GuideLLM ``DistributionSummary.from_values``: sort, merge equal values (summing weights), drop
    zero weights, normalise. Returns ``(values, probabilities)``."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    uniq, inverse = np.unique(v, return_inverse=True)
    merged = np.zeros(uniq.size, dtype=np.float64)
    np.add.at(merged, inverse, w)
    keep = merged > 0
    uniq, merged = uniq[keep], merged[keep]
    if uniq.size and np.all(merged <= 1e-6):
        merged = np.ones_like(merged)
    return uniq, merged / merged.sum() if uniq.size else merged


def weighted_inverse_cdf(values: Values, probs: Values, q: float) -> float:
    """``values[searchsorted(cumsum(probs), q / 100, side="left")]`` (GuideLLM), clipped to the last."""
    idx = int(np.searchsorted(np.cumsum(probs), q / 100, side="left"))
    return float(values[min(idx, values.size - 1)])


def rel_diff(recomputed: float | None, tool_value: float | None) -> float | None:
    """``|recomputed - tool| / |tool|``; the absolute difference when the tool's value is 0."""
    if recomputed is None or tool_value is None:
        return None
    diff = abs(recomputed - tool_value)
    return diff if tool_value == 0 else diff / abs(tool_value)


#: Nanoseconds per unit of the time units tools write in their summaries.
TIME_UNITS_NS: dict[str, float] = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9, "sec": 1e9, "seconds": 1e9}
