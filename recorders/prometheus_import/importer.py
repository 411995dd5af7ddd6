"""``import prometheus``: GPU, engine and host metrics of a test window, read back from Prometheus.

From a server (``url``): the metric names of the window are looked up first
(``/api/v1/label/__name__/values``; an unreachable server is :class:`SourceUnreachableError`, exit code
3, before any file is written), then each query whose exporter has data, plus every ``--queries`` query,
is run with ``query_range`` over each part of the window (:func:`~.window.split_window`), a few at a time.
Each part is mapped and written (in a thread, while the next part is fetched) before the one after is
fetched, so memory stays flat however long the window.
From saved responses (``responses``): each file is one ``query_range`` response; its query is named by the
file name up to the first dot (``dcgm.json``, ``engine.0002.json``), as ``save_responses`` writes them.

Output: ``gpu.jsonl``, ``server.jsonl`` and ``host.jsonl`` in ``out`` (each written only when it has
records), through the one trace writer: a ``meta`` line whose ``config`` holds the options (header values
that look like secrets redacted, the token never: only the name of its environment variable), then one
record per line, flushed per record.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recorders.gpu.dcgm import DCGM_INPUTS
from recorders.prometheus_import.client import PrometheusClient
from recorders.prometheus_import.mapping import RecordMapper
from recorders.prometheus_import.queries import (
    DCGM,
    DEFAULT_NAMES,
    ENGINE,
    NODE,
    NODE_CPU,
    NODE_CPU_SECONDS,
    NODE_INPUTS,
    Query,
    check_selector,
    default_queries,
    load_queries,
    rate_window_s,
)
from recorders.prometheus_import.series import QueryError, Series, merge, parse_response
from recorders.prometheus_import.window import MAX_POINTS, Window, capture_window, split_window
from recorders.server_metrics import ENGINE_PREFIXES
from recorders.tracefile import TraceWriter
from traceanalyzer.errors import BadInputError, UsageError

RECORDER = "traceanalyzer.import.prometheus"
OUTPUT_FILES = {"gpu": "gpu.jsonl", "server": "server.jsonl", "host": "host.jsonl"}
EXPORTERS = {
    DCGM: "DCGM exporter",
    ENGINE: "serving engine",
    NODE: "node exporter",
    NODE_CPU: "node exporter",
}


@dataclass(frozen=True)
class PrometheusImportOptions:
    """Options of ``import prometheus``.

    - ``url``: the query API's base URL (``http://prometheus:9090``, a Thanos/Mimir/VictoriaMetrics
      prefix), or ``responses``: saved ``query_range`` JSON files or directories of them. One of the two.
    - The window: ``start`` and ``end`` (Unix seconds), or ``capture`` (a capture directory: its first
      request sent to its last ended, widened by ``margin_s``). Not needed with ``responses``.
    - ``step_s``: the query step (default: ``scrape_interval_s``); ``scrape_interval_s`` (default 15 s,
      Prometheus' own default) sets the rate window (:func:`~.queries.rate_window_s`).
    - ``selector``: label matchers added to every built-in query; ``queries_file``: extra named queries.
    - ``headers``: ``"Name: value"`` strings sent with every request; ``bearer_token_env``: the name of an
      environment variable holding a bearer token (``Authorization: Bearer ...``).
    - ``metrics_match``: keep only ``server.metrics`` keys matching this regex.
    - ``timeout_s`` per request, ``attempts`` tries per request, ``concurrency`` requests at a time,
      ``max_points`` steps per query (Prometheus' limit is 11,000).
    - ``save_responses``: a directory to keep every response in, for a later import from files.
    - ``host``: the ``host`` of the meta lines (default this machine) and of records from series without an
      ``instance`` label (default the server's host, or ``prometheus`` for saved responses); other records
      carry their exporter's host.
    """

    out: str | Path
    url: str | None = None
    responses: tuple[str, ...] = ()
    start: float | None = None
    end: float | None = None
    capture: str | Path | None = None
    margin_s: float = 60.0
    step_s: float | None = None
    scrape_interval_s: float = 15.0
    selector: str | None = None
    queries_file: str | Path | None = None
    headers: tuple[str, ...] = ()
    bearer_token_env: str | None = None
    metrics_match: str | None = None
    timeout_s: float = 60.0
    attempts: int = 5
    concurrency: int = 4
    max_points: int = MAX_POINTS
    save_responses: str | Path | None = None
    overwrite: bool = False
    host: str | None = None
    run: str | None = None
    progress: bool = True


@dataclass
class PrometheusImportResult:
    """What an import wrote: ``records`` per type, the files, the window (Unix seconds, ``None`` for saved
    responses without one), the queries run and why others were skipped, request ``parts`` and
    ``retries``, ``stopped`` when a signal ended it early, and ``seconds`` it took."""

    records: Counter[str] = field(default_factory=Counter)
    files: dict[str, Path] = field(default_factory=dict)
    window: tuple[float, float, float] | None = None
    queries: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    requests: int = 0
    parts: int = 0
    retries: int = 0
    stopped: bool = False
    seconds: float = 0.0

    def describe(self) -> str:
        counts = ", ".join(f"{self.records[k]} {k}" for k in OUTPUT_FILES if self.records[k]) or "no"
        where = f" to {Path(next(iter(self.files.values()))).parent}" if self.files else ""
        how = "saved responses"
        if self.requests:
            how = f"{_plural(self.requests, 'request')} in {_plural(self.parts, 'window part')}"
        if self.retries:
            how += f", {self.retries} retried"
        end = " (stopped early)" if self.stopped else ""
        return f"wrote {counts} records{where} from {how} in {self.seconds:.1f} s{end}"


def import_prometheus(options: PrometheusImportOptions) -> PrometheusImportResult:
    """Run the import (see the module docstring); blocking."""
    return asyncio.run(import_prometheus_async(options))


async def import_prometheus_async(options: PrometheusImportOptions) -> PrometheusImportResult:
    started = time.monotonic()
    plan = _Plan.of(options)
    result = PrometheusImportResult()
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, _cancel, task, result)
            handled.append(sig)
    try:
        with _Outputs(options, plan.config) as outputs:
            if options.url:
                await _from_server(options, plan, outputs, result)
            else:
                _from_files(options, plan, outputs, result)
            result.records = outputs.counts
            result.files = dict(outputs.paths)
    except asyncio.CancelledError:
        if not result.stopped:
            raise
        result.records = outputs.counts
        result.files = dict(outputs.paths)
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
    if not result.stopped and not sum(result.records.values()):
        span = ""
        if result.window:
            span = f" between {_iso(result.window[0])} and {_iso(result.window[1])}"
        raise UsageError(
            f"nothing to import: no DCGM, engine or node exporter series{span}"
            + (f" matching {options.selector}" if options.selector else "")
            + "; check the window, --selector and that Prometheus scrapes the exporters"
        )
    result.seconds = time.monotonic() - started
    return result


def _cancel(task: asyncio.Task[Any] | None, result: PrometheusImportResult) -> None:
    result.stopped = True
    if task is not None:
        task.cancel()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


@dataclass(frozen=True)
class _Plan:
    """Validated options: the queries, headers, window, rate window and the meta config."""

    queries: list[Query]
    extra: list[str]
    headers: dict[str, str]
    window: Window | None
    rate_window_ms: int
    keep: re.Pattern[str] | None
    config: dict[str, Any]

    @classmethod
    def of(cls, o: PrometheusImportOptions) -> _Plan:
        if bool(o.url) == bool(o.responses):
            raise UsageError("give either --url (a Prometheus server) or saved responses, not both")
        if o.url and not o.url.startswith(("http://", "https://")):
            raise UsageError(f"--url must be an http(s) URL of a Prometheus query API, got {o.url!r}")
        if o.scrape_interval_s <= 0 or o.timeout_s <= 0 or o.attempts < 1 or o.concurrency < 1:
            raise UsageError("--scrape-interval, --timeout, --retries and concurrency must be positive")
        selector = check_selector(o.selector)
        step_s = o.step_s or o.scrape_interval_s
        rate_s = rate_window_s(step_s, o.scrape_interval_s)
        extra = load_queries(o.queries_file) if o.queries_file else []
        queries = default_queries(selector, rate_s) + extra
        keep = None
        if o.metrics_match:
            try:
                keep = re.compile(o.metrics_match)
            except re.error as exc:
                raise UsageError(f"--metrics-match is not a regular expression: {exc}") from None
        window = None
        if o.url:
            window = _window(o, step_s)
        elif o.start is not None or o.end is not None or o.capture is not None:
            raise UsageError("saved responses carry their own window: leave out --start, --end, --capture")
        config: dict[str, Any] = {
            "url": o.url,
            "responses": list(o.responses),
            "window": None
            if window is None
            else {"start_ms": window.start_ms, "end_ms": window.end_ms, "step_ms": window.step_ms},
            "scrape_interval_s": o.scrape_interval_s,
            "rate_window_s": rate_s,
            "selector": o.selector,
            "queries": {q.name: q.promql for q in queries},
            "headers": list(o.headers),
            "bearer_token_env": o.bearer_token_env,
            "metrics_match": o.metrics_match,
        }
        return cls(
            queries=queries,
            extra=[q.name for q in extra],
            headers=_headers(o.headers, o.bearer_token_env),
            window=window,
            rate_window_ms=round(rate_s * 1000),
            keep=keep,
            config=config,
        )


def _window(o: PrometheusImportOptions, step_s: float) -> Window:
    if o.capture is not None:
        if o.start is not None or o.end is not None:
            raise UsageError("give --capture or --start/--end, not both")
        start, end = capture_window(o.capture, o.margin_s)
    elif o.start is None or o.end is None:
        raise UsageError("the window is missing: give --start and --end, or --capture DIR")
    else:
        start, end = o.start, o.end
    return Window.aligned(start, end, step_s)


def _headers(lines: Sequence[str], token_env: str | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            raise UsageError(f"--header must be 'Name: value', got {name.strip()!r}...")
        headers[name.strip()] = value.strip()
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise UsageError(f"--bearer-token-env: environment variable {token_env} is not set or empty")
        headers["Authorization"] = f"Bearer {token}"
    return headers


class _Outputs:
    """The trace writers of one import, opened on their first record."""

    def __init__(self, options: PrometheusImportOptions, config: dict[str, Any]) -> None:
        self.dir = Path(options.out)
        self.options = options
        self.config = config
        self.counts: Counter[str] = Counter()
        self.paths: dict[str, Path] = {}
        self._writers: dict[str, TraceWriter] = {}
        existing = [str(self.dir / n) for n in OUTPUT_FILES.values() if (self.dir / n).exists()]
        if existing and not options.overwrite:
            raise UsageError(f"output files exist: {', '.join(existing)} (pass --overwrite to replace them)")
        self._replace = set(existing)

    def write(self, records: list[dict[str, Any]]) -> None:
        for rec in records:
            kind = rec["type"]
            writer = self._writers.get(kind)
            if writer is None:
                path = self.dir / OUTPUT_FILES[kind]
                if str(path) in self._replace:
                    path.unlink()
                writer = TraceWriter(
                    path, recorder=RECORDER, config=self.config, run=self.options.run, host=self.options.host
                )
                self._writers[kind] = writer
                self.paths[kind] = path
            writer.write(rec)
            self.counts[kind] += 1

    def __enter__(self) -> _Outputs:
        return self

    def __exit__(self, *exc: object) -> None:
        for writer in self._writers.values():
            writer.close()


def _available(names: list[str]) -> dict[str, bool]:
    present = set(names)
    return {
        DCGM: bool(present & DCGM_INPUTS),
        ENGINE: any(n.startswith(tuple(ENGINE_PREFIXES.values())) for n in present),
        NODE: bool(present & set(NODE_INPUTS)),
        NODE_CPU: NODE_CPU_SECONDS in present,
    }


async def _from_server(
    o: PrometheusImportOptions, plan: _Plan, outputs: _Outputs, result: PrometheusImportResult
) -> None:
    assert o.url is not None and plan.window is not None
    window = plan.window
    result.window = (window.start_ms / 1000, window.end_ms / 1000, window.step_ms / 1000)
    save = Path(o.save_responses) if o.save_responses else None
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
    host = o.host or _url_host(o.url)
    mapper = RecordMapper(default_host=host, rate_window_ms=plan.rate_window_ms, keep=plan.keep)
    async with PrometheusClient(
        o.url, headers=plan.headers, timeout_s=o.timeout_s, attempts=o.attempts
    ) as client:
        try:
            available = _available(await client.metric_names(window))
        except QueryError as exc:
            raise UsageError(f"{client.shown} refused the metric-name lookup: {exc}") from None
        queries = [q for q in plan.queries if q.extra or available[q.name]]
        for name in DEFAULT_NAMES:
            if not available[name]:
                result.notes.append(f"no {EXPORTERS[name]} series ({name}) in the window: skipped")
        result.queries = [q.name for q in queries]
        parts = split_window(window, o.max_points)
        result.parts = len(parts)
        gate = asyncio.Semaphore(o.concurrency)
        with _progress(len(parts) * len(queries), o.progress) as advance:

            async def fetch(query: Query, part: Window, index: int) -> tuple[str, list[Series]]:
                try:
                    async with gate:
                        body = await client.query_range(query.promql, part, what=f"query {query.name!r}")
                    result.requests += 1
                    advance()
                    if save is not None:
                        (save / f"{query.name}.{index:04d}.json").write_bytes(body)
                    return query.name, parse_response(body, where=f"query {query.name!r}")
                except QueryError as exc:
                    raise UsageError(f"Prometheus refused query {query.name!r}: {exc}") from None

            def map_and_write(results: dict[str, list[Series]]) -> None:
                outputs.write(mapper.records(results, plan.extra))

            # Part k is mapped and written in a thread while part k + 1 is fetched; parts stay in order.
            writing: asyncio.Future[None] | None = None
            try:
                for index, part in enumerate(parts, start=1):
                    answers = await asyncio.gather(*(fetch(q, part, index) for q in queries))
                    if writing is not None:
                        await writing
                    writing = asyncio.ensure_future(asyncio.to_thread(map_and_write, dict(answers)))
            finally:
                if writing is not None:
                    await writing
        result.retries = client.retries


def _url_host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc.rpartition("@")[2] or "prometheus"


def response_files(paths: Sequence[str | Path]) -> list[Path]:
    """The ``*.json`` files given or inside the directories given, in name order."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise UsageError(f"{path}: no saved responses (*.json) in this directory")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"{path}: no such file or directory")
    return files


def _from_files(
    o: PrometheusImportOptions, plan: _Plan, outputs: _Outputs, result: PrometheusImportResult
) -> None:
    known = {q.name for q in plan.queries}
    by_query: dict[str, list[list[Series]]] = {}
    for path in response_files(o.responses):
        name = path.name.split(".", 1)[0]
        if name not in known:
            raise BadInputError(
                f"cannot tell which query this response answers: name the file after one of "
                f"{', '.join(sorted(known))} (e.g. dcgm.json, engine.0001.json)",
                path=str(path),
            )
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            by_query.setdefault(name, []).append(parse_response(body, where=str(path)))
        except QueryError as exc:
            raise BadInputError(f"the saved response is an error: {exc}", path=str(path)) from None
    results = {name: merge(parts) for name, parts in by_query.items()}
    result.queries = sorted(results)
    rate_ms = plan.rate_window_ms
    if o.step_s is None:  # the step the responses were queried with sets the rate window
        step_ms = data_step_ms(results.values())
        if step_ms:
            rate_ms = round(rate_window_s(step_ms / 1000, o.scrape_interval_s) * 1000)
    mapper = RecordMapper(default_host=o.host or "prometheus", rate_window_ms=rate_ms, keep=plan.keep)
    outputs.write(mapper.records(results, plan.extra))


def data_step_ms(results: Iterable[list[Series]]) -> int | None:
    """The most common time between consecutive points of the series: the query step."""
    gaps: Counter[int] = Counter()
    for series_list in results:
        for series in series_list:
            gaps.update(b[0] - a[0] for a, b in zip(series.points, series.points[1:], strict=False))
    return gaps.most_common(1)[0][0] if gaps else None


@contextlib.contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Any]:
    """A callable advancing a rich progress bar on stderr (nothing when disabled or not a terminal)."""
    if not enabled or total <= 1:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("querying Prometheus"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("query", total=total)
        yield lambda: bar.advance(task)
