"""The import window: times given by the user, the window of a capture, and its split into queries.

Prometheus refuses a range query of more than 11,000 points per series (``exceeded maximum resolution``);
:func:`split_window` cuts a long window into parts of at most ``max_points`` steps, on one grid
(``start + k * step``), so the parts join without a gap or a repeated step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from traceanalyzer.errors import BadInputError, UsageError

MAX_POINTS = 11_000


def parse_time(text: str) -> float:
    """An instant as Unix seconds: a number (``1733480000``, ``1733480000.5``) or an RFC 3339 time
    (``2026-12-06T15:00:00Z``, ``2026-12-06T16:00:00+01:00``; a time without offset is UTC)."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise UsageError(
            f"{text!r} is not a time: give Unix seconds or RFC 3339 (2026-12-06T15:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(frozen=True)
class Window:
    """A query window on the step grid: ``start_ms + k * step_ms`` for ``k = 0 .. points - 1``."""

    start_ms: int
    end_ms: int
    step_ms: int

    @property
    def points(self) -> int:
        return (self.end_ms - self.start_ms) // self.step_ms + 1

    @classmethod
    def aligned(cls, start_s: float, end_s: float, step_s: float) -> Window:
        """The window from ``start_s`` to ``end_s`` on a grid of multiples of the step (as Grafana aligns
        its queries), so that imports of overlapping windows share their timestamps."""
        if step_s <= 0:
            raise UsageError(f"--step must be positive, got {step_s:g}")
        step_ms = max(1, round(step_s * 1000))
        start_ms = math.floor(start_s * 1000 / step_ms) * step_ms
        end_ms = math.ceil(end_s * 1000 / step_ms) * step_ms
        if end_ms <= start_ms:
            raise UsageError("the window is empty: --end must be after --start")
        return cls(start_ms, end_ms, step_ms)


def split_window(window: Window, max_points: int = MAX_POINTS) -> list[Window]:
    """Consecutive parts of ``window`` with at most ``max_points`` steps each, on the same grid."""
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    parts = []
    start = window.start_ms
    span = (max_points - 1) * window.step_ms
    while start <= window.end_ms:
        end = min(start + span, window.end_ms)
        parts.append(Window(start, end, window.step_ms))
        start = end + window.step_ms
    return parts


def capture_window(directory: str | Path, margin_s: float) -> tuple[float, float]:
    """Unix seconds of a capture's first request sent and last request ended, widened by ``margin_s``."""
    from traceanalyzer.loader import load_capture

    capture = load_capture([directory], cache=False)
    requests = capture.requests
    if requests.num_rows == 0:
        raise BadInputError("no request records to take the window from", path=str(directory))
    import pyarrow.compute as pc

    first = pc.min(requests["t_send"]).as_py()
    ends = pc.max(requests["t_end"]).as_py()
    last = max(v for v in (ends, pc.max(requests["t_send"]).as_py()) if v is not None)
    return first / 1e9 - margin_s, last / 1e9 + margin_s
