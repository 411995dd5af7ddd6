"""Significance tests of the run comparison (:mod:`traceanalyzer.compare`), on top of scipy.

- :func:`mann_whitney`: two-sided Mann-Whitney U (``scipy.stats.mannwhitneyu``) of a candidate sample against
  a baseline sample; ``prob_greater`` = U / (n_b n_c) = P(candidate > baseline) + P(tie) / 2, the
  common-language effect size (0.5 = no shift).
- :func:`two_proportion`: two-proportion z-test, ``z = (p_c - p_b) / sqrt(p (1 - p) (1/n_b + 1/n_c))``
  with the pooled share ``p = (x_b + x_c) / (n_b + n_c)``; two-sided p-value ``2 sf(|z|)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SignificanceTest:
    """One significance test.

    ``kind``: ``mann_whitney`` (``statistic`` is U of the candidate, ``prob_greater`` = U / (n_b n_c)) or
    ``two_proportion`` (``statistic`` is z). ``p_value`` is two-sided.
    """

    kind: Literal["mann_whitney", "two_proportion"]
    samples: str
    """What was tested: ``requests:ttft_s``, ``windows:qps``, ``proportion:error_rate``, ..."""
    n_baseline: int
    n_candidate: int
    statistic: float
    p_value: float
    prob_greater: float | None = None
    """Mann-Whitney only: P(candidate > baseline) + P(tie) / 2."""


def mann_whitney(samples: str, baseline: FloatArray, candidate: FloatArray) -> SignificanceTest | None:
    """Two-sided Mann-Whitney U test of ``candidate`` against ``baseline``; ``None`` with fewer than 3 values
    on either side."""
    from scipy.stats import mannwhitneyu

    if baseline.size < 3 or candidate.size < 3:
        return None
    result = mannwhitneyu(candidate, baseline, alternative="two-sided")
    u = float(result.statistic)
    p = float(result.pvalue)
    return SignificanceTest(
        kind="mann_whitney",
        samples=samples,
        n_baseline=int(baseline.size),
        n_candidate=int(candidate.size),
        statistic=u,
        p_value=1.0 if math.isnan(p) else p,
        prob_greater=u / (baseline.size * candidate.size),
    )


def two_proportion(samples: str, x_b: int, n_b: int, x_c: int, n_c: int) -> SignificanceTest | None:
    """Two-proportion z-test (module docstring); ``None`` when a side has no trials. Equal pooled shares of 0
    or 1 give z = 0, p = 1."""
    from scipy.stats import norm

    if n_b <= 0 or n_c <= 0:
        return None
    pooled = (x_b + x_c) / (n_b + n_c)
    var = pooled * (1.0 - pooled) * (1.0 / n_b + 1.0 / n_c)
    z = 0.0 if var <= 0.0 else (x_c / n_c - x_b / n_b) / math.sqrt(var)
    return SignificanceTest(
        kind="two_proportion",
        samples=samples,
        n_baseline=n_b,
        n_candidate=n_c,
        statistic=z,
        p_value=float(2.0 * norm.sf(abs(z))),
    )
