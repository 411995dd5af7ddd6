"""The ``gpu`` and ``host`` records of trace schema v1 (DESIGN section 3), and the psutil host sampler.

``gpu``: ``host, t, gpu, uuid, name, util_pct, mem_util_pct, mem_used_mib, mem_total_mib, power_w, temp_c,
sm_clock_mhz, source``. Every reading is null when unknown (not supported, not readable on this tick).
``host``: ``host, t, cpu_pct, mem_used_mib, mem_total_mib, load1``.

Units: percent 0-100, MiB (2**20 bytes), watts, degrees Celsius, MHz; ``t`` in epoch nanoseconds.
"""

from __future__ import annotations

import math
import time
from typing import Any

import psutil

MIB = 1 << 20

# The readings of a gpu record, in schema order (identity fields gpu/uuid/name come first).
GPU_READINGS: tuple[str, ...] = (
    "util_pct",
    "mem_util_pct",
    "mem_used_mib",
    "mem_total_mib",
    "power_w",
    "temp_c",
    "sm_clock_mhz",
)


def number(value: Any, scale: float = 1.0) -> float | None:
    """``value * scale`` as a float rounded to 3 decimals, or None when missing or not finite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value) * scale
    except (TypeError, ValueError):
        return None
    if not math.isfinite(x):
        return None
    return round(x, 3)


def gpu_record(
    *,
    t: int,
    gpu: int | None,
    uuid: str | None,
    name: str | None,
    readings: dict[str, float | None],
    source: str,
    **extra: Any,
) -> dict[str, Any]:
    """One ``gpu`` record (``host`` is added by the recorder). Readings not given are null."""
    rec: dict[str, Any] = {"type": "gpu", "t": t, "gpu": gpu, "uuid": uuid, "name": name}
    for key in GPU_READINGS:
        rec[key] = readings.get(key)
    rec["source"] = source
    rec.update(extra)
    return rec


def has_readings(rec: dict[str, Any]) -> bool:
    """True when at least one reading of a gpu record is known (an all-null record carries nothing)."""
    return any(rec.get(key) is not None for key in GPU_READINGS)


class HostSampler:
    """``host`` records from psutil: CPU %, memory used/total, 1-minute load average.

    - ``cpu_pct``: system-wide CPU utilisation since the previous sample, percent of all cores (0-100),
      ``psutil.cpu_percent(interval=None)``; the constructor takes the baseline reading. Null when less than
      ``min_cpu_window_s`` of real time has passed since the previous reading (the kernel counts CPU time in
      ticks of about 10 ms, so a shorter window gives 0 % or 100 % noise).
    - ``mem_used_mib``: ``total - available`` (memory that cannot be handed out without swapping), MiB.
    - ``load1``: 1-minute load average (``os.getloadavg``; emulated by psutil where the OS lacks it).
    """

    def __init__(self, *, min_cpu_window_s: float = 0.05) -> None:
        self.min_cpu_window_s = min_cpu_window_s
        psutil.cpu_percent(interval=None)
        self._cpu_read_at = time.monotonic()

    def sample(self, t: int) -> dict[str, Any]:
        now = time.monotonic()
        cpu: float | None = None
        if now - self._cpu_read_at >= self.min_cpu_window_s:
            cpu = psutil.cpu_percent(interval=None)
            self._cpu_read_at = now
        mem = psutil.virtual_memory()
        try:
            load1: float | None = psutil.getloadavg()[0]
        except (OSError, AttributeError):  # pragma: no cover - platforms without a load average
            load1 = None
        return host_record(
            t=t, cpu_pct=cpu, mem_total_bytes=mem.total, mem_available_bytes=mem.available, load1=load1
        )


def host_record(
    *,
    t: int,
    cpu_pct: float | None,
    mem_total_bytes: float | None,
    mem_available_bytes: float | None,
    load1: float | None,
) -> dict[str, Any]:
    """One ``host`` record (``host`` is added by the recorder): ``mem_used_mib`` = total - available."""
    used = None
    if mem_total_bytes is not None and mem_available_bytes is not None:
        used = mem_total_bytes - mem_available_bytes
    return {
        "type": "host",
        "t": t,
        "cpu_pct": number(cpu_pct),
        "mem_used_mib": number(used, 1 / MIB),
        "mem_total_mib": number(mem_total_bytes, 1 / MIB),
        "load1": number(load1),
    }
