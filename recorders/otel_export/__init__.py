"""``traceanalyzer export otel``: a capture's requests as OpenTelemetry spans, sent over OTLP/HTTP to any
backend (Langfuse, Arize Phoenix, an OpenTelemetry Collector, ...) or written as OTLP JSON.

``export_otel(paths, options) -> ExportResult``. Stages: :mod:`.records` reads the request records,
:mod:`.spans` makes one span per request, :mod:`.send` sends batches (or writes JSON). See
docs/observability.md for the attribute mapping and the set-ups.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recorders.counting import progress_counter, stop_on_signals
from recorders.otel_export.records import ReadStats, iter_requests
from recorders.otel_export.send import OtlpSender, write_json_line
from recorders.otel_export.spans import SpanOptions, resource, to_span
from traceanalyzer.errors import SourceUnreachableError, UsageError

LANGFUSE_BASE_PATH = "/api/public/otel"
TRACES_PATH = "/v1/traces"
LANGFUSE_PATH = LANGFUSE_BASE_PATH + TRACES_PATH
LANGFUSE_KEY_ENV = ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY")

__all__ = ["ExportOptions", "ExportResult", "SpanOptions", "export_otel", "traces_url"]


@dataclass(frozen=True)
class ExportOptions:
    """``endpoint``: the backend (a base URL, or the full ``.../v1/traces`` URL); not needed with ``out``.
    ``headers``: extra HTTP headers (never written anywhere). ``out``: write OTLP JSON there instead of
    sending. ``batch``: spans per request. ``timeout_s``: per batch, retries included."""

    endpoint: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    spans: SpanOptions = field(default_factory=SpanOptions)
    out: str | None = None
    batch: int = 256
    timeout_s: float = 10.0
    progress: bool = True


@dataclass(frozen=True)
class ExportResult:
    """``spans``: spans made; ``sent``: accepted by the backend (or written with ``out``); ``refused``: spans
    the backend refused, with ``refusals`` the distinct reasons; ``endpoint``: where they went (no
    credentials); ``partial_lines``: partial last lines skipped in the capture; ``stopped``: SIGINT or
    SIGTERM ended the export after the batch in hand."""

    spans: int
    sent: int
    refused: int
    endpoint: str | None
    out: str | None
    refusals: tuple[str, ...] = ()
    partial_lines: int = 0
    stopped: bool = False


def traces_url(endpoint: str, *, langfuse: bool) -> str:
    """The OTLP traces URL of ``endpoint``: kept when it already ends with ``/v1/traces``; else
    ``/v1/traces`` added to an OTLP base URL (Langfuse's ``.../api/public/otel`` too), and with ``langfuse``
    ``/api/public/otel/v1/traces`` added to a Langfuse base URL."""
    if not endpoint.startswith(("http://", "https://")):
        raise UsageError(f"--endpoint must be an http(s) URL, not {endpoint!r}")
    base = endpoint.rstrip("/")
    if base.endswith(TRACES_PATH):
        return base
    if langfuse and not base.endswith(LANGFUSE_BASE_PATH):
        return base + LANGFUSE_PATH
    return base + TRACES_PATH


def langfuse_auth() -> str:
    """The Basic ``Authorization`` value from ``LANGFUSE_PUBLIC_KEY`` / ``LANGFUSE_SECRET_KEY``."""
    public, secret = (os.environ.get(name, "") for name in LANGFUSE_KEY_ENV)
    if not public or not secret:
        missing = " and ".join(n for n, v in zip(LANGFUSE_KEY_ENV, (public, secret), strict=True) if not v)
        raise UsageError(f"--langfuse needs the project's API keys: set {missing}")
    return "Basic " + base64.b64encode(f"{public}:{secret}".encode()).decode("ascii")


def _headers(options: ExportOptions) -> dict[str, str]:
    headers: dict[str, str] = {}
    if options.spans.langfuse:
        headers["Authorization"] = langfuse_auth()
        headers["x-langfuse-ingestion-version"] = "4"
    headers.update(options.headers)
    return headers


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def export_otel(paths: Sequence[str | os.PathLike[str]], options: ExportOptions) -> ExportResult:
    """Export every request of the capture at ``paths`` as one span; see :class:`ExportOptions`.

    Raises :class:`SourceUnreachableError` (exit 3) when the endpoint cannot be reached after the exporter's
    retries, :class:`UsageError` for options that do not fit, :class:`BadInputError` for a bad trace line.
    """
    if options.batch < 1:
        raise UsageError("--batch must be >= 1")
    if (options.out is None) == (options.endpoint is None):
        raise UsageError("give --endpoint URL to send the spans, or --out FILE.json to write them (not both)")
    stats = ReadStats()
    res = resource(options.spans)
    spans = (to_span(r, options.spans, res) for r in iter_requests(paths, stats))
    made = sent = refused = 0
    reasons: list[str] = []
    with progress_counter("exporting spans", options.progress) as advance, stop_on_signals() as stop:
        if options.out is not None:
            Path(options.out).parent.mkdir(parents=True, exist_ok=True)
            with open(options.out, "w", encoding="utf-8") as fh:
                for batch in _batches(spans, options.batch):
                    write_json_line(fh, batch)
                    made += len(batch)
                    sent += len(batch)
                    advance(len(batch))
                    if stop.is_set():
                        break
            return ExportResult(
                made, sent, 0, None, options.out, partial_lines=stats.partial_lines, stopped=stop.is_set()
            )
        assert options.endpoint is not None
        url = traces_url(options.endpoint, langfuse=options.spans.langfuse)
        sender = OtlpSender(url, _headers(options), timeout_s=options.timeout_s)
        try:
            for batch in _batches(spans, options.batch):
                outcome = sender.send(batch)
                made += len(batch)
                if outcome.unreachable:
                    raise SourceUnreachableError(
                        f"cannot reach {url} ({outcome.reason}); {sent} of the spans so far were sent"
                    )
                sent += outcome.sent
                refused += outcome.refused
                if outcome.reason and outcome.reason not in reasons:
                    reasons.append(outcome.reason)
                advance(len(batch))
                if stop.is_set():
                    break
        finally:
            sender.close()
    return ExportResult(made, sent, refused, url, None, tuple(reasons), stats.partial_lines, stop.is_set())
