"""Sending spans over OTLP/HTTP (protobuf) with the OpenTelemetry SDK's exporter, or writing OTLP JSON.

The SDK's :class:`OTLPSpanExporter` encodes each batch, retries 429/502/503/504 and connection errors with
exponential backoff (jitter, bounded by ``timeout_s``), and reports success or failure. A session that notes
each response lets us count what the backend refused (an HTTP error, or ``partial_success.rejected_spans``)
and tell an unreachable endpoint (exit 3) from a refusal.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

import requests
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

_SDK_LOGGER = "opentelemetry.exporter"
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


class WatchedSession(requests.Session):
    """A requests session that remembers the last response or connection error of a request."""

    def __init__(self) -> None:
        super().__init__()
        self.last_response: requests.Response | None = None
        self.last_error: requests.RequestException | None = None

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        self.last_response, self.last_error = None, None
        try:
            resp = super().request(method, url, *args, **kwargs)
        except requests.RequestException as exc:
            self.last_error = exc
            raise
        self.last_response = resp
        return resp


@dataclass(frozen=True)
class BatchOutcome:
    """What became of one batch: ``sent`` accepted spans, ``refused`` spans, ``unreachable`` when no
    response came back (after the exporter's retries), ``reason`` a one-line description of a failure."""

    sent: int
    refused: int
    unreachable: bool = False
    reason: str | None = None


def _rejected(resp: requests.Response) -> int:
    """``partial_success.rejected_spans`` of a protobuf export response (0 when absent or not protobuf)."""
    if "protobuf" not in resp.headers.get("Content-Type", "") or not resp.content:
        return 0
    answer = ExportTraceServiceResponse()
    try:
        answer.ParseFromString(resp.content)
    except Exception:  # a body that is not a response message: nothing was said about rejections
        return 0
    return int(answer.partial_success.rejected_spans)


@contextlib.contextmanager
def _quiet_sdk() -> Iterator[None]:
    """Keep the SDK exporter's own log lines (every retry) off stderr; failures are reported by us."""
    logger = logging.getLogger(_SDK_LOGGER)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


class OtlpSender:
    """Sends batches of spans to ``endpoint`` (the full traces URL) with ``headers``."""

    def __init__(
        self, endpoint: str, headers: Mapping[str, str], *, timeout_s: float, gzip: bool = True
    ) -> None:
        self.endpoint = endpoint
        self.session = WatchedSession()
        self.exporter = OTLPSpanExporter(
            endpoint=endpoint,
            headers=dict(headers),
            timeout=timeout_s,
            compression=Compression.Gzip if gzip else Compression.NoCompression,
            session=self.session,
        )

    def send(self, spans: Sequence[ReadableSpan]) -> BatchOutcome:
        with _quiet_sdk():
            result = self.exporter.export(spans)
        resp, error = self.session.last_response, self.session.last_error
        if result is SpanExportResult.SUCCESS and resp is not None:
            rejected = min(_rejected(resp), len(spans))
            return BatchOutcome(len(spans) - rejected, rejected)
        if resp is None:
            reason = f"{type(error).__name__}" if error is not None else "no response"
            return BatchOutcome(0, 0, unreachable=True, reason=reason)
        body = resp.text[:200].strip().replace("\n", " ") if resp.text else ""
        return BatchOutcome(
            0, len(spans), reason=f"HTTP {resp.status_code} {resp.reason}: {body}".rstrip(": ")
        )

    def close(self) -> None:
        self.exporter.shutdown()


def otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """The OTLP/JSON form of one ``ExportTraceServiceRequest``: the SDK's protobuf encoding turned into JSON
    by protobuf's own mapping (camelCase names, enums as integers), with trace and span ids as hex strings
    as OTLP/JSON requires (protobuf's mapping would give base64)."""
    message = json_format.MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in message.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in _ID_FIELDS:
                    if key in span:
                        span[key] = _b64_to_hex(span[key])
                for link in span.get("links", []):
                    for key in _ID_FIELDS:
                        if key in link:
                            link[key] = _b64_to_hex(link[key])
    return message


def _b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def write_json_line(fh: IO[str], spans: Sequence[ReadableSpan]) -> None:
    """Append one batch to an OTLP JSON file: one ``ExportTraceServiceRequest`` per line (the OpenTelemetry
    file exporter's format), flushed."""
    fh.write(json.dumps(otlp_json(spans), ensure_ascii=False, separators=(",", ":")) + "\n")
    fh.flush()
