"""``traceanalyzer import langfuse``: production generations from Langfuse as ``request`` records.

``import_langfuse(options) -> LangfuseImport`` reads the public API (:mod:`.api`: v2 observations with
cursor pagination, v1 page numbers when v2 is missing), or, with ``files``, Langfuse export files
(:mod:`.files`). Each generation becomes one record (:mod:`.convert`), written to ``OUT/langfuse.jsonl`` by
the trace writer, flushed per record. See docs/observability.md.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recorders.counting import progress_counter, stop_on_signals
from recorders.langfuse_import.api import KEY_ENV, LangfuseClient, Query, Retry, iter_pages
from recorders.langfuse_import.convert import SkipObservation, to_request
from recorders.langfuse_import.files import read_observations
from recorders.locust_import.timefmt import parse_instant
from recorders.tracefile import TraceWriter, new_run_id
from traceanalyzer.errors import BadInputError, UsageError

RECORDER = "langfuse_import"
OUT_NAME = "langfuse.jsonl"

__all__ = ["ImportOptions", "LangfuseImport", "import_langfuse", "parse_time"]


@dataclass(frozen=True)
class ImportOptions:
    """``url`` + ``from_time`` / ``to_time`` (RFC 3339 or Unix seconds) read the API; ``files``, export files
    instead. ``name`` / ``environment`` filter on the server (and on files); ``model`` keeps only that
    model's generations. ``run``: run id written into the records (default: a new one)."""

    out_dir: str
    url: str | None = None
    from_time: str | None = None
    to_time: str | None = None
    files: Sequence[str] = ()
    name: str | None = None
    model: str | None = None
    environment: str | None = None
    run: str | None = None
    overwrite: bool = False
    page_size: int = 100
    retry: Retry = field(default_factory=Retry)
    progress: bool = True


@dataclass(frozen=True)
class LangfuseImport:
    """``path``: the trace file written; ``requests``: records in it (``errors`` of them failures);
    ``skipped``: observations left out, by reason; ``api``: ``v2``, ``v1`` or ``files``; ``pages``: pages
    read; ``waits_s``: seconds waited for rate limits and retries; ``stopped``: SIGINT or SIGTERM ended the
    import after the page in hand (what was read is written)."""

    path: Path
    requests: int
    errors: int
    api: str
    pages: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    waits_s: float = 0.0
    stopped: bool = False


def parse_time(text: str, option: str) -> datetime:
    """``--from`` / ``--to``: RFC 3339 (``2026-03-01T12:00:00Z``) or Unix seconds -> an aware UTC datetime."""
    try:
        ns = parse_instant(text, UTC)
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: use an RFC 3339 time (2026-03-01T12:00:00Z) or Unix seconds"
        ) from None
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).replace(microsecond=(ns // 1000) % 1_000_000)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _auth() -> str:
    """The Basic ``Authorization`` value from the key variables."""
    public, secret = (os.environ.get(name, "") for name in KEY_ENV)
    if not public or not secret:
        missing = " and ".join(n for n, v in zip(KEY_ENV, (public, secret), strict=True) if not v)
        raise UsageError(f"import langfuse needs the project's API keys: set {missing}")
    return "Basic " + base64.b64encode(f"{public}:{secret}".encode()).decode("ascii")


class _Sink:
    """Turns observations into records and writes them; counts what it skips."""

    def __init__(self, writer: TraceWriter, options: ImportOptions, host: str) -> None:
        self.writer = writer
        self.options = options
        self.host = host
        self.requests = 0
        self.errors = 0
        self.skipped: Counter[str] = Counter()

    def add(self, obs: dict[str, Any], api: str, where: str) -> None:
        try:
            record = to_request(obs, run=self.writer.run, host=self.host, api=api)
        except SkipObservation as skip:
            self.skipped[skip.reason] += 1
            return
        except ValueError as exc:
            raise BadInputError(f"observation {obs.get('id')!r}: {exc}", path=where) from None
        if self.options.model is not None and record.get("model") != self.options.model:
            self.skipped["other model"] += 1
            return
        if self.options.name is not None and record.get("name") != self.options.name:
            self.skipped["other name"] += 1
            return
        if self.options.environment is not None and record.get("environment") != self.options.environment:
            self.skipped["other environment"] += 1
            return
        self.writer.write(record)
        self.requests += 1
        self.errors += record["error"] is not None


def import_langfuse(options: ImportOptions) -> LangfuseImport:
    """Import generations from the Langfuse API or export files into ``OUT/langfuse.jsonl``."""
    out = Path(options.out_dir) / OUT_NAME
    if out.exists() and not options.overwrite:
        raise UsageError(f"{out} exists (use --overwrite to replace it)")
    if options.files and options.url:
        raise UsageError("give either --url (read the API) or export files, not both")
    query: Query | None = None
    if not options.files:
        if not options.url or not options.from_time or not options.to_time:
            raise UsageError("give --url BASE --from T --to T to read the API, or Langfuse export files")
        if not options.url.startswith(("http://", "https://")):
            raise UsageError(f"--url must be an http(s) URL, not {options.url!r}")
        start, end = parse_time(options.from_time, "--from"), parse_time(options.to_time, "--to")
        if end <= start:
            raise UsageError("--to must be after --from")
        if options.page_size < 1:
            raise UsageError("--page-size must be >= 1")
        query = Query(_iso(start), _iso(end), options.name, options.environment, options.page_size)
    config = {
        "url": options.url,
        "from": options.from_time,
        "to": options.to_time,
        "files": list(options.files),
        "name": options.name,
        "model": options.model,
        "environment": options.environment,
        "api_key_env": list(KEY_ENV) if options.url else None,
    }
    host = "langfuse"
    if out.exists():
        out.unlink()
    with TraceWriter(
        out, recorder=RECORDER, config=config, run=options.run or new_run_id(), host=host
    ) as writer:
        sink = _Sink(writer, options, host)
        if query is None:
            for given in options.files:
                path = Path(given)
                for where, obs in read_observations(path):
                    sink.add(obs, "export", f"{path}:{where}" if isinstance(where, int) else str(path))
            return LangfuseImport(out, sink.requests, sink.errors, "files", skipped=dict(sink.skipped))
        assert options.url is not None
        client = LangfuseClient(options.url, _auth(), retry=options.retry)
        with stop_on_signals() as stop:
            api, pages = asyncio.run(_pull(client, query, sink, options.progress, stop))
    waits = sum(client.waits)
    return LangfuseImport(
        out, sink.requests, sink.errors, api, pages, dict(sink.skipped), waits, stop.is_set()
    )


async def _pull(
    client: LangfuseClient, query: Query, sink: _Sink, progress: bool, stop: threading.Event
) -> tuple[str, int]:
    api, pages = "v2", 0
    with progress_counter("generations", progress) as advance:
        async for api, observations in iter_pages(client, query):
            pages += 1
            for obs in observations:
                sink.add(obs, api, f"{client.base_url} ({api} page {pages})")
            advance(len(observations))
            if stop.is_set():
                break
    return api, pages
