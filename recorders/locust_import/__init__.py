"""Locust importer: ``_stats.csv``, ``_stats_history.csv``, ``_failures.csv``, ``_exceptions.csv``, the
``--logfile`` text log and ``csv_request_logger`` request logs -> trace files (schema v1 plus the
``failures``, ``totals`` and ``load_endpoint`` extensions). ``docs/locust.md`` says what each Locust
quirk becomes."""

from __future__ import annotations

from recorders.locust_import.context import DEFAULT_PSEUDO_TYPES
from recorders.locust_import.importer import ImportOptions, ImportResult, OutputFile, import_locust

__all__ = ["DEFAULT_PSEUDO_TYPES", "ImportOptions", "ImportResult", "OutputFile", "import_locust"]
