"""``--workers N``: the load split over N processes, for when one core cannot keep up with the streams.

Worker ``i`` runs its share (``users // N`` plus one for the first ``users % N``, ``rate / N``, its share of
``--requests``) and writes ``<out>.w<i>.jsonl`` with ``worker`` = ``w<i>`` in every record. All workers share
the run id, the host label, one clock anchor and a start instant (so stages line up), and one in-flight
counter (so ``in_flight`` counts the whole collector). Only worker 0 writes ``stage`` and ``stop`` events.

Signals: workers ignore SIGINT (a terminal's Ctrl-C reaches the whole process group); the parent turns its
first SIGINT/SIGTERM into a SIGTERM to each worker (stop sending, grace period), a second one into another
(abort in-flight requests now). The parent shows the merged progress line.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import time
from collections.abc import Callable
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from recorders.http_stream.collector import Collector, CollectorResult, WorkerSpec, run_async
from recorders.http_stream.config import CollectorConfig
from recorders.http_stream.progress import ProgressLine, format_line, merge
from recorders.http_stream.prompts import load_prompts
from recorders.tracefile import clock_anchor
from traceanalyzer.errors import TraceAnalyzerError

READY_TIMEOUT_S = 120.0
START_MARGIN_NS = 1_000_000_000
"""How far after the last worker is ready they all start (ns): time to open their connections."""


class SharedInFlight:
    """In-flight counter in shared memory, for :class:`~recorders.http_stream.collector.Collector`."""

    def __init__(self, value: Synchronized[int]) -> None:
        self._value = value

    def add(self, delta: int) -> int:
        with self._value.get_lock():
            self._value.value += delta
            return int(self._value.value)


def _child(
    config: CollectorConfig,
    spec: WorkerSpec,
    messages: mp.Queue[tuple[str, int, Any]],
    in_flight: Synchronized[int],
    start_at: Synchronized[int],
    go: Any,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    index = spec.index
    try:
        prompts = load_prompts(config.prompts)
        messages.put(("ready", index, None))
        if not go.wait(READY_TIMEOUT_S):
            return
        spec = WorkerSpec(spec.index, spec.count, spec.run, spec.host, spec.clock_anchor, int(start_at.value))
        collector = Collector(
            config,
            spec,
            prompts=prompts,
            in_flight=SharedInFlight(in_flight),
            report=lambda snap: messages.put(("progress", index, snap)),
            signals=(signal.SIGTERM,),
        )
        result: CollectorResult = run_async(collector.run(config.out_paths()[index]))
        messages.put(("done", index, result))
    except TraceAnalyzerError as exc:
        messages.put(("error", index, str(exc)))
    except BaseException as exc:
        messages.put(("error", index, f"worker w{index} failed: {type(exc).__name__}: {exc}"))
        raise


def run_workers(config: CollectorConfig, *, run: str, host: str) -> CollectorResult:
    """Run ``config.workers`` collector processes; their merged result. Raises the first worker error."""
    ctx = mp.get_context("spawn")
    messages: mp.Queue[tuple[str, int, Any]] = ctx.Queue()
    in_flight = ctx.Value("q", 0)
    start_at = ctx.Value("q", 0)
    go = ctx.Event()
    anchor = clock_anchor()
    procs = [
        ctx.Process(
            target=_child,
            args=(
                config,
                WorkerSpec(i, config.workers, run, host, anchor),
                messages,
                in_flight,
                start_at,
                go,
            ),
            name=f"collector-w{i}",
            daemon=False,
        )
        for i in range(config.workers)
    ]
    signals_seen = 0

    def on_signal(signum: int, frame: object) -> None:
        nonlocal signals_seen
        signals_seen += 1
        for p in procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    progress = ProgressLine(enabled=config.progress)
    try:
        for p in procs:
            p.start()
        return _supervise(config, procs, messages, start_at, go, progress)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join()


def _supervise(
    config: CollectorConfig,
    procs: list[Any],
    messages: mp.Queue[tuple[str, int, Any]],
    start_at: Synchronized[int],
    go: Any,
    progress: ProgressLine,
) -> CollectorResult:
    snapshots: dict[int, dict[str, Any]] = {}
    results: dict[int, CollectorResult] = {}
    errors: list[str] = []
    ready = 0
    started = time.monotonic()
    ready_deadline = started + READY_TIMEOUT_S
    shown = 0.0

    def handle(kind: str, index: int, payload: Any) -> None:
        nonlocal ready
        if kind == "ready":
            ready += 1
        elif kind == "progress":
            snapshots[index] = payload
        elif kind == "done":
            results[index] = payload
        elif kind == "error":
            errors.append(payload)

    def alive() -> bool:
        return any(p.is_alive() for p in procs)

    _pump(
        messages,
        handle,
        until=lambda: ready == len(procs) or bool(errors) or time.monotonic() > ready_deadline or not alive(),
    )
    if ready < len(procs):
        go.set()  # let any waiting worker exit
        raise TraceAnalyzerError(errors[0] if errors else "collector workers did not start")
    start_at.value = time.monotonic_ns() + START_MARGIN_NS
    go.set()
    progress.start()
    try:
        while alive() or not messages.empty():
            _pump(messages, handle, until=lambda: True, timeout=0.2)
            now = time.monotonic()
            if snapshots and now - shown >= 1.0:
                shown = now
                progress.update(format_line(merge(snapshots.values()), now - started))
    finally:
        final = format_line(merge(snapshots.values()), time.monotonic() - started) if snapshots else None
        progress.stop(final)
    if errors:
        raise TraceAnalyzerError(errors[0])
    missing = [f"w{i}" for i in range(len(procs)) if i not in results]
    if missing:
        raise TraceAnalyzerError(f"collector worker(s) {', '.join(missing)} ended without a result")
    merged = CollectorResult()
    for i in sorted(results):
        merged.add(results[i])
    return merged


def _pump(
    messages: mp.Queue[tuple[str, int, Any]],
    handle: Callable[[str, int, Any], None],
    *,
    until: Callable[[], bool],
    timeout: float = 0.2,
) -> None:
    """Handle queued worker messages until ``until()`` holds after a (possibly empty) wait."""
    while True:
        try:
            handle(*messages.get(timeout=timeout))
            while True:
                handle(*messages.get_nowait())
        except queue.Empty:
            pass
        if until():
            return
