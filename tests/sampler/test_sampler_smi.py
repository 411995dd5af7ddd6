"""nvidia-smi backend against a stand-in ``nvidia-smi`` on PATH that prints the real CSV format."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from recorders.gpu import GpuRecorderOptions, SamplingControl, record_gpu, record_gpu_async
from recorders.gpu.smi import SMI_FIELDS, NvidiaSmiBackend, parse_smi_line
from recorders.tracefile import Clock
from traceanalyzer.errors import SourceUnreachableError


def test_parse_a_real_line_with_unavailable_values():
    line = (
        "2, GPU-c0ffee00-1234-5678-9abc-def012345678, NVIDIA A10G, [N/A], [N/A], 22994, 23028, [N/A], 41, "
        "[Not Supported]"
    )
    parsed = parse_smi_line(line, 123)
    assert parsed.errors == {}
    assert parsed.record == {
        "type": "gpu",
        "t": 123,
        "gpu": 2,
        "uuid": "GPU-c0ffee00-1234-5678-9abc-def012345678",
        "name": "NVIDIA A10G",
        "util_pct": None,
        "mem_util_pct": None,
        "mem_used_mib": 22994.0,
        "mem_total_mib": 23028.0,
        "power_w": None,
        "temp_c": 41.0,
        "sm_clock_mhz": None,
        "source": "nvidia-smi",
    }
    err = parse_smi_line("1, GPU-x, NVIDIA A100-SXM4-80GB, 0, 0, 4, 81920, [Unknown Error], 33, 210", 1)
    assert (
        err.record is not None
        and err.record["power_w"] is None
        and err.errors == {"power_w": "Unknown Error"}
    )
    assert (
        parse_smi_line("Unable to determine the device handle for GPU0000:3B:00.0: GPU is lost.", 1).record
        is None
    )
    assert [name for name, _ in SMI_FIELDS][:3] == ["index", "uuid", "name"]


def test_samples_several_gpus_stamped_on_arrival(tmp_path, nvidia_smi_on_path, read_trace):
    nvidia_smi_on_path()
    t_before = time.time_ns()
    summary = record_gpu(
        GpuRecorderOptions(out=tmp_path / "gpu.jsonl", backend="nvidia-smi", interval_s=0.1, duration_s=1.0)
    )
    t_after = time.time_ns()
    records = read_trace(tmp_path / "gpu.jsonl")
    assert records[0]["type"] == "meta" and records[0]["config"]["backend"] == "nvidia-smi"
    gpu = [r for r in records if r["type"] == "gpu"]
    assert {r["gpu"] for r in gpu} == {0, 1, 2}
    assert all(r["source"] == "nvidia-smi" and t_before <= r["t"] <= t_after for r in gpu)
    a10g = [r for r in gpu if r["gpu"] == 2]
    assert all(r["util_pct"] is None and r["power_w"] is None and r["mem_used_mib"] == 22994.0 for r in a10g)
    a100 = [r for r in gpu if r["gpu"] == 0]
    assert {r["util_pct"] for r in a100} <= {87.0, 91.0} and len(a100) >= 3
    assert [r["t"] for r in a100] == sorted(r["t"] for r in a100)
    # Frames alternate: GPU 1's power reads "[Unknown Error]" in every second one, so the fault flaps.
    events = [r for r in records if r["type"] == "event"]
    names = [e["name"] for e in events]
    assert names and set(names[0::2]) == {"gpu_read_failed"} and set(names[1::2]) <= {"gpu_read_recovered"}
    assert all(e["detail"]["gpu"] == 1 and e["detail"]["fields"] == ["power_w"] for e in events)
    assert events[0]["detail"]["error"] == "Unknown Error"
    assert summary.records["gpu"] == len(gpu)


def test_no_driver_is_one_clear_line(tmp_path, nvidia_smi_on_path):
    nvidia_smi_on_path(mode="no-driver")
    with pytest.raises(SourceUnreachableError, match=r"^nvidia-smi found no NVIDIA driver on this host; use"):
        record_gpu(GpuRecorderOptions(out=tmp_path / "gpu.jsonl", backend="nvidia-smi", duration_s=1.0))
    assert not (tmp_path / "gpu.jsonl").exists()


def test_not_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SourceUnreachableError, match=r"^nvidia-smi not found on PATH"):
        record_gpu(GpuRecorderOptions(out=tmp_path / "gpu.jsonl", backend="nvidia-smi", duration_s=1.0))


def test_a_process_that_dies_mid_run_is_reported_and_restarted(tmp_path, nvidia_smi_on_path, read_trace):
    pidfile = nvidia_smi_on_path(mode="lost-after:2")
    options = GpuRecorderOptions(
        out=tmp_path / "gpu.jsonl", backend="nvidia-smi", interval_s=0.1, duration_s=2.0
    )
    clock = Clock()
    backend = NvidiaSmiBackend(interval_s=0.1, clock=clock, restart_after_s=0.5)
    asyncio.run(
        record_gpu_async(options, control=SamplingControl(clock=clock, handle_signals=False), backend=backend)
    )

    records = read_trace(tmp_path / "gpu.jsonl")
    failures = [
        r["detail"]["error"] for r in records if r["type"] == "event" and r["name"] == "nvidia_smi_failed"
    ]
    assert any("GPU is lost" in e for e in failures)
    assert "nvidia-smi exited with code 15" in failures
    assert backend.restarts >= 1
    # Samples before the loss and after each restart.
    assert len([r for r in records if r["type"] == "gpu" and r["gpu"] == 0]) >= 4
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
