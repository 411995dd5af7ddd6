"""A small OTLP/HTTP traces receiver on loopback for tests: decodes each (gzip) protobuf request and keeps
it with its headers; answers from a script of status codes (default 200) with a protobuf response."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    request: ExportTraceServiceRequest


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    """Status codes to answer, in order; 200 once the list is used up."""
    rejected: int = 0
    """``partial_success.rejected_spans`` in every 200 answer."""
    posts: int = 0
    on_post: Callable[[int], None] | None = None
    """Called with the number of each POST (from 1) before it is answered."""

    def spans(self) -> list[Any]:
        return [
            span
            for got in self.received
            for rs in got.request.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    receiver = Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                receiver.posts += 1
                status = receiver.statuses.pop(0) if receiver.statuses else 200
            if receiver.on_post is not None:
                receiver.on_post(receiver.posts)
            if status != 200:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"not now")
                return
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            with lock:
                receiver.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, request)
                )
            answer = ExportTraceServiceResponse()
            if receiver.rejected:
                answer.partial_success.rejected_spans = receiver.rejected
                answer.partial_success.error_message = "some spans were bad"
            data = answer.SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
