"""The simulated server: aiohttp handlers, the token scheduler and the ground-truth file.

One asyncio task, the scheduler, sleeps until the engine's next deadline (``loop.call_later`` on a future,
re-armed when a new request moves the deadline), checks that the deadline has really passed (timers may fire
a little early, a token is never sent early), advances the engine to now and writes every resulting chunk in
one pass: all streams that emit at the same engine step are written at the same tick, without waking their
handler tasks. A stream whose client reads slowly gets its chunks queued and written by a task of its own, so
it cannot hold up the others.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

from aiohttp import web

from recorders.simserver import errors
from recorders.simserver.chunks import DONE, ChunkFormat, completion_body
from recorders.simserver.engine import Engine, FixedTiming, Sequence, Token
from recorders.simserver.engine import Event as EngineEvent
from recorders.simserver.errors import ApiError
from recorders.simserver.frontend import (
    ParsedRequest,
    RateLimiter,
    injected_rejection,
    message_tokens,
    parse_request,
)
from recorders.simserver.prefix_cache import PrefixCache, Segment, chain, prompt_digest, session_of
from recorders.simserver.scenario import Scenario
from recorders.simserver.telemetry import Telemetry
from recorders.simserver.text import TextModel, parse_markers, stable_rng
from recorders.simserver.truth import TruthFile
from recorders.simserver.wire import ReadStamps
from recorders.tracefile import Clock

_SLOW_CLIENT_BYTES = 32 * 1024  # below aiohttp's 64 KiB high-water mark: a direct write never waits
_PROMPT_COUNTER_LIMIT = 100_000  # distinct marked prompts remembered for paraphrase / diverge


Talk = tuple[str | None, int | None, str | None]
"""A request's session id, turn and prompt digest (:mod:`.prefix_cache`), for the truth file."""
_NO_TALK: Talk = (None, None, None)


class _Live:
    """Server-side state of one accepted request, and its ground-truth record."""

    __slots__ = (
        "backlog",
        "cached",
        "chunks",
        "done",
        "drainer",
        "finish_reason",
        "fmt",
        "parsed",
        "prefixes",
        "request",
        "resp",
        "result",
        "rid",
        "sched",
        "seq",
        "t_arrival",
        "t_headers",
        "t_received",
        "talk",
        "tokens",
    )

    def __init__(self, rid: str, parsed: ParsedRequest, tokens: list[str], finish_reason: str) -> None:
        self.rid = rid
        self.parsed = parsed
        self.tokens = tokens
        self.finish_reason = finish_reason
        self.seq: Sequence | None = None
        self.fmt: ChunkFormat | None = None
        self.request: web.Request | None = None
        self.resp: web.StreamResponse | None = None
        self.backlog: list[bytes] | None = None
        self.drainer: asyncio.Task[None] | None = None
        self.done: asyncio.Future[ApiError | None] = asyncio.get_running_loop().create_future()
        self.result: str = ""
        self.t_arrival = 0
        self.t_received = 0
        self.t_headers: int | None = None
        self.chunks: list[int] = []
        self.sched: list[int] = []
        self.cached: int | None = None  # prompt tokens found in the prefix cache (None: no cache)
        self.prefixes: list[Segment] = []
        self.talk: Talk = _NO_TALK


class SimServer:
    """One simulated OpenAI-compatible server (build the aiohttp app with :meth:`make_app`)."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int = 1,
        truth_path: str | Path | None = None,
        clock: Clock | None = None,
        hostname: str | None = None,
        read_stamps: ReadStamps | None = None,
    ) -> None:
        """``read_stamps``: the connections' socket-read stamps (:mod:`.wire`) for the truth's
        ``t_received``; without them it is the handler's start."""
        self.scenario = scenario
        self.read_stamps = read_stamps
        self.seed = seed
        self.clock = clock or Clock()
        self.engine: Engine | FixedTiming = (
            FixedTiming(scenario, seed) if scenario.timing.mode == "fixed" else Engine(scenario, seed)
        )
        m = scenario.model
        self.text = TextModel(seed, m.answer_sentences_min, m.answer_sentences_max)
        self.telemetry = Telemetry(scenario, self.engine, self.clock, seed, hostname or socket.gethostname())
        rl = scenario.rate_limit
        self.limiter = RateLimiter(rl.rps, rl.burst, rl.max_concurrent)
        self.truth = TruthFile(truth_path, scenario, seed, self.clock) if truth_path else None
        self.live: set[_Live] = set()
        self.requests_seen = 0
        e = scenario.engine
        self.prefix_cache = (
            PrefixCache(e.prefix_cache_tokens, e.prefix_block_tokens) if e.prefix_cache_tokens > 0 else None
        )
        self._occurrences: dict[str, int] = {}
        self._wake: asyncio.Future[None] | None = None
        self._armed: int | None = None
        self._scheduler: asyncio.Task[None] | None = None

    # -- app -------------------------------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/metrics/dcgm", self._dcgm)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._stop)
        return app

    async def _start(self, app: web.Application) -> None:
        self._scheduler = asyncio.create_task(self._run_scheduler(), name="simserver-scheduler")

    async def _stop(self, app: web.Application) -> None:
        """End every request in flight (truth outcome ``server_stopped``), stop the scheduler, close truth."""
        for live in list(self.live):
            if live.seq is not None:
                self.engine.abort(live.seq)
            self._finish(live, "server_stopped", error=errors.engine_dead())
        if self._scheduler is not None:
            self._scheduler.cancel()
        if self.truth is not None:
            self.truth.close()

    # -- plain endpoints -------------------------------------------------------------------------------------
    async def _models(self, request: web.Request) -> web.Response:
        m = self.scenario.model
        card = {
            "id": m.name,
            "object": "model",
            "created": self.clock.wall0 // 1_000_000_000,
            "owned_by": "traceanalyzer-sim",
            "root": m.name,
            "parent": None,
            "max_model_len": m.max_model_len,
        }
        return web.json_response({"object": "list", "data": [card]})

    async def _health(self, request: web.Request) -> web.Response:
        if self.engine.dead(self.clock.mono_ns()):
            return _error_response(errors.engine_dead(), None, status=503)
        return web.Response(status=200)

    async def _metrics(self, request: web.Request) -> web.Response:
        return _prometheus(self.telemetry.vllm_text())

    async def _dcgm(self, request: web.Request) -> web.Response:
        return _prometheus(self.telemetry.dcgm_text())

    # -- completions -----------------------------------------------------------------------------------------
    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "chat")

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "completions")

    async def _serve(self, request: web.Request, api: str) -> web.StreamResponse:
        now = self.clock.mono_ns()
        t_arrival = self.clock.to_epoch_ns(now)
        self.requests_seen += 1
        rng = stable_rng(self.seed, "request", self.requests_seen)
        rid = f"{'chatcmpl' if api == 'chat' else 'cmpl'}-{rng.getrandbits(96):024x}"
        error = self.limiter.check(now, len(self.live))
        parsed: ParsedRequest | ApiError = error or errors.bad_request("The request body is not valid JSON.")
        talk = _NO_TALK
        if error is None:
            try:
                body = json.loads(await request.read())
            except (ValueError, UnicodeDecodeError):
                pass
            else:
                talk = (*session_of(request.headers, body), prompt_digest(body))
                parsed = parse_request(api, body, self.scenario)
                if not isinstance(parsed, ApiError):
                    parsed = injected_rejection(parsed, self.scenario, rng) or parsed
        t_received = self._received(request, t_arrival)
        if isinstance(parsed, ApiError):
            return await self._reject(rid, api, (t_received, t_arrival), parsed, talk)

        tokens, finish_reason = self.text.answer_tokens(
            parsed.prompt,
            self._occurrence(parsed.prompt),
            parsed.max_tokens,
            ignore_eos=parsed.ignore_eos,
            min_tokens=parsed.min_tokens,
        )
        fail_at = None
        if len(tokens) > 1 and rng.random() < self.scenario.faults.stream_error_fraction:
            fail_at = rng.randint(1, len(tokens) - 1)
        live = _Live(rid, parsed, tokens, finish_reason)
        live.t_arrival, live.t_received = t_arrival, t_received
        live.talk = talk
        seq = Sequence(rid, parsed.prompt_tokens, len(tokens), now, fail_at=fail_at, owner=live)
        cache = self.prefix_cache
        if cache is not None:
            live.prefixes = chain([(r, t) for r, t, _ in parsed.parts], [n for _, _, n in parsed.parts])
            seq.cached = live.cached = cache.lookup(live.prefixes, parsed.prompt_tokens)
        error = self.engine.submit(seq, now)
        if error is not None:
            return await self._reject(rid, api, (t_received, t_arrival), error, talk)
        if cache is not None:
            cache.insert(live.prefixes)
            self.telemetry.prefix_queries.inc(parsed.prompt_tokens)
            self.telemetry.prefix_hits.inc(seq.cached)
        live.seq = seq
        self.live.add(live)
        self.telemetry.prompt_tokens.inc(parsed.prompt_tokens)
        created = t_arrival // 1_000_000_000
        if parsed.stream:
            live.fmt = ChunkFormat(api, rid, created, parsed.model)
            live.request = request
            live.backlog = []  # chunks due before the headers are out wait here
            live.resp = web.StreamResponse(headers=_stream_headers(rid))
            try:
                await live.resp.prepare(request)
            except (ConnectionError, RuntimeError):
                self.engine.abort(seq)
                self._finish(live, "client_disconnected")
                raise
            live.t_headers = self.clock.now_ns()
            await self._drain(live)
        await self._kick()
        outcome = await live.done
        if live.drainer is not None:
            await live.drainer
        if live.resp is not None:
            return live.resp
        if outcome is not None:
            return _error_response(outcome, rid)
        body = completion_body(
            api,
            rid,
            created,
            parsed.model,
            live.result,
            finish_reason,
            parsed.prompt_tokens,
            len(tokens),
            live.cached,
        )
        return web.json_response(body, headers={"x-request-id": rid})

    def _received(self, request: web.Request, t_arrival: int) -> int:
        """When the request's last bytes read so far came off the socket (the whole request, once its body
        was read), epoch ns; the handler's start without read stamps."""
        read_ns = None if self.read_stamps is None else self.read_stamps.last_read_ns(request.transport)
        return t_arrival if read_ns is None else self.clock.to_epoch_ns(read_ns)

    def _occurrence(self, prompt: str) -> int:
        """How many earlier requests had this prompt (tracked only for paraphrase / diverge markers)."""
        markers = parse_markers(prompt)
        if not (markers.paraphrase or markers.diverge):
            return 0
        k = self._occurrences.get(prompt, 0)
        if k == 0 and len(self._occurrences) >= _PROMPT_COUNTER_LIMIT:
            self._occurrences.clear()
        self._occurrences[prompt] = k + 1
        return k

    # -- scheduling ------------------------------------------------------------------------------------------
    async def _kick(self) -> None:
        """After a submit: start an idle engine now, and re-arm the scheduler if the deadline moved."""
        if self.engine.deadline is None:
            await self._deliver(self.engine.tick(self.clock.mono_ns()))
        if self.engine.deadline != self._armed and self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def _run_scheduler(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            deadline = self.engine.deadline
            now = self.clock.mono_ns()
            if deadline is not None and deadline <= now:
                await self._deliver(self.engine.tick(now))
                continue
            self._wake = wake = loop.create_future()
            self._armed = deadline
            timer = (
                None if deadline is None else loop.call_later(_timer_delay(deadline - now), _resolve, wake)
            )
            try:
                await wake
            finally:
                if timer is not None:
                    timer.cancel()

    async def _deliver(self, events: list[EngineEvent]) -> None:
        """Write what the engine produced: token chunks, errors, final chunks; update truth and metrics.

        Everything due for one stream goes out in one write (several chunks when the server runs late), so
        a late tick costs one send per stream, not one per token.
        """
        generated = 0
        out: dict[_Live, list[bytes]] = {}
        texts: dict[_Live, list[int]] = {}  # scheduled times of the text chunks in ``out``
        endings: list[tuple[_Live, str, ApiError | None]] = []
        for event in events:
            live: _Live = event.seq.owner
            if live.done.done():
                continue
            if not isinstance(event, Token):
                if live.fmt is not None:
                    out.setdefault(live, []).append(live.fmt.error(event.error) + DONE)
                endings.append((live, event.error.outcome, event.error))
                continue
            generated += 1
            if event.index == 0:
                self.telemetry.ttft.observe((event.t_ns - event.seq.arrival_ns) / 1e9)
            t_sched = self.clock.to_epoch_ns(event.t_ns)
            if live.fmt is None:
                live.sched.append(t_sched)
                if event.last:
                    live.result = "".join(live.tokens)
                    endings.append((live, "ok", None))
                continue
            data = live.fmt.token(live.tokens[event.index], live.finish_reason if event.last else None)
            if event.index == 0:
                data = live.fmt.role() + data
            if event.last:
                if live.parsed.include_usage:
                    data += live.fmt.usage(live.parsed.prompt_tokens, len(live.tokens), live.cached)
                data += DONE
                endings.append((live, "ok", None))
            out.setdefault(live, []).append(data)
            texts.setdefault(live, []).append(t_sched)
        ended = {live for live, _, _ in endings}
        for live, parts in out.items():
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            if not await self._write(live, data, last=live in ended):
                if live.seq is not None:
                    self.engine.abort(live.seq)
                self._finish(live, "client_disconnected")
                continue
            sched = texts.get(live)
            if sched:
                live.chunks.extend([self.clock.now_ns()] * len(sched))
                live.sched.extend(sched)
        for live, outcome, error in endings:
            self._finish(live, outcome, error=error)
        if generated:
            self.telemetry.generation_tokens.inc(generated)

    async def _write(self, live: _Live, data: bytes, *, last: bool = False) -> bool:
        """Send ``data`` on ``live``'s stream without waiting on its client; False if the client is gone.

        ``last``: ``data`` ends the stream, so the end of the chunked body goes out in the same write (the
        client sees the stream close with its ``[DONE]``, not when the handler is next scheduled).
        """
        if live.backlog is not None:
            live.backlog.append(data)
            return True
        assert live.request is not None and live.resp is not None
        transport = live.request.transport
        if transport is None or transport.is_closing():
            return False
        if transport.get_write_buffer_size() > _SLOW_CLIENT_BYTES:
            live.backlog = [data]
            live.drainer = asyncio.create_task(self._drain(live))
            return True
        try:
            if last:
                await live.resp.write_eof(data)
            else:
                await live.resp.write(data)
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def _drain(self, live: _Live) -> None:
        """Write ``live``'s queued chunks in order (a slow client, or chunks due before the headers)."""
        assert live.resp is not None and live.backlog is not None
        while live.backlog:
            data = live.backlog.pop(0)
            try:
                await live.resp.write(data)
            except (ConnectionError, RuntimeError):
                if live.seq is not None:
                    self.engine.abort(live.seq)
                self._finish(live, "client_disconnected")
                break
        live.backlog = None

    # -- endings and ground truth ----------------------------------------------------------------------------
    def _finish(self, live: _Live, outcome: str, *, error: ApiError | None = None) -> None:
        if live.done.done():
            return
        self.live.discard(live)
        if outcome == "ok":
            self.telemetry.success(live.finish_reason)
            self._cache_answer(live)
            if live.seq is not None:
                self.telemetry.e2e.observe((self.clock.mono_ns() - live.seq.arrival_ns) / 1e9)
        if self.truth is not None:
            status = 200 if live.resp is not None or error is None else error.status
            self.truth.request(
                rid=live.rid,
                api=live.parsed.api,
                stream=live.parsed.stream,
                prompt_tokens=live.parsed.prompt_tokens,
                max_tokens=live.parsed.max_tokens,
                output_tokens=len(live.sched),
                t_received=live.t_received,
                t_arrival=live.t_arrival,
                t_headers=live.t_headers,
                t_chunks=live.chunks,
                t_sched=live.sched,
                t_end=self.clock.now_ns(),
                status=status,
                outcome=outcome,
                finish_reason=live.finish_reason if outcome == "ok" else None,
                error=error,
                talk=live.talk,
                cached_tokens=live.cached,
            )
        live.done.set_result(error)

    def _cache_answer(self, live: _Live) -> None:
        """Cache a completed chat answer after its prompt: the next turn resends it as a message."""
        if self.prefix_cache is None or not live.prefixes or live.parsed.api != "chat":
            return
        answer = "".join(live.tokens)
        tail = chain([("assistant", answer)], [message_tokens(answer)], seed=live.prefixes[-1][0])
        self.prefix_cache.insert([*live.prefixes, *tail])

    async def _reject(
        self, rid: str, api: str, arrived: tuple[int, int], error: ApiError, talk: Talk = _NO_TALK
    ) -> web.Response:
        """Answer a request refused before the engine took it (after ``error_delay_ms``); ``arrived`` is
        ``(t_received, t_arrival)``."""
        delay_ms = self.scenario.faults.error_delay_ms
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        if self.truth is not None:
            self.truth.request(
                rid=rid,
                api=api,
                stream=None,
                prompt_tokens=None,
                max_tokens=None,
                output_tokens=0,
                t_received=arrived[0],
                t_arrival=arrived[1],
                t_headers=None,
                t_chunks=[],
                t_sched=[],
                t_end=self.clock.now_ns(),
                status=error.status,
                outcome=error.outcome,
                finish_reason=None,
                error=error,
                talk=talk,
            )
        return _error_response(error, rid)


def _timer_delay(remaining_ns: int) -> float:
    """Seconds to sleep: ``remaining_ns`` rounded up to whole milliseconds.

    Event-loop timers have millisecond resolution (epoll's timeout, libuv's clock), and uvloop runs a timer
    of under half a millisecond at once, which would spin the loop until the deadline. Rounding up wakes the
    scheduler at most 1 ms after the deadline, never before it.
    """
    return -(-remaining_ns // 1_000_000) / 1000


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _stream_headers(rid: str) -> dict[str, str]:
    return {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
        "x-request-id": rid,
    }


def _error_response(error: ApiError, rid: str | None, status: int | None = None) -> web.Response:
    headers: dict[str, Any] = {}
    if rid is not None:
        headers["x-request-id"] = rid
    if error.status == 429:
        headers["retry-after"] = "1"
    return web.json_response(error.body(), status=status or error.status, headers=headers)


def _prometheus(text: bytes) -> web.Response:
    return web.Response(body=text, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
