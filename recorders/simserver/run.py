"""Run the simulated server until SIGINT or SIGTERM (what ``traceanalyzer sim serve`` calls)."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from recorders.simserver.scenario import Scenario
from recorders.simserver.server import SimServer
from recorders.simserver.wire import ReadStamps
from traceanalyzer.errors import UsageError


async def serve(
    scenario: Scenario,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    seed: int = 1,
    truth_path: str | Path | None = None,
    on_ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (or SIGINT / SIGTERM); ``on_ready(port)`` once listening (port 0 = any)."""
    stamps = ReadStamps()
    server = SimServer(scenario, seed=seed, truth_path=truth_path, read_stamps=stamps)
    runner = web.AppRunner(server.make_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    assert runner.server is not None
    loop = asyncio.get_running_loop()
    try:  # aiohttp's own protocol factory behind the read stamps (what web.TCPSite does, plus the stamps)
        listener = await loop.create_server(stamps.wrap(runner.server), host, port, backlog=4096)
    except OSError as exc:
        await runner.cleanup()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    stop = stop or asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    gc.collect()
    gc.freeze()  # the server's start-up objects live all run: keep them out of every collection
    if on_ready is not None:
        on_ready(listener.sockets[0].getsockname()[1])
    try:
        await stop.wait()
    finally:
        listener.close()
        await runner.cleanup()
        gc.unfreeze()


def run(
    scenario: Scenario,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    seed: int = 1,
    truth_path: str | Path | None = None,
    event_loop: str = "auto",
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Blocking :func:`serve` on uvloop (``event_loop="auto"`` when installed, or ``"uvloop"``) or asyncio."""
    main = serve(scenario, host=host, port=port, seed=seed, truth_path=truth_path, on_ready=on_ready)
    if event_loop in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if event_loop == "uvloop":
                raise UsageError("uvloop is not installed (pip install uvloop)") from None
        else:
            uvloop.run(main)
            return
    asyncio.run(main)
