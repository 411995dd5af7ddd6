"""nvidia-smi backend: one long-running ``nvidia-smi --query-gpu=... --format=csv,noheader,nounits -lms N``.

nvidia-smi prints one CSV line per GPU per loop. Each line is stamped with our clock when it arrives (its own
timestamps are local wall time and are not trusted for the clock); the lines that arrived since the previous
tick become records on that tick. With ``nounits`` the columns are MiB, W, degrees C, MHz and percent.

Values nvidia-smi cannot give are written in brackets: ``[N/A]`` and ``[Not Supported]`` become null
silently (a property of the board); any other (``[Unknown Error]``, ``[GPU is lost]``, ...) becomes null and
a ``gpu_read_failed`` event. Output that is not a data line (an error message) becomes an
``nvidia_smi_failed`` event. If the process exits mid-run it is reported and restarted, at most once every
``restart_after_s`` seconds. The child runs in its own session, so a Ctrl-C in the terminal reaches only the
recorder, which then stops the child itself. stdout is line-buffered through ``stdbuf -oL`` when available.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import shutil
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from recorders.gpu.faults import FaultLog
from recorders.gpu.records import gpu_record, has_readings, number
from recorders.tracefile import Clock
from traceanalyzer.errors import SourceUnreachableError

# (nvidia-smi query field, gpu record field), in the order they are queried.
SMI_FIELDS: tuple[tuple[str, str], ...] = (
    ("index", "gpu"),
    ("uuid", "uuid"),
    ("name", "name"),
    ("utilization.gpu", "util_pct"),
    ("utilization.memory", "mem_util_pct"),
    ("memory.used", "mem_used_mib"),
    ("memory.total", "mem_total_mib"),
    ("power.draw", "power_w"),
    ("temperature.gpu", "temp_c"),
    ("clocks.sm", "sm_clock_mhz"),
)
UNAVAILABLE = frozenset({"[N/A]", "N/A", "[Not Supported]", "Not Supported", ""})
MAX_PENDING_LINES = 10_000


@dataclass
class SmiLine:
    """One parsed output line: a record (None when the line is not a data line) and per-field errors."""

    record: dict[str, Any] | None
    errors: dict[str, str] = field(default_factory=dict)


def parse_smi_line(line: str, t: int) -> SmiLine:
    """Parse one ``--format=csv,noheader,nounits`` line of the :data:`SMI_FIELDS` query, stamped ``t``."""
    try:
        cells = next(csv.reader([line], skipinitialspace=True))
    except (csv.Error, StopIteration):
        return SmiLine(None)
    cells = [c.strip() for c in cells]
    if len(cells) != len(SMI_FIELDS) or not cells[0].isdigit():
        return SmiLine(None)
    readings: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for (_, key), cell in zip(SMI_FIELDS[3:], cells[3:], strict=True):
        value = None if cell in UNAVAILABLE else number(cell)
        if value is None and cell not in UNAVAILABLE:
            errors[key] = cell.strip("[]")
        readings[key] = value
    uuid = None if cells[1] in UNAVAILABLE else cells[1]
    name = None if cells[2] in UNAVAILABLE else cells[2]
    rec = gpu_record(t=t, gpu=int(cells[0]), uuid=uuid, name=name, readings=readings, source="nvidia-smi")
    return SmiLine(rec, errors)


_REMOTE_HINT = "use --backend dcgm --url ... to sample a remote exporter"


def _start_error(output: list[str], returncode: int | None) -> str:
    text = " ".join(output)
    if "NVIDIA driver" in text or "couldn't communicate" in text:
        return f"nvidia-smi found no NVIDIA driver on this host; {_REMOTE_HINT}"
    if "No devices were found" in text:
        return f"nvidia-smi found no NVIDIA GPU on this host; {_REMOTE_HINT}"
    first = output[0] if output else "no output"
    return f"nvidia-smi exited with code {returncode} before printing a sample: {first[:200]}"


class NvidiaSmiBackend:
    """GPU readings from a long-running nvidia-smi process."""

    source = "nvidia-smi"

    def __init__(
        self,
        *,
        interval_s: float,
        clock: Clock,
        executable: str = "nvidia-smi",
        start_timeout_s: float | None = None,
        restart_after_s: float = 5.0,
    ) -> None:
        self.interval_ms = max(1, round(interval_s * 1000))
        self.clock = clock
        self.executable = executable
        self.start_timeout_s = start_timeout_s if start_timeout_s is not None else max(10.0, 3 * interval_s)
        self.restart_after_s = restart_after_s
        self._exe: str | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lines: deque[tuple[int, str]] = deque(maxlen=MAX_PENDING_LINES)
        self._got_line = asyncio.Event()
        self._spawned_mono = 0
        self.restarts = 0

    def command(self, executable: str) -> list[str]:
        query = ",".join(name for name, _ in SMI_FIELDS)
        cmd = [
            executable,
            f"--query-gpu={query}",
            "--format=csv,noheader,nounits",
            "-lms",
            str(self.interval_ms),
        ]
        stdbuf = shutil.which("stdbuf")
        return [stdbuf, "-oL", *cmd] if stdbuf else cmd

    async def open(self) -> None:
        exe = shutil.which(self.executable)
        if exe is None:
            raise SourceUnreachableError(
                f"{self.executable} not found on PATH; install the NVIDIA driver utilities, "
                "or use --backend dcgm --url ... to sample a remote exporter"
            )
        self._exe = exe
        await self._spawn()
        assert self._reader is not None
        first_data = asyncio.ensure_future(self._first_data_line())
        try:
            done, _ = await asyncio.wait(
                {first_data, self._reader}, timeout=self.start_timeout_s, return_when="FIRST_COMPLETED"
            )
        finally:
            first_data.cancel()
        if first_data in done:
            return
        if self._reader in done:  # exited without a sample
            output = [text for _, text in self._lines if text.strip()]
            rc = self._proc.returncode if self._proc else None
            raise SourceUnreachableError(_start_error(output, rc))
        # Alive but silent: carry on; a silent run shows up as missing gpu records, not as a hang here.

    async def _first_data_line(self) -> None:
        while not any(parse_smi_line(text, 0).record for _, text in self._lines):
            self._got_line.clear()
            await self._got_line.wait()

    async def _spawn(self) -> None:
        assert self._exe is not None
        self._proc = await asyncio.create_subprocess_exec(
            *self.command(self._exe),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            limit=1 << 20,  # bytes per line at most (nvidia-smi's are about 150)
        )
        self._spawned_mono = self.clock.mono_ns()
        self._reader = asyncio.create_task(self._read(self._proc))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                break
            t = self.clock.now_ns()  # stamped on arrival
            self._lines.append((t, raw.decode("utf-8", "replace").rstrip("\r\n")))
            self._got_line.set()
        await proc.wait()

    async def sample(self, t: int, faults: FaultLog) -> list[dict[str, Any]]:
        """Records for every line that arrived since the previous tick (each with its arrival time)."""
        records = []
        while self._lines:
            t_line, text = self._lines.popleft()
            parsed = parse_smi_line(text, t_line)
            if parsed.record is None:
                if text.strip():
                    faults.fail(
                        ("nvidia-smi", "output"), "nvidia_smi", text.strip()[:300], source=self.source
                    )
                continue
            faults.ok(("nvidia-smi", "output"))
            faults.ok(("nvidia-smi", "process"))
            rec = parsed.record
            faults.gpu_errors(rec["gpu"], rec["uuid"], parsed.errors, source=self.source)
            if has_readings(parsed.record):
                records.append(parsed.record)
        if self._reader is not None and self._reader.done():
            await self._restart(faults)
        return records

    async def _restart(self, faults: FaultLog) -> None:
        rc = self._proc.returncode if self._proc else None
        faults.fail(
            ("nvidia-smi", "process"), "nvidia_smi", f"nvidia-smi exited with code {rc}", source=self.source
        )
        if (self.clock.mono_ns() - self._spawned_mono) / 1e9 >= self.restart_after_s:
            self.restarts += 1
            await self._spawn()

    async def close(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=3)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
