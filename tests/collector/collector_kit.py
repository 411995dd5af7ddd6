"""Helpers of the collector tests: running the collector in-process, reading traces, and a small real HTTP
server on loopback for the failures the simulated server does not produce (a connection closed before any
response, a stream cut without an error event) and for checking what the collector sends.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from recorders.http_stream.collector import CollectorResult, run_collector
from recorders.http_stream.config import CollectorConfig
from recorders.simserver.testing import SimServerHandle, run_simserver

BURST_CHUNKS = 5000
"""Text chunks the misbehaving server's ``burst`` answer writes at once."""

#: Fast fixed timings for most tests: first token 40 ms after arrival, then one every 5 ms.
FAST = {"timing.mode": "fixed", "timing.ttft_ms": 40.0, "timing.gap_ms": 5.0}


def read_trace(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def requests_of(path: Path) -> list[dict[str, Any]]:
    return [r for r in read_trace(path) if r["type"] == "request"]


def collect(url: str, model: str, out: Path, **options: Any) -> CollectorResult:
    """Run the collector in this process (no progress line), like ``traceanalyzer record http`` does."""
    options.setdefault("progress", False)
    options.setdefault("timeout_s", 30.0)
    return run_collector(CollectorConfig(url=url, model=model, out=str(out), **options))


def write_prompts(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fast_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServerHandle]:
    """One simulated server with fast fixed timings and a truth file, shared by a test module."""
    truth = tmp_path_factory.mktemp("sim") / "truth.jsonl"
    with run_simserver("fixed-timing", truth=truth, overrides=FAST) as sim:
        yield sim


def truth_by_id(sim: SimServerHandle, records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The server's ground truth, keyed by response id, once it holds every one of ``records`` (the client's
    request records; the server writes its record a moment after the client may have seen the end)."""
    wanted = [r.get("response_id") for r in records]
    return {t["id"]: t for t in sim.truth_records(wait_for=wanted)}


# -- a deliberately misbehaving server -----------------------------------------------------------------------
@dataclass
class MisbehavingServer:
    """``POST /v1/chat/completions`` answered according to the prompt text:

    - ``reset``: the connection is closed before any response;
    - ``cut``: a stream of 3 text chunks, then the connection is dropped (no error event, no [DONE]);
    - ``json``: a non-streamed JSON completion (a server that ignores ``stream``);
    - ``echo``: a 401 whose message repeats the request's Authorization header (as careless servers do);
    - ``burst``: 5,000 text chunks (about 0.6 MB) in writes of 100 chunks 2 ms apart;
    - anything else: a normal 4-chunk stream with usage and [DONE].
    Every request's headers and body are kept in ``seen``.
    """

    port: int = 0
    seen: list[dict[str, Any]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def _chunk(rid: str, content: str | None = None, finish: str | None = None, role: bool = False) -> bytes:
    delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {"content": content}
    obj = {
        "id": rid,
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _make_app(state: MisbehavingServer) -> web.Application:
    counter = iter(range(1, 10**9))

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "m"}]})

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        state.seen.append({"headers": dict(request.headers), "body": body})
        prompt = body["messages"][-1]["content"]
        rid = f"chatcmpl-mis-{next(counter)}"
        if prompt == "reset":
            assert request.transport is not None
            request.transport.abort()
            raise ConnectionResetError("closed on purpose")
        if prompt == "echo":
            auth = request.headers.get("Authorization", "")
            return web.json_response(
                {"error": {"message": f"Incorrect API key provided: {auth}"}}, status=401
            )
        if prompt == "json":
            return web.json_response(
                {
                    "id": rid,
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "whole answer"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
                }
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "x-request-id": rid})
        await resp.prepare(request)
        if prompt == "burst":
            for start in range(0, BURST_CHUNKS, 100):
                await resp.write(b"".join(_chunk(rid, f" t{i}") for i in range(start, start + 100)))
                await asyncio.sleep(0.002)
            await resp.write(_chunk(rid, " end", finish="stop") + b"data: [DONE]\n\n")
            return resp
        await resp.write(_chunk(rid, role=True))
        for i in range(3):
            await asyncio.sleep(0.005)
            await resp.write(_chunk(rid, f" part{i}"))
        if prompt == "cut":
            await asyncio.sleep(0.005)
            assert request.transport is not None
            request.transport.abort()
            return resp
        await resp.write(_chunk(rid, " end", finish="stop"))
        usage = {
            "id": rid,
            "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        }
        await resp.write(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
        return resp

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    return app


@pytest.fixture
def misbehaving_server() -> Iterator[MisbehavingServer]:
    """:class:`MisbehavingServer` on a free loopback port, served from a thread with its own event loop."""
    state = MisbehavingServer()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner = web.AppRunner(_make_app(state), handle_signals=False)

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state.port = runner.addresses[0][1]
        ready.set()

    thread = threading.Thread(
        target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True
    )
    thread.start()
    assert ready.wait(10), "test server did not start"
    try:
        yield state
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
