"""AIPerf (ai-dynamo/aiperf) exports -> trace records.

Files (names as AIPerf writes them, any ``--profile-export-prefix``):

- ``*profile_export*.jsonl`` (``MetricRecordInfo`` per request, ``post_processors/
  record_export_results_processor.py``): ``metadata`` with epoch-ns ``request_start_ns`` /
  ``request_ack_ns`` / ``request_end_ns``, ``metrics`` as ``{tag: {value, unit}}`` in display units (ms),
  ``inter_chunk_latency`` a list of content-chunk gaps, ``error`` (``ErrorDetails``) or null;
- ``*_raw.jsonl`` (``RawRecordInfo``, ``--export-level raw``): every SSE message with its ``perf_ns``, so
  chunk times are exact; warmup records are in it and are dropped (``benchmark_phase``);
- ``*profile_export_aiperf.json`` (``JsonExportData``): AIPerf's own summary -> the peer ``totals`` record;
- ``gpu_telemetry_export.jsonl`` (``TelemetryRecord``) -> ``gpu`` records;
- ``server_metrics_export.jsonl`` (``SlimRecord``) -> ``server`` records.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from recorders.importers.aiperf.reader import detect_kind, read
from recorders.importers.base import ImportContext, Record

NAME = "aiperf"
TITLE = "AIPerf"
FILES = "profile_export.jsonl / profile_export_raw.jsonl / profile_export_aiperf.json (aiperf profile)"


def detect(path: Path) -> bool:
    """Whether ``path`` is one of AIPerf's export files (by name and first record)."""
    return detect_kind(path) is not None


__all__ = ["FILES", "NAME", "TITLE", "ImportContext", "Iterator", "Record", "detect", "read"]
