"""Run the simulated server until SIGINT or SIGTERM (what ``traceanalyzer sim serve`` calls)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from recorders.simserver.scenario import Scenario
from recorders.simserver.server import SimServer
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
    server = SimServer(scenario, seed=seed, truth_path=truth_path)
    runner = web.AppRunner(server.make_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if on_ready is not None:
        on_ready(runner.addresses[0][1])
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


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
