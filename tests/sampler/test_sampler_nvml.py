"""NVML backend through a stand-in ``pynvml`` raising nvidia-ml-py's real exception classes, on a fake clock;
and the no-driver path with the real nvidia-ml-py of this machine."""

from __future__ import annotations

import asyncio

import pynvml
import pytest

from recorders.gpu import GpuRecorderOptions, record_gpu, record_gpu_async
from recorders.gpu.nvml import NO_DRIVER, NO_GPU
from recorders.gpu.records import GPU_READINGS
from recorders.gpu.testing import FakeGpu, h100_boards, missing_in_installed_pynvml
from traceanalyzer.errors import SourceUnreachableError, UsageError

SECOND = 1_000_000_000
WALL0 = 1_700_000_000_000_000_000  # the fake clock's epoch anchor (conftest.WALL0)


def _record(tmp_path, fake_clock, **opts):
    options = GpuRecorderOptions(out=tmp_path / "gpu.jsonl", host="gpu-host-1", run="run-1", **opts)
    summary = asyncio.run(record_gpu_async(options, control=fake_clock.control()))
    return options.out, summary


def test_the_stand_in_only_offers_functions_nvidia_ml_py_has():
    assert missing_in_installed_pynvml() == []


def test_records_every_gpu_with_units_converted_on_the_grid(
    tmp_path, fake_clock, install_fake_nvml, read_trace
):
    boards = [
        FakeGpu(
            uuid="GPU-aaaa", util_pct=87, mem_util_pct=41, mem_used_mib=61234, power_mw=312_450, temp_c=64
        ),
        FakeGpu(uuid="GPU-bbbb", name="NVIDIA A10G", mem_total_mib=23028, sm_clock_mhz=210),
    ]
    nv = install_fake_nvml(boards)
    assert fake_clock.wall0 == WALL0
    out, summary = _record(tmp_path, fake_clock, interval_s=1.0, duration_s=5.0, host_metrics=True)

    records = read_trace(out)
    meta = records[0]
    assert meta["type"] == "meta" and meta["recorder"] == "traceanalyzer.record.gpu"
    assert meta["config"]["backend"] == "nvml" and meta["config"]["interval_s"] == 1.0
    gpu = [r for r in records if r["type"] == "gpu"]
    host = [r for r in records if r["type"] == "host"]
    assert len(gpu) == 10 and len(host) == 5
    assert sorted({r["t"] for r in gpu}) == [WALL0 + k * SECOND for k in range(5)]
    assert [r["t"] for r in host] == [WALL0 + k * SECOND for k in range(5)]
    first = gpu[0]
    assert first == {
        "type": "gpu",
        "v": 1,
        "host": "gpu-host-1",
        "t": WALL0,
        "gpu": 0,
        "uuid": "GPU-aaaa",
        "name": "NVIDIA H100 80GB HBM3",
        "util_pct": 87.0,
        "mem_util_pct": 41.0,
        "mem_used_mib": 61234.0,
        "mem_total_mib": 81559.0,
        "power_w": 312.45,
        "temp_c": 64.0,
        "sm_clock_mhz": 1980.0,
        "source": "nvml",
    }
    assert gpu[1]["name"] == "NVIDIA A10G" and gpu[1]["mem_total_mib"] == 23028.0
    assert set(host[0]) == {"type", "v", "host", "t", "cpu_pct", "mem_used_mib", "mem_total_mib", "load1"}
    assert 0 < host[0]["mem_used_mib"] < host[0]["mem_total_mib"]
    assert (
        summary.records == {"gpu": 10, "host": 5} and summary.ticks == 5 and summary.stopped_by == "duration"
    )
    assert nv.state.calls[-1] == "nvmlShutdown" and not nv.state.initialized


def test_a_gpu_lost_mid_run_is_an_event_and_the_others_go_on(
    tmp_path, fake_clock, install_fake_nvml, read_trace
):
    nv = install_fake_nvml(h100_boards(3))
    start = fake_clock.now

    def lose_gpu_1_between_2_and_4_s(clock):
        nv.state.gpus[1].lost = 2 * SECOND <= clock.now - start < 4 * SECOND

    fake_clock.on_sleep.append(lose_gpu_1_between_2_and_4_s)
    out, _ = _record(tmp_path, fake_clock, interval_s=1.0, duration_s=6.0)

    records = read_trace(out)
    events = [r for r in records if r["type"] == "event"]
    assert [e["name"] for e in events] == ["gpu_read_failed", "gpu_read_recovered"]
    failed, recovered = events
    assert failed["t"] == WALL0 + 2 * SECOND and recovered["t"] == WALL0 + 4 * SECOND
    assert failed["detail"]["gpu"] == 1 and failed["detail"]["error"] == "NVMLError_GpuIsLost: GPU is lost"
    assert failed["detail"]["fields"] == list(GPU_READINGS)
    assert recovered["detail"]["failed_samples"] == 2
    per_gpu = {i: [r["t"] for r in records if r["type"] == "gpu" and r["gpu"] == i] for i in range(3)}
    assert len(per_gpu[0]) == len(per_gpu[2]) == 6
    assert [(t - WALL0) // SECOND for t in per_gpu[1]] == [0, 1, 4, 5]


def test_one_failing_call_nulls_only_its_field(tmp_path, fake_clock, install_fake_nvml, read_trace):
    boards = h100_boards(2)
    boards[0].errors["nvmlDeviceGetPowerUsage"] = pynvml.NVML_ERROR_NOT_SUPPORTED  # no sensor: null, no event
    boards[1].errors["nvmlDeviceGetClockInfo"] = pynvml.NVML_ERROR_NO_PERMISSION
    install_fake_nvml(boards)
    out, _ = _record(tmp_path, fake_clock, interval_s=0.5, duration_s=2.0)

    records = read_trace(out)
    gpu0 = [r for r in records if r["type"] == "gpu" and r["gpu"] == 0]
    gpu1 = [r for r in records if r["type"] == "gpu" and r["gpu"] == 1]
    assert len(gpu0) == len(gpu1) == 4
    assert all(r["power_w"] is None and r["temp_c"] == 62.0 for r in gpu0)
    assert all(r["sm_clock_mhz"] is None and r["power_w"] == 651.0 for r in gpu1)
    events = [r for r in records if r["type"] == "event"]
    assert len(events) == 1
    assert events[0]["detail"] == {
        "gpu": 1,
        "uuid": boards[1].uuid,
        "fields": ["sm_clock_mhz"],
        "source": "nvml",
        "error": "NVMLError_NoPermission: Insufficient Permissions",
    }


def test_memory_of_a_driver_without_the_v2_call(tmp_path, fake_clock, install_fake_nvml, read_trace):
    boards = h100_boards(1)
    boards[0].memory_v2 = False  # nvmlDeviceGetMemoryInfo_v2 raises NVMLError_FunctionNotFound
    install_fake_nvml(boards)
    out, _ = _record(tmp_path, fake_clock, interval_s=1.0, duration_s=1.0)
    (rec,) = [r for r in read_trace(out) if r["type"] == "gpu"]
    assert rec["mem_used_mib"] == 71680.0 + 554.0  # v1: total - free, the driver's reserve included
    assert rec["mem_total_mib"] == 81559.0


def test_per_process_memory(tmp_path, fake_clock, install_fake_nvml, read_trace):
    boards = h100_boards(1)
    boards[0].processes = [(4242, 70 * 1024 * 1048576), (4243, None)]
    install_fake_nvml(boards)
    out, _ = _record(tmp_path, fake_clock, interval_s=1.0, duration_s=1.0, per_process=True)
    (rec,) = [r for r in read_trace(out) if r["type"] == "gpu"]
    assert rec["processes"] == [{"pid": 4242, "used_mib": 71680.0}, {"pid": 4243, "used_mib": None}]


@pytest.mark.parametrize("code", [pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, pynvml.NVML_ERROR_DRIVER_NOT_LOADED])
def test_no_driver_is_one_clear_line_and_no_file(tmp_path, fake_clock, install_fake_nvml, code):
    install_fake_nvml(h100_boards(1), init_error=code)
    with pytest.raises(SourceUnreachableError) as err:
        _record(tmp_path, fake_clock, interval_s=1.0, duration_s=1.0)
    assert str(err.value) == NO_DRIVER and err.value.exit_code == 3
    assert not (tmp_path / "gpu.jsonl").exists()


def test_a_driver_without_gpus(tmp_path, fake_clock, install_fake_nvml):
    nv = install_fake_nvml([])
    with pytest.raises(SourceUnreachableError, match="found no NVIDIA GPU") as err:
        _record(tmp_path, fake_clock, interval_s=1.0, duration_s=1.0)
    assert str(err.value) == NO_GPU
    assert nv.state.calls[-1] == "nvmlShutdown"


def test_the_real_nvidia_ml_py_on_this_machine_without_a_driver(tmp_path, no_nvidia_driver):
    with pytest.raises(SourceUnreachableError) as err:
        record_gpu(GpuRecorderOptions(out=tmp_path / "gpu.jsonl", duration_s=1.0))
    assert str(err.value) == NO_DRIVER
    assert not (tmp_path / "gpu.jsonl").exists()


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"backend": "dcgm"}, "--backend dcgm needs --url"),
        ({"url": "http://x:9400/metrics"}, "--url is for --backend dcgm only"),
        ({"backend": "none"}, "records nothing without --host-metrics"),
        ({"backend": "nvidia-smi", "per_process": True}, "--per-process needs --backend nvml"),
        ({"interval_s": 0.0}, "--interval must be positive"),
    ],
)
def test_options_that_do_not_fit_together(tmp_path, opts, message):
    with pytest.raises(UsageError, match=message):
        record_gpu(GpuRecorderOptions(out=tmp_path / "gpu.jsonl", **opts))
