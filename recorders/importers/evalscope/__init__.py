"""EvalScope perf (modelscope/evalscope, ``evalscope perf``) outputs -> trace records.

- ``benchmark_data.db`` (SQLite, table ``result``; ``perf/utils/db_util.py::insert_benchmark_data``): one row
  per non-warmup request: ``start_time`` and ``completed_time`` on ``time.perf_counter()`` seconds,
  ``first_chunk_latency``, ``latency``, ``inter_token_latencies`` (JSON list of chunk gaps, s),
  ``prompt_tokens``, ``completion_tokens``, ``time_per_output_token``, ``success``, ``is_stream``. Read with
  the standard library's ``sqlite3``, read-only; ``response_messages`` (pickled) is never unpickled.
- ``benchmark_summary.json`` and ``benchmark_percentile.json``: EvalScope's own numbers -> the peer summary.

Times are process-relative: ``--start`` anchors the first request, else the database file's modification
time is taken as the last request's end (noted).
"""

from __future__ import annotations

from pathlib import Path

from recorders.importers.base import head
from recorders.importers.evalscope.reader import read

NAME = "evalscope"
TITLE = "EvalScope perf"
FILES = "benchmark_data.db + benchmark_summary.json + benchmark_percentile.json (evalscope perf)"

_SQLITE = b"SQLite format 3\x00"


def detect(path: Path) -> bool:
    """EvalScope's result database or one of its two summary files."""
    if path.name.endswith(".db"):
        try:
            with open(path, "rb") as fh:
                return fh.read(16) == _SQLITE and path.name.startswith("benchmark_data")
        except OSError:
            return False
    if path.name == "benchmark_summary.json":
        return '"Total Requests"' in head(path)
    if path.name == "benchmark_percentile.json":
        return '"Percentiles"' in head(path)
    return False


__all__ = ["FILES", "NAME", "TITLE", "detect", "read"]
