"""inference-perf (kubernetes-sigs/inference-perf) reports -> trace records.

- ``per_request_lifecycle_metrics.json`` (``report.request_lifecycle.per_request: true``;
  ``reportgen/base.py::build_per_request_lifecycle_entry``): a JSON array, one entry per request with
  ``start_time`` / ``end_time`` on ``time.perf_counter()`` seconds, ``info.response_metrics``
  (``chunk_times``,
  ``output_token_times`` expanded to one stamp per token by the client tokenizer, ``output_tokens``,
  ``server_usage``), ``info.request_metrics.text.input_tokens`` and ``error`` (``{error_type, error_msg}``);
- ``summary_lifecycle_metrics.json`` (``summarize_requests``): its own summary -> the peer ``totals`` record.

The clock is process-relative, so absolute times need an anchor: ``--start`` (the first request's epoch time),
else the per-request file's modification time is taken as the last request's end, and a note says so.
"""

from __future__ import annotations

from pathlib import Path

from recorders.importers.base import head
from recorders.importers.inference_perf.reader import read

NAME = "inference-perf"
TITLE = "inference-perf"
FILES = "per_request_lifecycle_metrics.json + summary_lifecycle_metrics.json (per_request: true)"


def detect(path: Path) -> bool:
    """inference-perf's per-request array or its summary, by name and first keys."""
    if not path.name.endswith(".json"):
        return False
    text = head(path, 4096).lstrip()
    if "per_request_lifecycle_metrics" in path.name:
        return text.startswith("[") and '"start_time"' in text
    if "lifecycle_metrics" in path.name:
        return '"load_summary"' in text or '"successes"' in text
    return False


__all__ = ["FILES", "NAME", "TITLE", "detect", "read"]
