"""The drift-free schedule, driven by a fake monotonic clock (no real sleeping)."""

from __future__ import annotations

import asyncio
import random

from recorders.gpu.faults import FaultLog
from recorders.gpu.schedule import run_schedule

MS = 1_000_000


def _run(clock, tick, *, interval_ms: int, duration_ms: int | None, stop: asyncio.Event | None = None):
    async def main():
        return await run_schedule(
            tick,
            interval_ns=interval_ms * MS,
            duration_ns=None if duration_ms is None else duration_ms * MS,
            mono=clock.mono_ns,
            stop=stop or asyncio.Event(),
            sleep=clock.sleep,
        )

    return asyncio.run(main())


def test_ticks_land_on_the_grid_from_the_start(fake_clock):
    start = fake_clock.now
    starts = []

    async def tick():
        starts.append(fake_clock.now)

    stats = _run(fake_clock, tick, interval_ms=100, duration_ms=10_000)
    assert stats.ticks == 100 and stats.missed == 0 and stats.stopped_by == "duration"
    assert starts == [start + k * 100 * MS for k in range(100)]
    assert fake_clock.now == start + 10_000 * MS  # returns when the duration is over, not at the last tick


def test_work_inside_a_tick_does_not_accumulate_drift(fake_clock):
    """Sleep-after-work would drift by the sum of all work (about 5 s over 100 ticks); deadlines do not."""
    start = fake_clock.now
    rng = random.Random(7)
    starts = []

    async def tick():
        starts.append(fake_clock.now)
        fake_clock.advance(rng.uniform(0.01, 0.09))  # 10-90 ms of work in a 100 ms interval

    stats = _run(fake_clock, tick, interval_ms=100, duration_ms=10_000)
    assert stats.ticks == 100 and stats.missed == 0
    assert [s - start for s in starts] == [k * 100 * MS for k in range(100)]


def test_an_overrun_skips_missed_deadlines_without_a_burst(fake_clock):
    start = fake_clock.now
    starts = []

    async def tick():
        starts.append(fake_clock.now - start)
        if len(starts) == 3:
            fake_clock.advance(0.25)  # the third tick (due at 200 ms) runs until 450 ms

    stats = _run(fake_clock, tick, interval_ms=100, duration_ms=800)
    # 300 ms is missed; 400 ms runs at once (late, at 450 ms); 500 ms is back on the grid.
    assert starts == [0, 100 * MS, 200 * MS, 450 * MS, 500 * MS, 600 * MS, 700 * MS]
    assert stats.missed == 1
    assert stats.max_late_ns == 50 * MS


def test_stop_ends_the_run_after_the_current_tick(fake_clock):
    stop = asyncio.Event()
    ticks = []

    async def tick():
        ticks.append(fake_clock.now)
        if len(ticks) == 4:
            stop.set()

    stats = _run(fake_clock, tick, interval_ms=500, duration_ms=None, stop=stop)
    assert stats.ticks == 4 and stats.stopped_by == "stop"


def test_a_duration_between_ticks(fake_clock):
    start = fake_clock.now
    count = 0

    async def tick():
        nonlocal count
        count += 1

    stats = _run(fake_clock, tick, interval_ms=100, duration_ms=1050)
    assert stats.ticks == count == 11  # 0, 100, ..., 1000 ms
    assert fake_clock.now == start + 1050 * MS


def test_real_clock_wait_wakes_up_on_stop():
    """Without an injected sleep the wait is on the stop event: a stop ends a long wait at once."""

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, stop.set)
        t0 = loop.time()

        async def tick():
            return None

        stats = await run_schedule(
            tick, interval_ns=3600 * 10**9, duration_ns=None, mono=lambda: int(loop.time() * 1e9), stop=stop
        )
        return stats, loop.time() - t0

    stats, elapsed = asyncio.run(main())
    assert stats.ticks == 1 and stats.stopped_by == "stop"
    assert elapsed < 60  # an hour-long interval did not have to pass


def test_fault_log_reports_changes_not_every_tick():
    events = []
    log = FaultLog(lambda name, detail: events.append((name, detail)))
    for _ in range(5):
        log.fail(("scrape", "u"), "scrape", "timed out after 1 s", url="u")
    log.fail(("scrape", "u"), "scrape", "HTTP 500 Internal Server Error", url="u")
    log.ok(("scrape", "u"))
    log.ok(("scrape", "u"))
    assert [name for name, _ in events] == [
        "scrape_failed",
        "scrape_recovered",
        "scrape_failed",
        "scrape_recovered",
    ]
    assert events[1][1]["failed_samples"] == 5
    assert events[3][1] == {"url": "u", "error": "HTTP 500 Internal Server Error", "failed_samples": 1}
