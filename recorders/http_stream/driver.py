"""Runs a :class:`~recorders.http_stream.load.LoadPlan` on the event loop.

- Closed loop: ``users`` coroutines, each sending its next request when the previous one ended, so at most
  ``users`` requests are in flight. When a stage lowers the level, surplus users leave after their current
  request (none is cut short); when it raises it, new users start at once.
- Open loop: arrivals on an absolute schedule (``start + sum of gaps``), each sent as its own task whatever
  is in flight; a late loop catches up instead of drifting, so the offered rate holds.
- Stopping: when the request budget is spent, sending stops and in-flight requests run to their end. When
  the duration or the last stage ends, or :meth:`LoadDriver.stop` is called (a signal), sending stops and
  in-flight requests get ``grace_s`` seconds; then, or at once after :meth:`LoadDriver.abort`, the rest are
  cancelled, which makes the request coroutine record them as ``aborted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from recorders.http_stream.load import LoadPlan, Stage, arrival_gaps, constant_phase, worker_stage

STOP_REQUESTS = "requests"
STOP_DURATION = "duration"
STOP_STAGES = "stages"
_SLICE_S = 0.25
"""Longest single sleep of the open-loop scheduler, so a stop is noticed promptly even at low rates."""

Fire = Callable[[str | None], Coroutine[Any, Any, None]]


class Budget:
    """Requests this process may still send (``limit`` None: unbounded); ``on_spent`` runs once, when the
    last one is taken."""

    def __init__(self, limit: int | None, on_spent: Callable[[], None] | None = None) -> None:
        self.limit = limit
        self.taken = 0
        self._on_spent = on_spent

    def take(self) -> bool:
        if self.limit is not None and self.taken >= self.limit:
            return False
        self.taken += 1
        if self.limit is not None and self.taken == self.limit and self._on_spent is not None:
            self._on_spent()
        return True


@dataclass(frozen=True, slots=True)
class DriverOptions:
    """How this process runs its share of the plan (``worker`` of ``workers``)."""

    duration_s: float | None = None
    arrival: str = "poisson"
    grace_s: float = 30.0
    worker: int = 0
    workers: int = 1
    start_mono_ns: int | None = None
    """When to start (monotonic ns, shared by worker processes on one host); None: at once."""


class LoadDriver:
    """Keeps the load of each stage going until a bound or a stop, then drains. Call :meth:`run` once."""

    def __init__(
        self,
        plan: LoadPlan,
        fire: Fire,
        *,
        requests: int | None,
        rng: random.Random,
        options: DriverOptions | None = None,
        on_stage: Callable[[Stage], None] | None = None,
    ) -> None:
        self.plan = plan
        self.options = options or DriverOptions()
        self.budget = Budget(requests, on_spent=lambda: self.stop(STOP_REQUESTS))
        self.stop_reason: str | None = None
        self.stage: Stage | None = None
        self.stage_label: str | None = None
        """What the current stage's requests carry in ``stage`` (None when the plan has no stages)."""
        self.started_ns: int | None = None
        self._fire = fire
        self._rng = rng
        self._on_stage = on_stage
        self._sending = True
        self._target_users = 0
        self._users: dict[int, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = asyncio.Event()
        self._graceful = asyncio.Event()
        self._aborted = asyncio.Event()

    # -- control ---------------------------------------------------------------------------------------------
    def stop(self, reason: str) -> None:
        """Stop sending. Unless the budget was spent, in-flight requests get the grace period."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self._sending = False
        self._stopped.set()
        if reason != STOP_REQUESTS:
            self._graceful.set()

    def abort(self) -> None:
        """Stop sending and cancel in-flight requests now (they are recorded as aborted)."""
        self.stop("abort")
        self._aborted.set()

    # -- running ---------------------------------------------------------------------------------------------
    async def run(self) -> str:
        """Run every stage, then drain. Returns why sending stopped."""
        opts = self.options
        if opts.start_mono_ns is not None:
            await self._sleep_until(opts.start_mono_ns)
        start = self.started_ns = time.monotonic_ns()
        deadline = None if opts.duration_s is None else start + int(opts.duration_s * 1e9)
        for stage in self.plan.stages():
            if not self._sending:
                break
            now = time.monotonic_ns()
            if deadline is not None and now >= deadline:
                self.stop(STOP_DURATION)
                break
            end = None if stage.duration_s is None else now + int(stage.duration_s * 1e9)
            if deadline is not None and (end is None or end > deadline):
                end = deadline
            self.stage = stage
            self.stage_label = stage.label if self.plan.staged else None
            if self._on_stage is not None:
                self._on_stage(stage)
            part = worker_stage(stage, opts.workers, opts.worker)
            if part.users is not None:
                self._set_users(part.users)
                await self._wait_until(end)
            else:
                assert part.rate is not None and stage.rate is not None
                self._set_users(0)
                phase = (
                    constant_phase(stage.rate, opts.workers, opts.worker)
                    if opts.arrival == "constant"
                    else 0.0
                )
                await self._open_loop(part.rate, now + int(phase * 1e9), end)
            if deadline is not None and (end == deadline or time.monotonic_ns() >= deadline):
                self.stop(STOP_DURATION)
        if self.stop_reason is None:
            self.stop(STOP_STAGES)
        await self._drain()
        assert self.stop_reason is not None
        return self.stop_reason

    def _set_users(self, n: int) -> None:
        self._target_users = n
        for i in range(n):
            if i not in self._users:
                self._users[i] = asyncio.create_task(self._user(i))

    async def _user(self, index: int) -> None:
        try:
            while self._sending and index < self._target_users and self.budget.take():
                await self._fire(self.stage_label)
        finally:
            self._users.pop(index, None)

    async def _open_loop(self, rate: float, first_ns: int, end: int | None) -> None:
        gaps = arrival_gaps(rate, self.options.arrival, self._rng)
        t = first_ns if self.options.arrival == "constant" else first_ns + int(next(gaps) * 1e9)
        while self._sending:
            if end is not None and t >= end:
                return
            if not await self._sleep_until(t):
                return
            if not self._sending or not self.budget.take():
                return
            task = asyncio.create_task(self._fire(self.stage_label))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            t += int(next(gaps) * 1e9)

    async def _sleep_until(self, target_ns: int) -> bool:
        """Sleep until ``target_ns`` (monotonic); False when sending stopped meanwhile."""
        while self._sending:
            delay = (target_ns - time.monotonic_ns()) / 1e9
            if delay <= 0:
                return True
            await asyncio.sleep(min(delay, _SLICE_S))
        return False

    async def _wait_until(self, end_ns: int | None) -> None:
        """Hold the current closed-loop stage until ``end_ns`` or a stop."""
        timeout = None if end_ns is None else max(0.0, (end_ns - time.monotonic_ns()) / 1e9)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), timeout)

    def _pending(self) -> list[asyncio.Task[None]]:
        return [t for t in (*self._tasks, *self._users.values()) if not t.done()]

    async def _drain(self) -> None:
        pending = self._pending()
        if not pending:
            return
        everything = asyncio.ensure_future(asyncio.wait(pending))
        graceful = asyncio.ensure_future(self._graceful.wait())
        aborted = asyncio.ensure_future(self._aborted.wait())
        try:
            if not self._graceful.is_set():
                await asyncio.wait({everything, graceful, aborted}, return_when=asyncio.FIRST_COMPLETED)
            if not everything.done() and not self._aborted.is_set():
                await asyncio.wait(
                    {everything, aborted}, timeout=self.options.grace_s, return_when=asyncio.FIRST_COMPLETED
                )
        finally:
            for fut in (everything, graceful, aborted):
                fut.cancel()
        remaining = self._pending()
        for task in remaining:
            task.cancel()
        if remaining:
            await asyncio.gather(*remaining, return_exceptions=True)
