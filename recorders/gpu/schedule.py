"""Drift-free sampling schedule shared by the GPU/host sampler and the server-metrics scraper.

Tick ``k`` is due at ``start + k * interval`` on the monotonic clock: deadlines are computed from the start,
never as "sleep ``interval`` after the work", so the time a tick takes (an NVML call, an HTTP scrape) does
not accumulate into drift. A tick that overruns one or more deadlines does not cause a burst of catch-up
ticks: the missed deadlines are skipped (and counted) and the next tick runs at once, at most one interval
late; the one after it is back on the grid.

Time is injectable: ``mono`` reads the monotonic clock in nanoseconds and ``sleep`` (when given) replaces the
real wait, so tests drive the schedule with a fake clock and no real sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Tick = Callable[[], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]

STOPPED_BY_DURATION = "duration"
STOPPED_BY_REQUEST = "stop"


@dataclass
class ScheduleStats:
    """What one run of the schedule did.

    - ``ticks``: ticks run.
    - ``missed``: deadlines skipped because a tick ran past them (no catch-up burst).
    - ``max_late_ns``: largest delay between a tick's deadline and the moment it started, nanoseconds.
    - ``stopped_by``: ``"duration"`` (the run reached its end) or ``"stop"`` (a signal or the caller).
    """

    ticks: int = 0
    missed: int = 0
    max_late_ns: int = 0
    stopped_by: str = STOPPED_BY_DURATION


async def _wait(stop: asyncio.Event, seconds: float, sleep: Sleep | None) -> bool:
    """Wait ``seconds`` or until ``stop`` is set; True when stopped."""
    if stop.is_set():
        return True
    if seconds > 0:
        if sleep is not None:
            await sleep(seconds)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


async def run_schedule(
    tick: Tick,
    *,
    interval_ns: int,
    duration_ns: int | None,
    mono: Callable[[], int],
    stop: asyncio.Event,
    sleep: Sleep | None = None,
) -> ScheduleStats:
    """Run ``tick`` at ``start + k * interval_ns`` until ``duration_ns`` has passed or ``stop`` is set.

    With a duration ``D`` and interval ``I`` the ticks are due at ``0, I, 2I, ... < D`` (``ceil(D / I)``
    ticks) and the call returns at ``start + D``. Without a duration it runs until ``stop`` is set.
    """
    if interval_ns <= 0:
        raise ValueError("interval must be positive")
    stats = ScheduleStats()
    start = mono()
    end = None if duration_ns is None else start + duration_ns
    k = 0
    while True:
        deadline = start + k * interval_ns
        if end is not None and deadline >= end:
            if await _wait(stop, (end - mono()) / 1e9, sleep):
                stats.stopped_by = STOPPED_BY_REQUEST
            return stats
        if await _wait(stop, (deadline - mono()) / 1e9, sleep):
            stats.stopped_by = STOPPED_BY_REQUEST
            return stats
        stats.max_late_ns = max(stats.max_late_ns, mono() - deadline)
        await tick()
        stats.ticks += 1
        if stop.is_set():
            stats.stopped_by = STOPPED_BY_REQUEST
            return stats
        # Next deadline: k + 1, or the latest one already passed when the tick overran (skip, no burst).
        next_k = max(k + 1, (mono() - start) // interval_ns)
        stats.missed += next_k - (k + 1)
        k = next_k
