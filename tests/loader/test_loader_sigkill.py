"""A recorder killed with SIGKILL mid-write leaves a capture the loader reads: every complete record, and at
most one partial last line, skipped and counted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from traceanalyzer.loader import load_capture

ROOT = Path(__file__).resolve().parents[2]

# Writes records in a loop (bounded: 200,000 records or 60 s) and says "ready" once some are on disk.
WRITER = """
import sys, time
from recorders.tracefile import TraceWriter
w = TraceWriter(sys.argv[1], recorder="test", run="r", host="h")
deadline = time.monotonic() + 60
for i in range(200_000):
    w.write({"type": "request", "id": f"q{i}", "t_send": i, "t_end": i + 1,
             "chunks_us": list(range(i % 300)), "text": "y" * (i % 4000)})
    if i == 300:
        print("ready", flush=True)
    if time.monotonic() > deadline:
        break
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", ["requests.jsonl", "requests.jsonl.gz"])
def test_capture_of_a_killed_writer_loads(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    capture = load_capture([path], cache=False)  # strict: a partial last line is no error
    ids = capture.requests.column("id").to_pylist()
    assert len(ids) > 300
    assert ids == [f"q{i}" for i in range(len(ids))]  # nothing lost or garbled before the cut
    (entry,) = capture.inventory.files
    assert entry.skipped <= 1 and set(entry.problems) <= {"truncated last line"}
    assert entry.records == len(ids) + 1


@pytest.mark.slow
def test_kill_at_every_byte_of_the_last_record(tmp_path: Path) -> None:
    """Whatever byte a kill stops at, the complete records load and the rest is one skipped line."""
    source = tmp_path / "whole.jsonl"
    subprocess.run(
        [sys.executable, "-c", WRITER.replace("200_000", "3"), str(source)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
    )
    data = source.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    for cut in range(last_start, len(data) + 1, 7):
        path = tmp_path / f"cut-{cut}.jsonl"
        path.write_bytes(data[:cut])
        capture = load_capture([path], cache=False)
        complete = cut >= len(data) - 1  # the whole record, with or without its newline
        assert capture.requests.num_rows == (3 if complete else 2), cut
        assert capture.inventory.skipped_lines == (0 if complete or cut == last_start else 1), cut
