"""Fixtures of the Prometheus importer tests: a recording proxy (what each exporter served to Prometheus,
and when), a node exporter, and builders of ``query_range`` responses."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import aiohttp
import pytest
from aiohttp import web

from recorders.prometheus_import.testing import free_port
from recorders.simserver.testing import stop_process


@dataclass
class Served:
    """One body a proxied exporter served: when the request came in and when it was answered (epoch ns)."""

    path: str
    t_start: int
    t_end: int
    body: str


class LoopbackApp:
    """A real aiohttp server on 127.0.0.1 in its own thread, every GET going to ``handle``; a context
    manager. ``client`` is an aiohttp session on the server's loop, for handlers that call out."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def handle(self, request: web.Request) -> web.Response:
        raise NotImplementedError

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.handle)
        runner = web.AppRunner(app, access_log=None)

        async def start() -> None:
            self.client = aiohttp.ClientSession()
            await runner.setup()
            await web.SockSite(runner, self._sock).start()

        self._loop.run_until_complete(start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self.client.close())
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class RecordingProxy(LoopbackApp):
    """Forwards ``/NAME`` to an upstream metrics URL and keeps every body it passed on, so a test knows
    exactly what Prometheus scraped, and when."""

    def __init__(self, upstreams: Mapping[str, str]) -> None:
        super().__init__()
        self.upstreams = upstreams
        self.served: list[Served] = []

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def bodies(self, name: str) -> list[Served]:
        return [s for s in self.served if s.path == name]

    async def handle(self, request: web.Request) -> web.Response:
        name = request.path.strip("/")
        t_start = time.time_ns()
        async with self.client.get(self.upstreams[name]) as resp:
            body = await resp.read()
            status = resp.status
        self.served.append(Served(name, t_start, time.time_ns(), body.decode()))
        return web.Response(body=body, status=status, content_type="text/plain")


NODE_EXPORTER_ARGS = (
    "--collector.disable-defaults",
    "--collector.cpu",
    "--collector.meminfo",
    "--collector.loadavg",
)


@pytest.fixture(scope="module")
def node_exporter() -> Iterator[str | None]:
    """The metrics URL of a real node exporter on a loopback port, or None when it is not installed."""
    binary = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if binary is None:
        yield None
        return
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}", *NODE_EXPORTER_ARGS],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        stop_process(process)


def matrix(series: list[tuple[dict[str, str], list[tuple[float, Any]]]]) -> str:
    """A ``query_range`` response body: each series as (labels with ``__name__``, [(unix s, value)])."""
    result = [
        {"metric": labels, "values": [[t, v if isinstance(v, str) else repr(float(v))] for t, v in points]}
        for labels, points in series
    ]
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}})


@pytest.fixture
def write_responses(tmp_path: Path) -> Any:
    """``write_responses({"dcgm.json": body, ...}) -> directory`` of saved responses."""

    def write(files: Mapping[str, str]) -> Path:
        directory = tmp_path / "responses"
        directory.mkdir(exist_ok=True)
        for name, body in files.items():
            (directory / name).write_text(body)
        return directory

    return write


class QueryApi(LoopbackApp):
    """Speaks the two endpoints the importer uses: ``/api/v1/label/__name__/values`` answers ``names``;
    ``/api/v1/query_range`` answers what ``respond(params)`` returns, ``(status, body)``. Every request's
    path, parameters and headers are kept in ``requests``."""

    def __init__(self, names: list[str], respond: Callable[[dict[str, str]], tuple[int, str]]) -> None:
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}"
        self.names = names
        self.respond = respond
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        self.requests.append((request.path, params, dict(request.headers)))
        if request.path == "/api/v1/label/__name__/values":
            body = json.dumps({"status": "success", "data": self.names})
            return web.Response(text=body, content_type="application/json")
        if request.path == "/api/v1/query_range":
            status, body = self.respond(params)
            return web.Response(text=body, status=status, content_type="application/json")
        return web.Response(status=404, text="404 page not found")
