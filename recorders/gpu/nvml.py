"""NVML backend: reads every GPU through nvidia-ml-py (``import pynvml`` from the ``nvidia-ml-py``
distribution, NVIDIA's own bindings).

Per GPU and tick: utilization rates (gpu, memory), memory info (used, total), power usage, GPU temperature
and SM clock; name and UUID once at start; optionally the compute processes and their GPU memory. NVML units
are converted: bytes -> MiB (/ 2**20), milliwatts -> watts (/ 1000). Memory is read with the v2 call where
the driver has it (R510 and later), whose ``used`` leaves out the memory the driver reserves, as
nvidia-smi and DCGM's ``FB_USED`` do; older drivers give v1, where ``used`` is ``total - free``.

Faults: a driver or library missing at start raises :class:`SourceUnreachableError` with one line. A call
that fails mid-run (``NVMLError_GpuIsLost``, ``NVMLError_NoPermission``, ...) leaves that reading null, is
reported through the :class:`FaultLog` (one ``gpu_read_failed`` event per GPU and error,
``gpu_read_recovered`` when it clears) and sampling goes on for the other readings and GPUs.
``NVMLError_NotSupported`` is a permanent property of the board (e.g. no power sensor) and only yields null.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from recorders.gpu.faults import FaultLog
from recorders.gpu.records import GPU_READINGS, MIB, gpu_record, has_readings, number
from traceanalyzer.distribution import install_hint
from traceanalyzer.errors import SourceUnreachableError

NO_DRIVER = (
    "NVML not found: no NVIDIA driver on this host; use --backend dcgm --url ... to sample a remote exporter"
)
NO_GPU = "NVML found no NVIDIA GPU on this host; use --backend dcgm --url ... to sample a remote exporter"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _start_error(nv: ModuleType, exc: BaseException) -> str:
    """One line saying why NVML could not start."""
    if isinstance(exc, (nv.NVMLError_LibraryNotFound, nv.NVMLError_DriverNotLoaded)):
        return NO_DRIVER
    if isinstance(exc, nv.NVMLError_NoPermission):
        return "NVML refused access (Insufficient Permissions); run as a user allowed to read the GPUs"
    return f"NVML could not start ({_describe(exc)}); try --backend nvidia-smi, or --backend dcgm --url ..."


@dataclass
class _Device:
    index: int
    handle: Any
    uuid: str | None
    name: str | None
    memory_v2: bool = False  # nvmlDeviceGetMemoryInfo_v2 works (drivers since R510)


class NvmlBackend:
    """GPU readings through NVML. ``per_process`` adds ``processes: [{pid, used_mib}]`` to each record."""

    source = "nvml"

    def __init__(self, *, per_process: bool = False) -> None:
        self.per_process = per_process
        self._nv: ModuleType | None = None
        self._devices: list[_Device] = []

    @property
    def gpu_count(self) -> int:
        return len(self._devices)

    async def open(self) -> None:
        try:
            import pynvml as nv
        except ImportError:
            raise SourceUnreachableError(
                f"nvidia-ml-py is not installed ({install_hint('record')}); "
                "or use --backend nvidia-smi, or --backend dcgm --url ..."
            ) from None
        try:
            nv.nvmlInit()
        except nv.NVMLError as exc:
            raise SourceUnreachableError(_start_error(nv, exc)) from None
        try:
            count = nv.nvmlDeviceGetCount()
        except nv.NVMLError as exc:
            nv.nvmlShutdown()
            raise SourceUnreachableError(_start_error(nv, exc)) from None
        if count == 0:
            nv.nvmlShutdown()
            raise SourceUnreachableError(NO_GPU)
        self._nv = nv
        self._devices = [self._device(i) for i in range(count)]

    def _device(self, index: int) -> _Device:
        nv = self._nv
        assert nv is not None
        try:
            handle = nv.nvmlDeviceGetHandleByIndex(index)
        except nv.NVMLError:
            return _Device(index, None, None, None)  # retried on every tick
        memory_v2 = hasattr(nv, "nvmlMemory_v2")  # nvidia-ml-py 11.510 and later
        if memory_v2:
            try:
                nv.nvmlDeviceGetMemoryInfo(handle, nv.nvmlMemory_v2)
            except nv.NVMLError:
                memory_v2 = False
        return _Device(
            index,
            handle,
            self._identity(nv.nvmlDeviceGetUUID, handle),
            self._identity(nv.nvmlDeviceGetName, handle),
            memory_v2,
        )

    def _identity(self, fn: Any, handle: Any) -> str | None:
        assert self._nv is not None
        try:
            value = fn(handle)
        except self._nv.NVMLError:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def sample(self, t: int, faults: FaultLog) -> list[dict[str, Any]]:
        """One gpu record per GPU with at least one known reading; faults reported to ``faults``."""
        records = []
        for i, dev in enumerate(self._devices):
            if dev.handle is None:
                dev = self._devices[i] = self._device(dev.index)
            readings, extra, errors = self._read(dev)
            faults.gpu_errors(dev.index, dev.uuid, errors, source=self.source)
            rec = gpu_record(
                t=t,
                gpu=dev.index,
                uuid=dev.uuid,
                name=dev.name,
                readings=readings,
                source=self.source,
                **extra,
            )
            if has_readings(rec):
                records.append(rec)
        return records

    def _read(self, dev: _Device) -> tuple[dict[str, float | None], dict[str, Any], dict[str, str]]:
        nv = self._nv
        assert nv is not None
        readings: dict[str, float | None] = {}
        extra: dict[str, Any] = {}
        errors: dict[str, str] = {}
        if dev.handle is None:
            for key in GPU_READINGS:
                errors[key] = "no device handle (nvmlDeviceGetHandleByIndex failed)"
            return readings, extra, errors

        def call(fields: tuple[str, ...], fn: Any, *args: Any) -> Any:
            try:
                return fn(dev.handle, *args)
            except nv.NVMLError as exc:
                if not isinstance(exc, nv.NVMLError_NotSupported):
                    for key in fields:
                        errors[key] = _describe(exc)
                return None

        util = call(("util_pct", "mem_util_pct"), nv.nvmlDeviceGetUtilizationRates)
        if util is not None:
            readings["util_pct"] = number(util.gpu)
            readings["mem_util_pct"] = number(util.memory)
        version = (nv.nvmlMemory_v2,) if dev.memory_v2 else ()
        mem = call(("mem_used_mib", "mem_total_mib"), nv.nvmlDeviceGetMemoryInfo, *version)
        if mem is not None:
            readings["mem_used_mib"] = number(mem.used, 1 / MIB)
            readings["mem_total_mib"] = number(mem.total, 1 / MIB)
        readings["power_w"] = number(call(("power_w",), nv.nvmlDeviceGetPowerUsage), 1 / 1000)
        readings["temp_c"] = number(call(("temp_c",), nv.nvmlDeviceGetTemperature, nv.NVML_TEMPERATURE_GPU))
        readings["sm_clock_mhz"] = number(
            call(("sm_clock_mhz",), nv.nvmlDeviceGetClockInfo, nv.NVML_CLOCK_SM)
        )
        if self.per_process:
            procs = call(("processes",), nv.nvmlDeviceGetComputeRunningProcesses)
            if procs is not None:
                extra["processes"] = [
                    {"pid": int(p.pid), "used_mib": number(getattr(p, "usedGpuMemory", None), 1 / MIB)}
                    for p in procs
                ]
        return readings, extra, errors

    async def close(self) -> None:
        if self._nv is not None:
            with contextlib.suppress(self._nv.NVMLError):
                self._nv.nvmlShutdown()
            self._nv = None
