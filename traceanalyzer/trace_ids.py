"""Trace and span ids of an exported request, derived from the run id and the client request id.

``traceanalyzer export otel`` sends each request as one span under these ids, so a second export sends the
same ids and a report can link a request to its trace in Langfuse, Phoenix or any OTLP backend without
asking the backend (``report --trace-url``). Pure hashing: nothing here touches the network.

- trace id: the first 16 bytes of ``sha256("{run}:{client id}")``, as 32 lowercase hex digits;
- span id: the first 8 bytes of ``sha256("{run}:{client id}:span")``, as 16 lowercase hex digits.

An all-zero id is invalid in OpenTelemetry; the (astronomically unlikely) zero hash becomes ``...01``.
"""

from __future__ import annotations

import hashlib


def _digest(text: str, size: int) -> str:
    raw = hashlib.sha256(text.encode("utf-8")).digest()[:size]
    if not any(raw):
        raw = raw[:-1] + b"\x01"
    return raw.hex()


def trace_id(run: str | None, client_id: str) -> str:
    """The 32-hex-digit trace id of request ``client_id`` of run ``run`` (a missing run counts as ``""``)."""
    return _digest(f"{run or ''}:{client_id}", 16)


def span_id(run: str | None, client_id: str) -> str:
    """The 16-hex-digit span id of request ``client_id`` of run ``run``."""
    return _digest(f"{run or ''}:{client_id}:span", 8)
