"""GuideLLM (vllm-project/guidellm) ``benchmarks.json`` (report schema version 2) -> trace records.

One file holds every benchmark of a run (a sweep: one per rate or concurrency); each becomes a load stage
(``stage`` = ``b0``, ``b1``, ... labelled with the strategy, e.g. ``constant@4.00``), its requests
``request`` records and its own metrics one peer ``totals`` record. Request rows
(``GenerativeRequestStats``, ``schemas/base/request_stats.py``) carry epoch-second timings and no per-chunk
times, so ``chunks_us`` stays empty; the last token's time is kept for the parity recomputation.
"""

from __future__ import annotations

from pathlib import Path

from recorders.importers.base import head
from recorders.importers.guidellm.reader import read

NAME = "guidellm"
TITLE = "GuideLLM"
FILES = "benchmarks.json with metadata.version 2 (guidellm run --output kind=json)"


def detect(path: Path) -> bool:
    """A JSON report whose start looks like GuideLLM's (``metadata.version`` and ``guidellm_version``)."""
    if not path.name.endswith(".json"):
        return False
    text = head(path, 2048)
    return '"guidellm_version"' in text and '"benchmarks"' in head(path, 1 << 16)


__all__ = ["FILES", "NAME", "TITLE", "detect", "read"]
