"""Output consistency and robustness verdicts (DESIGN section 5).

Two stages, each a pure function of the loader's requests table:

- :func:`measure_consistency` -> :class:`ConsistencyResult`: exact-match rate, pairwise cosine similarity of
  sentence embeddings, drift early vs late, agreement across hosts, key-information accuracy;
- :func:`judge_robustness` -> ``{scenario: RobustnessVerdict}``: graceful vs bad handling of abnormal input.

:func:`default_cache_dir` is where a capture's embedding cache lives.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from traceanalyzer.consistency.embed import INSTALL_HINT
from traceanalyzer.consistency.exact import KeyInfoAccuracy
from traceanalyzer.consistency.measure import measure_consistency
from traceanalyzer.consistency.results import (
    ConsistencyResult,
    CosineStats,
    Drift,
    EmbeddingInfo,
    GroupConsistency,
    HostAgreement,
)
from traceanalyzer.consistency.robustness import RobustnessVerdict, judge_robustness
from traceanalyzer.loader.cache import cache_root


def default_cache_dir(capture: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> Path:
    """Where a capture's embeddings are cached: ``embeddings/`` in the loader's cache directory
    (``<capture dir>/.traceanalyzer-cache/``; for a list of paths, that of the first, as the loader does)."""
    paths = [capture] if isinstance(capture, str | os.PathLike) else list(capture)
    return cache_root(paths) / "embeddings"


__all__ = [
    "INSTALL_HINT",
    "ConsistencyResult",
    "CosineStats",
    "Drift",
    "EmbeddingInfo",
    "GroupConsistency",
    "HostAgreement",
    "KeyInfoAccuracy",
    "RobustnessVerdict",
    "default_cache_dir",
    "judge_robustness",
    "measure_consistency",
]
