"""The run loop shared by the sampling recorders (``record gpu``, ``record server``).

Each tick reads the source and writes records through the one trace writer; faults become events through a
:class:`~recorders.gpu.faults.FaultLog`. SIGINT and SIGTERM set a stop flag: the tick in progress finishes,
the schedule ends, the source is closed and the trace is flushed and closed; the run then ends normally
(exit code 0). A second signal is not caught any more and ends the process the default way.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from recorders.gpu.faults import FaultLog
from recorders.gpu.schedule import Sleep, run_schedule
from recorders.tracefile import Clock, TraceWriter
from traceanalyzer.errors import UsageError


@dataclass(frozen=True)
class SamplingControl:
    """How a recording is timed and stopped.

    - ``clock``: the trace clock (default: a real one); tests pass one over a fake monotonic clock.
    - ``sleep``: replaces the real wait between ticks (tests advance the fake clock in it).
    - ``stop``: set it to end the run after the tick in progress.
    - ``handle_signals``: SIGINT / SIGTERM set ``stop`` (only in the main thread).
    """

    clock: Clock | None = None
    sleep: Sleep | None = None
    stop: asyncio.Event | None = None
    handle_signals: bool = True


@dataclass(frozen=True)
class RecordSummary:
    """What one recorder run wrote.

    ``records`` counts written records by type (``gpu``, ``host``, ``server``, ``event``); ``ticks`` and
    ``missed_ticks`` come from the schedule; ``max_late_ms`` is the largest delay of a tick behind its
    deadline; ``stopped_by`` is ``"duration"`` or ``"stop"`` (a signal); ``duration_s`` is the wall time
    between the first deadline and the end.
    """

    paths: list[str]
    records: dict[str, int]
    ticks: int
    missed_ticks: int
    max_late_ms: float
    stopped_by: str
    duration_s: float
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for the console."""
        counts = (
            ", ".join(f"{n} {kind}" for kind, n in sorted(self.records.items()) if kind != "meta") or "no"
        )
        missed = f", {self.missed_ticks} ticks missed" if self.missed_ticks else ""
        return f"wrote {counts} records to {', '.join(self.paths)} in {self.duration_s:.1f} s{missed}"


class Sink:
    """Writes records through a :class:`TraceWriter`, adding ``host`` and counting records by type."""

    def __init__(self, writer: TraceWriter) -> None:
        self.writer = writer
        self.counts: Counter[str] = Counter()
        self.faults = FaultLog(self.event)

    def write(self, record: dict[str, Any]) -> None:
        self.writer.write({"type": record["type"], "host": self.writer.host, **record})
        self.counts[record["type"]] += 1

    def event(self, name: str, detail: dict[str, Any]) -> None:
        self.writer.event(name, detail)
        self.counts["event"] += 1


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event, enabled: bool = True) -> Iterator[None]:
    """While inside, SIGINT/SIGTERM set ``stop`` once (then the default handlers are back)."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        stop.set()
        for s in installed:
            loop.remove_signal_handler(s)
        installed.clear()

    if enabled and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover - non-POSIX loops
                continue
            installed.append(sig)
    try:
        yield
    finally:
        for s in installed:
            loop.remove_signal_handler(s)


async def run_sampling(
    sink: Sink,
    tick: Callable[[int], Awaitable[None]],
    *,
    interval_s: float,
    duration_s: float | None,
    control: SamplingControl,
) -> RecordSummary:
    """Call ``tick(t)`` on the drift-free schedule (``t``: epoch ns at the tick's start) and summarise."""
    clock = sink.writer.clock
    stop = control.stop or asyncio.Event()

    async def timed_tick() -> None:
        await tick(clock.now_ns())

    mono0 = clock.mono_ns()
    with stop_on_signals(stop, control.handle_signals):
        stats = await run_schedule(
            timed_tick,
            interval_ns=round(interval_s * 1e9),
            duration_ns=None if duration_s is None else round(duration_s * 1e9),
            mono=clock.mono_ns,
            stop=stop,
            sleep=control.sleep,
        )
    return RecordSummary(
        paths=[str(p) for p in sink.writer.paths],
        records=dict(sink.counts),
        ticks=stats.ticks,
        missed_ticks=stats.missed,
        max_late_ms=stats.max_late_ns / 1e6,
        stopped_by=stats.stopped_by,
        duration_s=(clock.mono_ns() - mono0) / 1e9,
    )


def check_timing(interval_s: float, duration_s: float | None, timeout_s: float | None) -> None:
    """UsageError unless the interval, and the duration and timeout when given, are positive (seconds)."""
    for flag, value in (("--interval", interval_s), ("--duration", duration_s), ("--timeout", timeout_s)):
        if value is not None and not value > 0:
            raise UsageError(f"{flag} must be positive, got {value:g}")


def meta_config(options: Any) -> dict[str, Any]:
    """A recorder's options dataclass as the ``config`` of its meta line (paths as strings)."""
    cfg = dataclasses.asdict(options)
    cfg["out"] = str(cfg["out"])
    return cfg


def default_timeout_s(interval_s: float) -> float:
    """Scrape timeout when none is given: the interval, but at least 1 s and at most 10 s."""
    return min(max(interval_s, 1.0), 10.0)
