"""The live progress line, and memory that stays flat however many requests a run sends."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest
from collector_kit import collect
from rich.console import Console

from recorders.http_stream.progress import LiveStats, ProgressLine, format_line, merge, percentile
from recorders.simserver.testing import SimServerHandle


def test_stats_keep_a_bounded_ttft_window() -> None:
    stats = LiveStats(window=100)
    for i in range(1000):
        stats.on_send()
        stats.on_done(None if i % 10 else "timeout", float(i))
    snap = stats.snapshot()
    assert (snap["sent"], snap["in_flight"], snap["ok"], snap["errors"]) == (1000, 0, 900, {"timeout": 100})
    assert len(snap["ttft_ms"]) == 100 and min(snap["ttft_ms"]) >= 889  # only the latest successes


def test_progress_line_text_and_merging() -> None:
    a = {"sent": 10, "in_flight": 2, "ok": 7, "errors": {"oom": 1}, "ttft_ms": [100.0, 300.0]}
    b = {"sent": 5, "in_flight": 1, "ok": 2, "errors": {"oom": 1, "timeout": 1}, "ttft_ms": [200.0]}
    line = format_line(merge([a, b]), 75.0)
    assert (
        line == "1:15 | sent 15 | in flight 3 | ok 9 | errors oom 2, timeout 1 | TTFT p50 200 ms p95 290 ms"
    )
    assert format_line(merge([]), 3725.0).startswith("1:02:05 | sent 0")
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5


def test_plain_progress_lines_when_not_on_a_terminal() -> None:
    buffer = io.StringIO()
    progress = ProgressLine(plain_every_s=0.0, console=Console(file=buffer, force_terminal=False, width=200))
    progress.start()
    progress.update("0:01 | sent 1")
    progress.stop("0:02 | sent 2")
    assert buffer.getvalue().splitlines() == ["0:01 | sent 1", "0:02 | sent 2"]
    quiet = io.StringIO()
    off = ProgressLine(enabled=False, console=Console(file=quiet))
    off.start()
    off.update("x")
    off.stop("y")
    assert quiet.getvalue() == ""


@pytest.mark.slow
def test_memory_stays_flat_as_requests_grow(fast_sim: SimServerHandle, tmp_path: Path) -> None:
    """Peak traced memory of a run of 4x the requests stays within a small margin of the shorter run's."""
    peaks = []
    for n in (100, 400):
        tracemalloc.start()
        try:
            collect(
                fast_sim.base_url,
                fast_sim.model,
                tmp_path / f"r{n}.jsonl",
                concurrency=8,
                requests=n,
                max_tokens=4,
            )
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[1] < peaks[0] * 1.3 + 512 * 1024, peaks
