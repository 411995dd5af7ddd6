"""Capture side of traceanalyzer: small recorders that write JSONL traces.

Every recorder writes through :mod:`recorders.tracefile`, so each file starts with a ``meta`` line, is
flushed per record and stamps times from one (wall, monotonic) clock anchor.
"""

from __future__ import annotations
