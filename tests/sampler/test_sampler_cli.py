"""``traceanalyzer record gpu`` / ``record server`` as a user runs them: exit codes, one-line errors, and a
clean stop on SIGINT / SIGTERM with everything flushed."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recorders.gpu.nvml import NO_DRIVER

CLI = [sys.executable, "-m", "traceanalyzer"]


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def _wait_for_records(
    path: Path, kind: str, count: int, proc: subprocess.Popen[str], timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"recorder exited early: {proc.communicate()}")
        if path.exists() and path.read_text().count(f'"type":"{kind}"') >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} {kind} records in {timeout} s")


def _all_lines_complete(path: Path) -> list[dict]:
    text = path.read_text()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_no_nvidia_driver_on_this_machine(tmp_path, no_nvidia_driver):
    result = _run("record", "gpu", "--out", str(tmp_path / "gpu.jsonl"))
    assert result.returncode == 3
    assert result.stderr == f"error: {NO_DRIVER}\n"
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "gpu.jsonl").exists()


def test_usage_errors_exit_2(tmp_path):
    result = _run("record", "gpu", "--backend", "dcgm", "--out", str(tmp_path / "g.jsonl"))
    assert result.returncode == 2 and result.stderr.startswith("error: --backend dcgm needs --url")
    result = _run("record", "server", "--url", "http://127.0.0.1:9/m", "--interval", "soon", "--out", "x")
    assert result.returncode == 2 and "'soon' is not a duration" in result.stderr


def test_help_texts():
    for command in ("gpu", "server"):
        result = _run("record", command, "--help")
        assert result.returncode == 0 and "--interval" in result.stdout and "--out" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_gpu_sampler_cleanly(tmp_path, nvidia_smi_on_path, sig):
    pidfile = nvidia_smi_on_path()
    out = tmp_path / "gpu.jsonl"
    proc = subprocess.Popen(
        [
            *CLI,
            "record",
            "gpu",
            "--backend",
            "nvidia-smi",
            "--interval",
            "100ms",
            "--host-metrics",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        _wait_for_records(out, "host", 3, proc)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert stderr.startswith("wrote ") and "gpu" in stderr and "host" in stderr
    records = _all_lines_complete(out)
    assert records[0]["type"] == "meta"
    assert {r["type"] for r in records[1:]} <= {"gpu", "host", "event"}
    with pytest.raises(ProcessLookupError):  # the nvidia-smi child was stopped too
        os.kill(int(pidfile.read_text()), 0)


@pytest.mark.slow
def test_sigint_stops_the_server_scraper_cleanly(tmp_path, metrics_server, fixture_text):
    url = metrics_server.set("/metrics", fixture_text("sglang_metrics.txt"))
    out = tmp_path / "server.jsonl.gz"
    proc = subprocess.Popen(
        [*CLI, "record", "server", "--url", url, "--interval", "0.1", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while metrics_server.hits["/metrics"] < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "(sglang)" in stderr
    lines = gzip.decompress(out.read_bytes()).decode().splitlines()
    records = [json.loads(line) for line in lines]
    servers = [r for r in records if r["type"] == "server"]
    assert servers and all(r["engine"] == "sglang" and r["waiting"] == 2826.0 for r in servers)
