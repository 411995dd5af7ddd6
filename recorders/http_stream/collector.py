"""One collector process: prompts -> load driver -> streaming client -> one ``request`` record per request.

:func:`run_collector` is the library entry of ``traceanalyzer record http``: it checks the options and that
the endpoint answers (else exit 3), then runs the load in this process or, with ``--workers N``, in N
processes (:mod:`.workers`), each writing its own file.

Every request that was started ends as exactly one record, whatever happened: success, any error class, or
``aborted`` when the collector stopped while it was in flight. Memory stays flat: per request only its own
stamps and reads, freed once its record is written; request bodies are built once per prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import signal
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from recorders.http_stream.client import (
    Exchange,
    StreamClient,
    base_headers,
    check_reachable_sync,
    request_body,
)
from recorders.http_stream.config import CollectorConfig
from recorders.http_stream.driver import DriverOptions, LoadDriver
from recorders.http_stream.load import Stage, arrival_rng, split_count
from recorders.http_stream.progress import LiveStats, ProgressLine, format_line
from recorders.http_stream.prompts import Prompt, PromptPicker, check_api, load_prompts
from recorders.http_stream.record import RequestInfo, RunInfo, SessionInfo, build_record
from recorders.tracefile import Clock, TraceWriter, clock_anchor, default_host, new_run_id
from traceanalyzer.errors import UsageError

RECORDER = "http_stream"
PROGRESS_EVERY_S = 1.0
PRECONNECT_MAX = 1024
"""Keep-alive connections opened before a closed-loop run at most."""
FINISH_BACKLOG = 1024
"""Finished requests waiting for their record at most; beyond that records are written at once."""
RECORD_QUIET_NS = 2_000_000
"""A record waits until no request has been sent or ended for this long..."""
RECORD_WAIT_MAX_NS = 250_000_000
"""...or until its request ended this long ago, whatever the load (a stopped run loses no completed record
that could have been written)."""


class InFlight(Protocol):
    """Requests in flight, counted across this collector's processes."""

    def add(self, delta: int) -> int: ...


class LocalInFlight:
    def __init__(self) -> None:
        self.value = 0

    def add(self, delta: int) -> int:
        self.value += delta
        return self.value


@dataclass
class CollectorResult:
    """What a run did: files written, requests sent, successes, failures by class, why sending stopped."""

    paths: list[Path] = field(default_factory=list)
    sent: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    stop_reason: str = ""

    def add(self, other: CollectorResult) -> None:
        self.paths += other.paths
        self.sent += other.sent
        self.ok += other.ok
        self.errors.update(other.errors)
        self.stop_reason = self.stop_reason or other.stop_reason

    def summary(self) -> str:
        errs = ", ".join(f"{k} {v}" for k, v in self.errors.most_common()) or "none"
        files = ", ".join(str(p) for p in self.paths)
        counts = f"{self.sent} requests ({self.ok} ok; errors: {errs})"
        return f"{counts}; stopped by {self.stop_reason}; wrote {files}"


@dataclass(frozen=True)
class WorkerSpec:
    """This process's part of a run (``index`` of ``count``), with what all workers share."""

    index: int = 0
    count: int = 1
    run: str = ""
    host: str = ""
    clock_anchor: tuple[int, int] | None = None
    """(wall ns, monotonic ns) shared by every worker, so their files use one clock."""
    start_mono_ns: int | None = None

    @property
    def label(self) -> str:
        return f"w{self.index}"


class Collector:
    """Runs one process's load and writes its records. Create, then ``await run()`` once."""

    def __init__(
        self,
        config: CollectorConfig,
        spec: WorkerSpec,
        *,
        prompts: list[Prompt],
        in_flight: InFlight | None = None,
        report: Callable[[dict[str, Any]], None] | None = None,
        signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM),
    ) -> None:
        self.config = config
        self.spec = spec
        self.plan = config.plan()
        self.stats = LiveStats()
        self.in_flight = in_flight or LocalInFlight()
        self.report = report
        self.signals = signals
        wall0, mono0 = spec.clock_anchor or clock_anchor()
        self.clock = Clock(wall_ns=wall0, mono_ns=mono0)
        self._secret = config.api_key()
        self._bodies: dict[int, bytes] = {}
        self._seq = 0
        self._signals_seen = 0
        self._failure: BaseException | None = None
        self._finished: deque[tuple[RequestInfo, Exchange]] = deque()
        self._finishing = False
        self._writer: TraceWriter | None = None
        self._run_info = RunInfo(
            run=spec.run,
            host=spec.host,
            worker=spec.label,
            model=config.model,
            api=config.api,
            include_text=not config.no_text,
            secret=self._secret,
            id_header=config.id_header,
        )
        self._client: StreamClient | None = None
        order_rng = random.Random(f"{config.seed}:order:{spec.index}")
        self.picker = PromptPicker(
            prompts, order=config.order, rng=order_rng, worker=spec.index, workers=spec.count
        )
        self.driver = LoadDriver(
            self.plan,
            self._fire,
            requests=None
            if config.requests is None
            else split_count(config.requests, spec.count, spec.index),
            rng=arrival_rng(config.seed, spec.index),
            options=DriverOptions(
                duration_s=config.duration_s,
                arrival=config.arrival,
                grace_s=config.grace_s,
                worker=spec.index,
                workers=spec.count,
                start_mono_ns=spec.start_mono_ns,
            ),
            on_stage=self._on_stage if spec.index == 0 else None,
        )

    # -- per request -----------------------------------------------------------------------------------------
    def _body(self, index: int, prompt: Prompt) -> bytes:
        body = self._bodies.get(index)
        if body is None:
            body = self._bodies[index] = request_body(
                prompt,
                api=self.config.api,
                model=self.config.model,
                max_tokens=prompt.max_tokens or self.config.max_tokens,
                extra_body=self.config.extra_body,
                stream=self._streams(prompt),
            )
        return body

    async def _fire(self, stage: str | None) -> None:
        """Send one request and write its record, whatever happens (cancelled: recorded as aborted)."""
        index, prompt = self.picker.next()
        await self._send(prompt, self._body(index, prompt), stage)

    def _streams(self, prompt: Prompt) -> bool:
        """Whether ``prompt`` is sent streaming (its own ``stream``, else ``--no-stream``)."""
        return self.config.stream if prompt.stream is None else prompt.stream

    async def _send(
        self,
        prompt: Prompt,
        body: bytes,
        stage: str | None,
        *,
        session: SessionInfo | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Exchange:
        """Send ``body`` and queue its record, whatever happens (cancelled: recorded as aborted)."""
        self._seq += 1
        in_flight = self.in_flight.add(1)
        started = self.driver.started_ns
        ex = Exchange(time.monotonic_ns())
        warmup = started is not None and (ex.t_start - started) < self.config.warmup_s * 1e9
        self.stats.on_send()
        info = RequestInfo(
            id=f"{self.spec.label}-{self._seq}",
            prompt=prompt,
            stage=stage,
            in_flight=in_flight,
            max_tokens=prompt.max_tokens or self.config.max_tokens,
            warmup=warmup,
            session=session,
            stream=self._streams(prompt),
        )
        assert self._client is not None
        try:
            id_header = self.config.id_header
            if id_header:
                headers = {**(headers or {}), id_header: info.id}
            await self._client.exchange(body, ex, headers=headers)
        finally:
            self.in_flight.add(-1)
            self._enqueue(info, ex)
        return ex

    def _enqueue(self, info: RequestInfo, ex: Exchange) -> None:
        """Queue a finished request for its record. Building a record (decoding its stream) takes a few
        hundred microseconds, as long as sending a request; records are built one per event-loop pass, once
        no request has been sent or ended for :data:`RECORD_QUIET_NS` (see :class:`~.client.SendGate`), or
        when the oldest waited :data:`RECORD_WAIT_MAX_NS`: when many streams end together, their users' next
        requests go first, and reads are stamped between any two records."""
        if len(self._finished) >= FINISH_BACKLOG:
            self._finish(info, ex)
            return
        self._finished.append((info, ex))
        if not self._finishing:
            self._finishing = True
            asyncio.get_running_loop().call_soon(self._finish_next)

    def _finish_next(self) -> None:
        assert self._client is not None
        loop = asyncio.get_running_loop()
        if not self._finished:
            self._finishing = False
            return
        now = time.monotonic_ns()
        quiet_in = self._client.gate.last_turn_ns + RECORD_QUIET_NS - now
        oldest = self._finished[0][1]
        overdue_in = (oldest.t_end or now) + RECORD_WAIT_MAX_NS - now
        if quiet_in > 0 and overdue_in > 0:
            loop.call_later(min(quiet_in, overdue_in) / 1e9, self._finish_next)
            return
        self._finish(*self._finished.popleft())
        loop.call_soon(self._finish_next)

    def _flush_finished(self) -> None:
        while self._finished:
            self._finish(*self._finished.popleft())

    def _finish(self, info: RequestInfo, ex: Exchange) -> None:
        try:
            record = build_record(self._run_info, info, ex, self.clock)
            assert self._writer is not None
            self._writer.write(record)
        except Exception as exc:  # a bug or a full disk: stop the run rather than lose records silently
            self.stats.on_done("collector_error", None)
            if self._failure is None:
                self._failure = exc
                self.driver.abort()
            return
        error = record["error"]
        ttft_ms = None
        if record["t_first"] is not None:
            ttft_ms = (record["t_first"] - record["t_send"]) / 1e6
        self.stats.on_done(None if error is None else error["class"], ttft_ms)

    # -- events, signals, progress ---------------------------------------------------------------------------
    def _on_stage(self, stage: Stage) -> None:
        if self._writer is not None and self.plan.staged:
            self._writer.event("stage", stage.detail())

    def _on_signal(self, signum: int) -> None:
        self._signals_seen += 1
        name = signal.Signals(signum).name
        if self._signals_seen == 1:
            self.driver.stop(f"signal {name}")
        else:
            self.driver.abort()

    async def _progress(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S)
            if self.report is not None:
                self.report(self.stats.snapshot())

    # -- the run ---------------------------------------------------------------------------------------------
    async def run(self, path: Path) -> CollectorResult:
        """Run the load, writing records to ``path``; returns the counts."""
        loop = asyncio.get_running_loop()
        for signum in self.signals:
            loop.add_signal_handler(signum, self._on_signal, signum)
        headers = base_headers(dict(self.config.headers), self._secret)
        writer = TraceWriter(
            path,
            recorder=RECORDER,
            config=self.config.meta(),
            run=self.spec.run,
            host=self.spec.host,
            clock=self.clock,
            extra_meta={"worker": self.spec.label, "workers": self.spec.count},
        )
        self._writer = writer
        progress = asyncio.create_task(self._progress())
        gc.collect()
        gc.freeze()  # what exists now lives all run: keep it out of every collection, so they stay short
        try:
            async with StreamClient(
                url=self.config.url,
                api=self.config.api,
                headers=headers,
                timeout_s=self.config.timeout_s,
                ttft_timeout_s=self.config.ttft_timeout_s,
            ) as client:
                self._client = client
                users = self.plan.max_users
                if users:  # closed loop: connect every user before the clock starts
                    await client.preconnect(
                        min(split_count(users, self.spec.count, self.spec.index), PRECONNECT_MAX)
                    )
                reason = await self.driver.run()
            self._flush_finished()
            if self.spec.index == 0:
                writer.event("stop", {"reason": reason})
        finally:
            self._flush_finished()
            progress.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await progress
            for signum in self.signals:
                loop.remove_signal_handler(signum)
            writer.close()
            gc.unfreeze()
        if self._failure is not None:
            raise self._failure
        if self.report is not None:
            self.report(self.stats.snapshot())
        stats = self.stats
        return CollectorResult([path], stats.sent, stats.ok, Counter(stats.errors), reason)


def run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` on uvloop when it is installed (lower per-read overhead), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in the 'record' extra
        return asyncio.run(coro)
    return uvloop.run(coro)


def prepare(config: CollectorConfig, *, conversations: bool = False) -> list[Prompt]:
    """Check the options, the prompts, the output paths and that the endpoint answers; the prompts to send
    (none with ``conversations``: the prompt file holds conversations, see :mod:`.conversations`)."""
    config.plan()
    prompts: list[Prompt] = []
    if conversations:
        from recorders.http_stream.conversations import parse_think_time

        if config.api != "chat" or config.workers > 1:
            raise UsageError("a conversation prompt file needs --api chat and one worker")
        parse_think_time(config.think_time)
    else:
        given = [
            name
            for name, value in (
                ("--conversations", config.conversations),
                ("--think-time", config.think_time),
                ("--max-turns", config.max_turns),
            )
            if value is not None
        ]
        if given:
            raise UsageError(f"{', '.join(given)}: only with a conversation prompt file (lines with 'turns')")
        prompts = load_prompts(config.prompts)
        check_api(prompts, config.api, config.prompts or "builtin:mixed")
    for path in config.out_paths():
        if path.exists() and path.stat().st_size > 0:
            raise UsageError(f"{path} exists; choose another --out or remove it")
    check_reachable_sync(config.url, base_headers(dict(config.headers), config.api_key()))
    return prompts


def run_collector(config: CollectorConfig) -> CollectorResult:
    """``traceanalyzer record http``: check, then run the load in this process or ``config.workers`` ones."""
    from recorders.http_stream.conversations import ConversationCollector, load_conversations

    conversations = load_conversations(config.prompts)
    prompts = prepare(config, conversations=conversations is not None)
    run = config.run or new_run_id()
    host = config.host or default_host()
    if config.workers > 1:
        from recorders.http_stream.workers import run_workers

        return run_workers(config, run=run, host=host)
    progress = ProgressLine(enabled=config.progress)
    started = time.monotonic()

    def show(snapshot: dict[str, Any]) -> None:
        progress.update(format_line(snapshot, time.monotonic() - started))

    spec = WorkerSpec(run=run, host=host)
    collector = (
        Collector(config, spec, prompts=prompts, report=show)
        if conversations is None
        else ConversationCollector(config, spec, conversations=conversations, report=show)
    )
    progress.start()
    try:
        result: CollectorResult = run_async(collector.run(config.out_paths()[0]))
    finally:
        progress.stop(format_line(collector.stats.snapshot(), time.monotonic() - started))
    return result
