"""The capture loader: trace files (JSONL, optionally gzip) in, typed Arrow tables out.

``load_capture(paths, lenient=, clock_offsets=, cache=) -> Capture``; see docs/architecture.md ("Loader
contract") and docs/schema.md. Stages: :mod:`~traceanalyzer.loader.files` finds the files,
:mod:`~traceanalyzer.loader.fast` reads each in one DuckDB pass and flags bad rows,
:mod:`~traceanalyzer.loader.read` dispatches rows by ``type``, :mod:`~traceanalyzer.loader.careful` names
the lines behind bad rows, :mod:`~traceanalyzer.loader.cache` keeps parsed captures.
"""

from __future__ import annotations

from traceanalyzer.loader.cache import LOADER_VERSION
from traceanalyzer.loader.capture import Capture, FileInventory, Inventory
from traceanalyzer.loader.load import load_capture

__all__ = ["LOADER_VERSION", "Capture", "FileInventory", "Inventory", "load_capture"]
