"""A local Langfuse public-API stand-in (aiohttp on loopback, in a thread) serving generations in the
documented v2 (cursor) and v1 (page numbers) shapes, with Basic auth, 404 for a missing v2, and scripted
429/503 answers."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

PUBLIC, SECRET = "pk-lf-test", "sk-lf-test-secret"


def iso(ms: int) -> str:
    """Epoch milliseconds as Langfuse writes times (ISO 8601, milliseconds, Z)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class FakeLangfuse:
    observations: list[dict[str, Any]]
    v2: bool = True
    url: str = ""
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    """(status, headers) answered before the real pages, in order."""
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    on_request: Callable[[int], None] | None = None
    """Called with the number of each request (from 1) before it is answered."""

    def _selected(self, query: Any) -> list[dict[str, Any]]:
        assert query["type"] == "GENERATION"
        lo, hi = query["fromStartTime"], query["toStartTime"]
        chosen = [o for o in self.observations if lo <= o["startTime"] < hi]
        if "environment" in query:
            chosen = [o for o in chosen if o.get("environment") == query["environment"]]
        return sorted(chosen, key=lambda o: o["startTime"], reverse=True)  # newest first, as Langfuse does

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.query)))
        if self.on_request is not None:
            self.on_request(len(self.requests))
        expected = "Basic " + base64.b64encode(f"{PUBLIC}:{SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"message": "Invalid credentials"}, status=401)
        if self.script:
            status, headers = self.script.pop(0)
            return web.json_response({"message": "slow down"}, status=status, headers=headers)
        chosen = self._selected(request.query)
        limit = int(request.query["limit"])
        if request.path == "/api/public/v2/observations":
            if not self.v2:
                return web.json_response({"message": "Not found"}, status=404)
            fields = set(request.query["fields"].split(","))
            assert {"core", "basic", "time", "usage", "model"} <= fields
            start = int(base64.b64decode(request.query["cursor"])) if "cursor" in request.query else 0
            page = chosen[start : start + limit]
            meta: dict[str, Any] = {}
            if start + limit < len(chosen):
                meta["cursor"] = base64.b64encode(str(start + limit).encode()).decode()
            return web.json_response({"data": [_v2(o) for o in page], "meta": meta})
        number = int(request.query["page"])
        page = chosen[(number - 1) * limit : number * limit]
        total_pages = (len(chosen) + limit - 1) // limit
        meta = {"page": number, "limit": limit, "totalItems": len(chosen), "totalPages": total_pages}
        return web.json_response({"data": [_v1(o) for o in page], "meta": meta})


def _v2(o: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in o.items() if k != "model"}
    out["providedModelName"] = o["model"]
    return out


def _v1(o: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in o.items() if k not in ("sessionId", "userId")}  # v1 has no sessionId
    usage = o.get("usageDetails") or {}
    out["usage"] = {"input": usage.get("input"), "output": usage.get("output"), "unit": "TOKENS"}
    return out


@contextmanager
def fake_langfuse(observations: list[dict[str, Any]], *, v2: bool = True) -> Iterator[FakeLangfuse]:
    fake = FakeLangfuse(observations, v2=v2)
    app = web.Application()
    app.router.add_get("/api/public/v2/observations", fake.handle)
    app.router.add_get("/api/public/observations", fake.handle)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def generations(n: int, t0_ms: int) -> list[dict[str, Any]]:
    """``n`` generations one second apart with varied TTFTs, every fifth one an error, a session for the
    even ones, reasoning tokens on the third."""
    out = []
    for i in range(n):
        start = t0_ms + i * 1000
        ttft_ms = 100 + 37 * i
        error = i % 5 == 4
        obs: dict[str, Any] = {
            "id": f"gen-{i:03d}",
            "traceId": f"trace-{i:03d}",
            "type": "GENERATION",
            "name": "llm-generation",
            "parentObservationId": None,
            "startTime": iso(start),
            "completionStartTime": None if error else iso(start + ttft_ms),
            "endTime": iso(start + ttft_ms + 400 + 11 * i),
            "level": "ERROR" if error else "DEFAULT",
            "statusMessage": "Error code: 429 - rate limit exceeded" if error else "",
            "environment": "production",
            "sessionId": f"chat-{i // 2}" if i % 2 == 0 else None,
            "model": "gpt-4o" if i % 3 else "llama-3-8b",
            "modelParameters": {"temperature": 0.2},
            "usageDetails": {"input": 90 + i, "output": 20 + i, "total": 110 + 2 * i},
            "metadata": {"attributes": {"gen_ai.response.id": f"chatcmpl-{i}"}},
        }
        if i == 2:
            obs["usageDetails"] = {"input": 92, "output": 12, "output_reasoning_tokens": 10, "total": 114}
        out.append(obs)
    return out


def write_jsonl(path: Any, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
