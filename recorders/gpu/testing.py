"""A stand-in ``pynvml`` module for tests and benchmarks on machines without an NVIDIA GPU.

It has the functions the NVML backend calls, with nvidia-ml-py's signatures and return shapes (structs with
``gpu``/``memory``, ``total``/``free``/``used`` in bytes, power in milliwatts), its constants, and the
*installed* nvidia-ml-py's own exception classes, so errors are raised exactly as NVML raises them
(``NVMLError_LibraryNotFound`` from ``nvmlInit``, ``NVMLError_GpuIsLost`` from any device call, ...).
Install it with ``monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(...))``.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pynvml as _real

from recorders.gpu.records import MIB

# The functions the stand-in provides; each exists in the real module with the same name.
FUNCTIONS = (
    "nvmlInit",
    "nvmlShutdown",
    "nvmlDeviceGetCount",
    "nvmlDeviceGetHandleByIndex",
    "nvmlDeviceGetName",
    "nvmlDeviceGetUUID",
    "nvmlDeviceGetUtilizationRates",
    "nvmlDeviceGetMemoryInfo",
    "nvmlDeviceGetPowerUsage",
    "nvmlDeviceGetTemperature",
    "nvmlDeviceGetClockInfo",
    "nvmlDeviceGetComputeRunningProcesses",
)


@dataclass
class FakeGpu:
    """One simulated board. ``errors`` maps an NVML function name to the NVML error code it raises now
    (e.g. ``{"nvmlDeviceGetPowerUsage": pynvml.NVML_ERROR_NOT_SUPPORTED}``); ``lost=True`` makes every
    device call raise ``NVMLError_GpuIsLost``."""

    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    util_pct: int = 0
    mem_util_pct: int = 0
    mem_used_mib: int = 0
    mem_total_mib: int = 81559
    mem_reserved_mib: int = 554
    memory_v2: bool = True  # False: an older driver without nvmlDeviceGetMemoryInfo_v2
    power_mw: int = 70_000
    temp_c: int = 35
    sm_clock_mhz: int = 1980
    processes: list[tuple[int, int | None]] = field(default_factory=list)  # (pid, used bytes or None)
    errors: dict[str, int] = field(default_factory=dict)
    lost: bool = False


@dataclass
class FakeNvmlState:
    """The stand-in's state: its boards, an optional error code of ``nvmlInit``, and every call made."""

    gpus: list[FakeGpu]
    init_error: int | None = None
    calls: list[str] = field(default_factory=list)
    initialized: bool = False


def fake_pynvml(gpus: list[FakeGpu], *, init_error: int | None = None) -> types.ModuleType:
    """A module object standing in for ``pynvml``; its ``state`` attribute is the :class:`FakeNvmlState`."""
    state = FakeNvmlState(list(gpus), init_error)
    mod = types.ModuleType("pynvml")
    mod.__dict__.update({k: v for k, v in vars(_real).items() if k.startswith(("NVMLError", "NVML_"))})
    mod.nvmlMemory_v2 = _real.nvmlMemory_v2  # type: ignore[attr-defined]

    def check(fn: str, gpu: FakeGpu | None = None) -> None:
        state.calls.append(fn)
        if not state.initialized and fn != "nvmlInit":
            raise _real.NVMLError(_real.NVML_ERROR_UNINITIALIZED)
        if gpu is not None:
            if gpu.lost:
                raise _real.NVMLError(_real.NVML_ERROR_GPU_IS_LOST)
            if fn in gpu.errors:
                raise _real.NVMLError(gpu.errors[fn])

    def nvmlInit() -> None:
        check("nvmlInit")
        if state.init_error is not None:
            raise _real.NVMLError(state.init_error)
        state.initialized = True

    def nvmlShutdown() -> None:
        check("nvmlShutdown")
        state.initialized = False

    def nvmlDeviceGetCount() -> int:
        check("nvmlDeviceGetCount")
        return len(state.gpus)

    def nvmlDeviceGetHandleByIndex(index: int) -> FakeGpu:
        check("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(state.gpus):
            raise _real.NVMLError(_real.NVML_ERROR_INVALID_ARGUMENT)
        gpu = state.gpus[index]
        if gpu.lost:
            raise _real.NVMLError(_real.NVML_ERROR_GPU_IS_LOST)
        return gpu

    def nvmlDeviceGetName(handle: FakeGpu) -> str:
        check("nvmlDeviceGetName", handle)
        return handle.name

    def nvmlDeviceGetUUID(handle: FakeGpu) -> str:
        check("nvmlDeviceGetUUID", handle)
        return handle.uuid

    def nvmlDeviceGetUtilizationRates(handle: FakeGpu) -> Any:
        check("nvmlDeviceGetUtilizationRates", handle)
        return SimpleNamespace(gpu=handle.util_pct, memory=handle.mem_util_pct)

    def nvmlDeviceGetMemoryInfo(handle: FakeGpu, version: int | None = None) -> Any:
        check("nvmlDeviceGetMemoryInfo", handle)
        used, total = handle.mem_used_mib * MIB, handle.mem_total_mib * MIB
        reserved = handle.mem_reserved_mib * MIB
        free = total - used - reserved
        if not version:  # v1: used is total - free, the reserved memory included
            return SimpleNamespace(total=total, used=total - free, free=free)
        if version != _real.nvmlMemory_v2 or not handle.memory_v2:
            raise _real.NVMLError(_real.NVML_ERROR_FUNCTION_NOT_FOUND)
        return SimpleNamespace(version=version, total=total, reserved=reserved, free=free, used=used)

    def nvmlDeviceGetPowerUsage(handle: FakeGpu) -> int:
        check("nvmlDeviceGetPowerUsage", handle)
        return handle.power_mw

    def nvmlDeviceGetTemperature(handle: FakeGpu, sensor: int) -> int:
        check("nvmlDeviceGetTemperature", handle)
        if sensor != _real.NVML_TEMPERATURE_GPU:
            raise _real.NVMLError(_real.NVML_ERROR_INVALID_ARGUMENT)
        return handle.temp_c

    def nvmlDeviceGetClockInfo(handle: FakeGpu, clock_type: int) -> int:
        check("nvmlDeviceGetClockInfo", handle)
        if clock_type != _real.NVML_CLOCK_SM:
            raise _real.NVMLError(_real.NVML_ERROR_INVALID_ARGUMENT)
        return handle.sm_clock_mhz

    def nvmlDeviceGetComputeRunningProcesses(handle: FakeGpu) -> list[Any]:
        check("nvmlDeviceGetComputeRunningProcesses", handle)
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in handle.processes]

    impl = locals()
    for name in FUNCTIONS:
        setattr(mod, name, impl[name])
    mod.state = state  # type: ignore[attr-defined]
    return mod


def h100_boards(count: int, *, busy: bool = True) -> list[FakeGpu]:
    """``count`` H100-like boards with plausible readings (busy: 90 % util, 70 GiB used, 650 W)."""
    return [
        FakeGpu(
            uuid=f"GPU-{i:08x}-1111-2222-3333-444455556666",
            util_pct=90 if busy else 0,
            mem_util_pct=55 if busy else 0,
            mem_used_mib=71_680 if busy else 4,
            power_mw=650_000 + 1000 * i if busy else 70_000,
            temp_c=62 + i if busy else 31,
        )
        for i in range(count)
    ]


def missing_in_installed_pynvml() -> list[str]:
    """Names in :data:`FUNCTIONS` that the installed nvidia-ml-py lacks (empty when all exist)."""
    return [name for name in FUNCTIONS if not callable(getattr(_real, name, None))]
