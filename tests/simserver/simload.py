"""A small closed-loop streaming client for the simulated server's tests (aiohttp, no recorder code).

``run_load(base_url, model, stages=[(seconds, concurrency), ...])`` keeps ``concurrency`` streams in flight
per stage (worker i is active while i < the stage's concurrency) and returns one :class:`Outcome` per request.
Bounded: it stops after the stages' total duration (+ the in-flight requests' own timeout).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import aiohttp


@dataclass
class Outcome:
    t_send: float  # seconds since the load started
    t_end: float
    status: int | None
    stage: int
    response_id: str | None = None
    error: dict | None = None  # the {"message", "type", "code"} object, from the body or a stream event
    in_stream: bool = False  # the error came as an event inside a 200 stream
    timed_out: bool = False  # the client's TTFT timeout fired
    chunks: list[float] = field(
        default_factory=list
    )  # arrival of text chunks, seconds since the load started
    text: str = ""
    usage: dict | None = None
    done: bool = False  # data: [DONE] seen

    @property
    def ok(self) -> bool:
        return self.error is None and not self.timed_out and self.status == 200

    @property
    def oom(self) -> bool:
        return self.error is not None and "out of memory" in str(self.error.get("message", "")).lower()

    @property
    def code(self) -> int | None:
        if self.error is None:
            return self.status
        return int(self.error.get("code") or self.status or 0)


async def _one(
    session: aiohttp.ClientSession,
    url: str,
    body: dict,
    t0: float,
    stage: int,
    ttft_timeout: float | None,
) -> Outcome:
    out = Outcome(t_send=time.monotonic() - t0, t_end=0.0, status=None, stage=stage)
    try:
        async with session.post(url, json=body) as resp:
            out.status = resp.status
            out.response_id = resp.headers.get("x-request-id")
            if resp.status != 200:
                out.error = (await resp.json()).get("error")
                return out
            it = resp.content.__aiter__()
            while True:
                wait = ttft_timeout if ttft_timeout is not None and not out.chunks else None
                try:
                    line = await asyncio.wait_for(it.__anext__(), wait)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    out.timed_out = True
                    break
                if not line.startswith(b"data: "):
                    continue
                payload = line[6:].strip()
                if payload == b"[DONE]":
                    out.done = True
                    continue
                event = json.loads(payload)
                if "error" in event:
                    out.error, out.in_stream = event["error"], True
                    continue
                if event.get("usage"):
                    out.usage = event["usage"]
                for choice in event.get("choices", []):
                    piece = choice.get("delta", {}).get("content") or choice.get("text") or ""
                    if piece:
                        out.chunks.append(time.monotonic() - t0)
                        out.text += piece
    finally:
        out.t_end = time.monotonic() - t0
    return out


async def run_load(
    base_url: str,
    model: str,
    stages: list[tuple[float, int]],
    *,
    prompt: str = "Tell me about the tides.",
    max_tokens: int = 128,
    ttft_timeout: float | None = None,
    extra: dict | None = None,
) -> list[Outcome]:
    """Closed-loop streaming chat load in stages of (seconds, concurrency); every outcome, in send order."""
    url = f"{base_url}/chat/completions"
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
        **(extra or {}),
    }
    bounds: list[tuple[float, int]] = []
    end = 0.0
    for seconds, concurrency in stages:
        end += seconds
        bounds.append((end, concurrency))
    outcomes: list[Outcome] = []
    t0 = time.monotonic()

    def stage_at(t: float) -> tuple[int, int] | None:
        for i, (limit, concurrency) in enumerate(bounds):
            if t < limit:
                return i, concurrency
        return None

    async def worker(i: int, session: aiohttp.ClientSession) -> None:
        while (now := stage_at(time.monotonic() - t0)) is not None:
            stage, concurrency = now
            if i >= concurrency:
                await asyncio.sleep(0.05)
                continue
            outcomes.append(await _one(session, url, body, t0, stage, ttft_timeout))

    width = max(c for _, c in stages)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(worker(i, session) for i in range(width)))
    return sorted(outcomes, key=lambda o: o.t_send)


def load(base_url: str, model: str, stages: list[tuple[float, int]], **kwargs: object) -> list[Outcome]:
    """Blocking :func:`run_load`."""
    return asyncio.run(run_load(base_url, model, stages, **kwargs))  # type: ignore[arg-type]
