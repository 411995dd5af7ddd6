"""Helpers of the Locust tests: fixture paths, reading trace files, running real Locust in subprocesses.

Locust monkey-patches the standard library (gevent) when imported, so it only ever runs in subprocesses
here; nothing in this directory imports ``locust`` or ``recorders.locust_user`` in the pytest process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
LOCUSTFILES = HERE / "locustfiles"
LOCUST_247 = FIXTURES / "locust-2.47"
LOCUST = str(Path(sys.executable).with_name("locust"))
RUN_TIME = "4s"
HISTORY_HEADER = (
    "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,100%,Total Request Count,Total Failure Count"
)
LOCUST_TIMEOUT_S = 90

#: Errors switched on in the simulator: 429 above 3 concurrent requests, 10 % context-length 400s, 10 %
#: streams broken by an in-stream error event; fixed timings (TTFT 50 ms, 5 ms per token) keep the load low.
SIM_ERRORS: dict[str, Any] = {
    "timing.mode": "fixed",
    "timing.ttft_ms": 50,
    "timing.gap_ms": 5,
    "rate_limit.max_concurrent": 3,
    "faults.context_length_fraction": 0.1,
    "faults.stream_error_fraction": 0.1,
}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def records_of(directory: Path, kind: str) -> list[dict[str, Any]]:
    """Every record of one ``type`` in the ``*.jsonl`` files of a directory."""
    return [r for path in sorted(directory.glob("*.jsonl")) for r in read_jsonl(path) if r["type"] == kind]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def locust_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE.parents[1]), env.get("PYTHONPATH", "")) if p)
    return env


@dataclass
class LocustRun:
    returncode: int
    output: str


def start_locust(args: Sequence[str], *, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start one Locust process; its stdout and stderr together are read with ``communicate``."""
    return subprocess.Popen(
        [LOCUST, *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(processes: Sequence[subprocess.Popen[str]]) -> list[LocustRun]:
    """Wait for Locust processes (each bounded by ``--run-time``; a hard timeout kills what is left)."""
    runs: list[LocustRun] = []
    try:
        for proc in processes:
            output = proc.communicate(timeout=LOCUST_TIMEOUT_S)[0]
            runs.append(LocustRun(proc.returncode, output))
        return runs
    finally:
        for proc in processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def run_locust(args: Sequence[str], *, cwd: Path, env: dict[str, str]) -> LocustRun:
    """Run one headless Locust process to its end."""
    (run,) = finish([start_locust(args, cwd=cwd, env=env)])
    return run


def locust_final_totals(json_file: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """Locust's final totals from ``--json-file`` (written at shutdown): (type, name) -> (requests, fails)."""
    return {
        (e["method"], e["name"]): (e["num_requests"], e["num_failures"])
        for e in json.loads(json_file.read_text())
    }
