"""Which answers get embedded when a capture has too many to embed them all, and how sure the numbers are.

Exact-match rates and key-information accuracy always use every answer. The embedding statistics (mean and
minimum pairwise cosine, share above threshold, drift, host agreement) are computed on a sample of at most
``budget`` answers in all, so the consistency stage takes about the same time on a soak of a million
answers as on one of a few thousand.

Sampling plan (:func:`plan_sample`):

- Each scored prompt group needs as many embeddings as it has distinct texts. When all groups together have
  at most ``budget`` distinct texts, every group is embedded whole and the numbers are exact (no sampling).
- Otherwise the budget is shared out by water-filling: a cap ``c`` is chosen as large as possible with
  ``sum(min(distinct_g, c)) <= budget``; groups with at most ``c`` distinct texts are embedded whole, every
  other group keeps a sample of ``c`` of its answers (at least :data:`MIN_PER_GROUP`, so a capture with very
  many prompts may exceed the budget).
- A sampled group is cut into :data:`TIME_SLICES` equal slices of its answers ordered by ``t_send``, and each
  slice gives its share of the sample, drawn uniformly without replacement. The early and late thirds (drift)
  are therefore always represented, and hosts in proportion to the answers they gave in each slice.
- The generator is seeded with ``(seed, crc32(prompt_id))``: the same capture gives the same sample and the
  same numbers, whatever other prompts it holds.

A sampled group's statistics are estimated from the pairs of its sample and stand for all its pairs: its
pair counts are the counts over all its answers (n (n - 1) / 2 for all pairs, floor(n / 3)^2 early x late,
from the host counts across hosts), so pooling over groups weighs each group as the full computation does.
The minimum is the minimum over the sample's pairs.

Interval (:class:`IntervalParts`): each sampled group's mean pairwise cosine is a U-statistic of its
sample; its variance is estimated by the jackknife (leave one answer out; computed from the sum of the
normalised vectors, so in O(k) for k answers), times the finite-population correction (1 - k / n). Groups
embedded whole contribute no variance. The pooled mean is the pair-weighted mean of the groups' means, so its
variance is the sum of their variances times the squared weights; the 95 % interval is the normal one,
mean +- 1.96 standard errors, clipped to [-1, 1]. Without sampling the interval is the mean itself.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from traceanalyzer.consistency.embed import BACKENDS, DEFAULT_BACKEND
from traceanalyzer.errors import UsageError

if TYPE_CHECKING:
    from traceanalyzer.consistency.answers import Answers, PromptGroup

DEFAULT_SAMPLE = 2000
"""Default embedding budget (answers): about a minute of embedding on two shared CPU cores."""
MIN_PER_GROUP = 8
"""Fewest answers a sampled group keeps."""
TIME_SLICES = 6
"""Slices of a sampled group's answers by ``t_send``, each drawn from in proportion to its size."""
DEFAULT_SEED = 0
__all__ = ["BACKENDS", "DEFAULT_BACKEND", "DEFAULT_SAMPLE", "GroupSample", "IntervalParts", "plan_sample"]
Z95 = 1.959963984540054
"""Two-sided 95 % quantile of the standard normal distribution."""


def parse_sample(value: str | int | None) -> int | None:
    """The ``--consistency-sample`` value: a positive number of answers, or None for ``all``.

    Raises :class:`UsageError` for anything else.
    """
    if value is None:
        return None
    if isinstance(value, int):
        number = value
    elif value.strip().lower() == "all":
        return None
    else:
        try:
            number = int(value.strip().replace(",", "").replace("_", ""))
        except ValueError:
            raise UsageError(
                f"--consistency-sample {value!r}: expected a number of answers (e.g. 3000) or 'all'"
            ) from None
    if number < 2:
        raise UsageError(f"--consistency-sample {value!r}: the sample needs at least 2 answers")
    return number


@dataclass(frozen=True)
class GroupSample:
    """The answers of one scored prompt group whose similarity is computed: ``rows`` (ascending, so in
    ``t_send`` order); ``whole`` when they are all the group's answers."""

    group: PromptGroup
    rows: np.ndarray
    whole: bool


def plan_sample(
    answers: Answers, scored: Sequence[PromptGroup], budget: int | None, seed: int = DEFAULT_SEED
) -> list[GroupSample]:
    """The sample of each scored group (see the module docstring); ``budget`` None embeds everything."""
    distinct = [len(np.unique(answers.text_index[g.start : g.stop])) for g in scored]
    cap = None if budget is None or sum(distinct) <= budget else _water_level(distinct, budget)
    plan = []
    for group, texts in zip(scored, distinct, strict=True):
        if cap is None or texts <= cap:
            plan.append(GroupSample(group, np.arange(group.start, group.stop), whole=True))
        else:
            plan.append(GroupSample(group, _stratified_rows(group, cap, seed), whole=False))
    return plan


def _water_level(distinct: Sequence[int], budget: int) -> int:
    """The largest cap c with ``sum(min(d, c)) <= budget`` (at least :data:`MIN_PER_GROUP`)."""
    remaining, left = budget, len(distinct)
    cap = 0
    for texts in sorted(distinct):
        share = remaining // left
        if texts > share:
            cap = share
            break
        remaining -= texts
        left -= 1
    return max(cap, MIN_PER_GROUP)


def _stratified_rows(group: PromptGroup, size: int, seed: int) -> np.ndarray:
    """``size`` answer rows of ``group``, drawn per time slice in proportion to its answers."""
    rng = np.random.default_rng([seed, zlib.crc32(group.prompt_id.encode("utf-8", "surrogatepass"))])
    n = group.size
    picked = []
    for s in range(TIME_SLICES):
        lo, hi = n * s // TIME_SLICES, n * (s + 1) // TIME_SLICES
        take = size * (s + 1) // TIME_SLICES - size * s // TIME_SLICES
        if hi > lo and take:
            picked.append(group.start + lo + rng.choice(hi - lo, size=min(take, hi - lo), replace=False))
    return np.sort(np.concatenate(picked)) if picked else np.empty(0, dtype=np.int64)


def jackknife_variance(vectors: np.ndarray) -> float:
    """Jackknife variance of the mean pairwise dot product of the rows of ``vectors`` (k >= 3 rows).

    Leaving row i out, the mean over the other rows' pairs is ``(|s - v_i|^2 - (q - |v_i|^2)) /
    ((k - 1)(k - 2))`` with ``s`` the sum of the rows and ``q`` the sum of their squared norms; the variance
    is ``(k - 1) / k * sum((U_-i - mean U_-)^2)``.
    """
    k = len(vectors)
    if k < 3:
        return 0.0
    matrix = np.asarray(vectors, dtype=np.float64)
    total = matrix.sum(axis=0)
    norms = np.einsum("ij,ij->i", matrix, matrix)
    rest = total[None, :] - matrix
    leave_out = (np.einsum("ij,ij->i", rest, rest) - (norms.sum() - norms)) / ((k - 1) * (k - 2))
    return float((k - 1) / k * np.sum((leave_out - leave_out.mean()) ** 2))


@dataclass
class IntervalParts:
    """Running sums for the pooled mean's variance: ``sum(weight_g^2 * variance_g)`` and ``sum(weight_g)``
    with weight = the group's pair count."""

    weighted_variance: float = 0.0
    weights: float = 0.0

    def add(self, pairs: int, variance: float) -> None:
        """Add a group of ``pairs`` answer pairs whose mean has ``variance`` (0: a group embedded whole)."""
        self.weighted_variance += float(pairs) ** 2 * variance
        self.weights += pairs

    def interval(self, mean: float | None) -> tuple[float, float] | None:
        """The 95 % interval around the pooled ``mean``; None without a mean."""
        if mean is None or not self.weights:
            return None
        half = Z95 * math.sqrt(self.weighted_variance) / self.weights
        return (max(-1.0, mean - half), min(1.0, mean + half))


def group_variance(vectors: np.ndarray, sample: GroupSample, text_index: np.ndarray) -> float:
    """Variance of a sampled group's mean pairwise cosine: jackknife times (1 - k / n); 0 when whole."""
    if sample.whole:
        return 0.0
    k, n = len(sample.rows), sample.group.size
    return jackknife_variance(vectors[text_index[sample.rows]]) * (1.0 - k / n)
