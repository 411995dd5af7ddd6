"""One send (or end) per event-loop pass (``SendGate``), and records that wait for a quiet moment but never
longer than ``RECORD_WAIT_MAX_NS``."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
import uvloop
from collector_kit import collect, requests_of

from recorders.http_stream import collector
from recorders.http_stream.client import SendGate
from recorders.simserver.testing import SimServerHandle


class PassCounter:
    """Counts event-loop passes: a callback that schedules itself again runs once per pass."""

    def __init__(self) -> None:
        self.passes = 0
        self._running = True

    def start(self) -> None:
        asyncio.get_running_loop().call_soon(self._tick)

    def stop(self) -> None:
        self._running = False

    def _tick(self) -> None:
        self.passes += 1
        if self._running:
            asyncio.get_running_loop().call_soon(self._tick)


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_turns_go_one_per_pass_first_come_first_served(loop: str) -> None:
    async def run() -> tuple[list[tuple[str, int]], int]:
        gate, counter, got = SendGate(), PassCounter(), []
        counter.start()
        await asyncio.sleep(0)

        async def want(name: str, again: bool = False) -> None:
            await gate.turn()
            got.append((name, counter.passes))
            if again:  # its turn holds for the rest of its pass
                await gate.turn()
                got.append((name + "-again", counter.passes))

        await asyncio.gather(want("a", again=True), want("b"), want("c"), want("d"))
        lone_before = counter.passes
        await asyncio.sleep(0.01)  # the gate is free again
        await gate.turn()  # a lone request passes at once, without waiting for a pass
        lone = counter.passes - lone_before
        counter.stop()
        return got, lone

    runner = uvloop.run if loop == "uvloop" else asyncio.run
    got, _ = runner(run())
    names = [n for n, _ in got]
    assert names == ["a", "a-again", "b", "c", "d"]
    passes = dict(got)
    assert passes["a-again"] == passes["a"]
    assert passes["a"] < passes["b"] < passes["c"] < passes["d"]  # each its own pass, in order


def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    async def run() -> list[str]:
        gate, got = SendGate(), []

        async def want(name: str) -> None:
            await gate.turn()
            got.append(name)

        waiting = [asyncio.create_task(want(n)) for n in ("w", "x", "y", "z")]
        await asyncio.sleep(0)  # w has this pass, the others wait
        assert got == ["w"]
        waiting[2].cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        return got

    assert uvloop.run(run()) == ["w", "x", "z"]


def test_records_are_written_within_the_longest_wait_under_continuous_load(
    fast_sim: SimServerHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never quiet (a send or an end every few ms): a record still waits at most RECORD_WAIT_MAX_NS."""
    monkeypatch.setattr(collector, "RECORD_QUIET_NS", 60_000_000_000)
    monkeypatch.setattr(collector, "RECORD_WAIT_MAX_NS", 100_000_000)
    out = tmp_path / "requests.jsonl"
    seen_during_run: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.1):
            if out.exists():
                seen_during_run.append(sum(1 for line in out.open() if '"type":"request"' in line))

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    try:
        result = collect(
            fast_sim.base_url,
            fast_sim.model,
            out,
            rate=100.0,
            arrival="constant",
            duration_s=2.0,
            max_tokens=4,
        )
    finally:
        done.set()
        watcher.join()
    assert time.monotonic() - started >= 2.0
    assert result.ok == result.sent > 150
    assert len(requests_of(out)) == result.sent
    # halfway through the run, records of the first second were already on disk
    assert seen_during_run and max(seen_during_run[: len(seen_during_run) // 2]) >= 20, seen_during_run
