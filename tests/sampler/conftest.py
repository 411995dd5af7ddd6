"""Fixtures of the sampler tests: a fake monotonic clock, the stand-in ``pynvml`` and ``nvidia-smi``, a real
loopback HTTP server serving recorded-format metrics text, and a trace reader."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from recorders.gpu.runtime import SamplingControl
from recorders.gpu.testing import FakeGpu, fake_pynvml
from recorders.tracefile import Clock

DATA = Path(__file__).parent / "data"
WALL0 = 1_700_000_000_000_000_000  # epoch ns of the fake clock's anchor


class FakeClock:
    """A monotonic clock that only moves when ``sleep`` or ``advance`` is called."""

    def __init__(self, mono0: int = 5_000_000_000) -> None:
        self.now = mono0
        self.wall0 = WALL0
        self.sleeps: list[float] = []
        self.on_sleep: list[Callable[[FakeClock], None]] = []

    def mono_ns(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += max(0, round(seconds * 1e9))

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        for hook in self.on_sleep:
            hook(self)
        await asyncio.sleep(0)

    def clock(self) -> Clock:
        """A trace clock on this fake: ``t = WALL0 + (mono - mono0)``."""
        return Clock(mono=self.mono_ns, wall_ns=WALL0, mono_ns=self.now)

    def control(self) -> SamplingControl:
        """Recorder timing on this fake clock (no real sleeping, no signal handlers)."""
        return SamplingControl(clock=self.clock(), sleep=self.sleep, handle_signals=False)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def read_trace() -> Callable[[Path], list[dict[str, Any]]]:
    """Every line of a trace file parsed as JSON (a partial line fails the test)."""

    def read(path: Path) -> list[dict[str, Any]]:
        return [json.loads(line) for line in Path(path).read_text().splitlines()]

    return read


@pytest.fixture
def no_nvidia_driver() -> None:
    """Skip on a machine where the real nvidia-ml-py reaches a driver (these tests are about its absence)."""
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return
    pynvml.nvmlShutdown()  # pragma: no cover - only on a GPU host
    pytest.skip("this machine has a working NVIDIA driver")  # pragma: no cover


@pytest.fixture
def install_fake_nvml(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Put a stand-in ``pynvml`` (real nvidia-ml-py exception classes) into ``sys.modules``."""

    def install(gpus: list[FakeGpu], *, init_error: int | None = None) -> Any:
        module = fake_pynvml(gpus, init_error=init_error)
        monkeypatch.setitem(sys.modules, "pynvml", module)
        return module

    return install


@pytest.fixture
def nvidia_smi_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Install the stand-in ``nvidia-smi`` first on PATH; returns the file its pid is written to."""

    def install(mode: str = "loop", frames: Path = DATA / "nvidia_smi_frames.csv") -> Path:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        exe = bin_dir / "nvidia-smi"
        source = (DATA / "fake_nvidia_smi.py").read_text()
        exe.write_text(f"#!{sys.executable}\n{source}")
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        pidfile = tmp_path / "nvidia-smi.pid"
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        monkeypatch.setenv("FAKE_SMI_MODE", mode)
        monkeypatch.setenv("FAKE_SMI_FRAMES", str(frames))
        monkeypatch.setenv("FAKE_SMI_PIDFILE", str(pidfile))
        return pidfile

    return install


@dataclass
class Route:
    body: bytes
    status: int = 200
    delay_s: float = 0.0


class MetricsServer:
    """A real aiohttp server on 127.0.0.1 in its own thread; routes are set and changed by the test."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._runner: web.AppRunner | None = None

    def set(self, path: str, body: str | bytes, *, status: int = 200, delay_s: float = 0.0) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = Route(data, status, delay_s)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="404: Not Found")
        if route.delay_s:
            await asyncio.sleep(route.delay_s)
        return web.Response(body=route.body, status=route.status, headers={"Content-Type": "text/plain"})

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.SockSite(self._runner, self._sock).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def start(self) -> MetricsServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


@pytest.fixture
def metrics_server() -> Iterator[MetricsServer]:
    server = MetricsServer().start()
    try:
        yield server
    finally:
        server.stop()


class EndpointPlan:
    """Changes what a :class:`MetricsServer` route serves as a fake clock advances (an ``on_sleep`` hook).

    ``phases``: ``(from_s, until_s, body, status, delay_s)``, seconds since the plan started; outside every
    phase the route serves ``good`` with status 200.
    """

    def __init__(
        self,
        clock: FakeClock,
        server: MetricsServer,
        path: str,
        good: str,
        phases: list[tuple[float, float, str, int, float]],
    ) -> None:
        self.start, self.server, self.path, self.good, self.phases = clock.now, server, path, good, phases
        server.set(path, good)
        clock.on_sleep.append(self)

    def __call__(self, clock: FakeClock) -> None:
        elapsed = (clock.now - self.start) / 1e9
        for from_s, until_s, body, status, delay_s in self.phases:
            if from_s <= elapsed < until_s:
                self.server.set(self.path, body, status=status, delay_s=delay_s)
                return
        self.server.set(self.path, self.good)


@pytest.fixture
def endpoint_plan(fake_clock: FakeClock, metrics_server: MetricsServer) -> Callable[..., str]:
    """``endpoint_plan(path, good, phases) -> url``: see :class:`EndpointPlan`."""

    def plan(path: str, good: str, phases: list[tuple[float, float, str, int, float]]) -> str:
        EndpointPlan(fake_clock, metrics_server, path, good, phases)
        return metrics_server.url(path)

    return plan


@pytest.fixture
def fixture_text() -> Callable[[str], str]:
    """The text of a recorded-format fixture under ``tests/sampler/data``."""

    def read(name: str) -> str:
        return (DATA / name).read_text()

    return read
