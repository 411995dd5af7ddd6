"""The live progress line: elapsed, sent, in flight, ok, errors by class, TTFT p50/p95 over recent requests.

Memory is bounded: counters, and the TTFTs of the last ``window`` successful requests. On a terminal the line
is redrawn in place (rich ``Live``, refreshed by the caller, no refresh thread to contend with the event
loop); elsewhere a plain line is printed every ``plain_every_s`` seconds.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

TTFT_WINDOW = 512


class LiveStats:
    """Running counts of one collector process."""

    def __init__(self, window: int = TTFT_WINDOW) -> None:
        self.sent = 0
        self.in_flight = 0
        self.ok = 0
        self.errors: Counter[str] = Counter()
        self.ttft_ms: deque[float] = deque(maxlen=window)

    def on_send(self) -> None:
        self.sent += 1
        self.in_flight += 1

    def on_done(self, error_class: str | None, ttft_ms: float | None) -> None:
        self.in_flight -= 1
        if error_class is None:
            self.ok += 1
            if ttft_ms is not None:
                self.ttft_ms.append(ttft_ms)
        else:
            self.errors[error_class] += 1

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able copy (what worker processes send to the parent)."""
        return {
            "sent": self.sent,
            "in_flight": self.in_flight,
            "ok": self.ok,
            "errors": dict(self.errors),
            "ttft_ms": list(self.ttft_ms),
        }


def merge(snapshots: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Sum of several processes' snapshots (their TTFT windows pooled)."""
    out: dict[str, Any] = {"sent": 0, "in_flight": 0, "ok": 0, "errors": Counter(), "ttft_ms": []}
    for snap in snapshots:
        for key in ("sent", "in_flight", "ok"):
            out[key] += snap[key]
        out["errors"].update(snap["errors"])
        out["ttft_ms"].extend(snap["ttft_ms"])
    out["errors"] = dict(out["errors"])
    return out


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation percentile (``q`` in 0..100) of already sorted values."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def format_line(snap: Mapping[str, Any], elapsed_s: float) -> str:
    """E.g. ``0:42 | sent 1200 | in flight 64 | ok 1130 | errors timeout 4 | TTFT p50 212 ms p95 480 ms``."""
    errors = snap["errors"]
    err = (
        ", ".join(f"{cls} {n}" for cls, n in sorted(errors.items(), key=lambda kv: -kv[1])) if errors else "0"
    )
    values = sorted(snap["ttft_ms"])
    ttft = (
        f"TTFT p50 {percentile(values, 50):.0f} ms p95 {percentile(values, 95):.0f} ms"
        if values
        else "TTFT -"
    )
    return (
        f"{_clock(elapsed_s)} | sent {snap['sent']} | in flight {snap['in_flight']} | ok {snap['ok']} "
        f"| errors {err} | {ttft}"
    )


class ProgressLine:
    """Shows the progress line on stderr; a no-op when disabled."""

    def __init__(
        self, *, enabled: bool = True, plain_every_s: float = 10.0, console: Console | None = None
    ) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self.plain_every_s = plain_every_s
        self._live: Live | None = None
        self._last_plain = 0.0

    def start(self) -> None:
        if self.enabled and self.console.is_terminal:
            self._live = Live(Text(""), console=self.console, auto_refresh=False, transient=False)
            self._live.start()

    def update(self, line: str) -> None:
        if not self.enabled:
            return
        if self._live is not None:
            self._live.update(Text(line), refresh=True)
            return
        now = time.monotonic()
        if now - self._last_plain >= self.plain_every_s:
            self._last_plain = now
            self.console.print(line, highlight=False, soft_wrap=True)

    def stop(self, final: str | None = None) -> None:
        if self._live is not None:
            if final is not None:
                self._live.update(Text(final), refresh=True)
            self._live.stop()
            self._live = None
        elif self.enabled and final is not None:
            self.console.print(final, highlight=False, soft_wrap=True)
