"""Prometheus importer (``traceanalyzer import prometheus``): the DCGM exporter's, the serving engine's
and node exporter's series of a test window, read back through the Prometheus query API (or from saved
``query_range`` responses) into ``gpu``, ``server`` and ``host`` records, with the recorders' own
mappings. ``docs/prometheus.md`` has the commands, the mapping table and what the scrape interval means.

Modules: ``window`` (times, the capture's window, the split into queries), ``queries`` (the PromQL),
``client`` (aiohttp, retries), ``series`` (response parsing), ``mapping`` (series -> records),
``importer`` (the whole run).
"""

from __future__ import annotations

from recorders.prometheus_import.importer import (
    PrometheusImportOptions,
    PrometheusImportResult,
    import_prometheus,
    import_prometheus_async,
)
from recorders.prometheus_import.window import parse_time

__all__ = [
    "PrometheusImportOptions",
    "PrometheusImportResult",
    "import_prometheus",
    "import_prometheus_async",
    "parse_time",
]
