"""Export and import speed: ``export otel`` of N generated requests (default 20,000, 50 chunk offsets each)
to an OTLP/HTTP receiver on loopback and to an OTLP JSON file, and ``import langfuse`` of N generations from
a JSONL export file. Prints spans (or generations) per second for each.

    python benchmarks/otel_export_speed.py [--requests N] [--batch N]

The receiver decodes every protobuf body it gets (tests/export/otlp_receiver.py), so the figure includes
that work on the same machine: it is a lower bound of the exporter's own speed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recorders.langfuse_import import ImportOptions, import_langfuse
from recorders.otel_export import ExportOptions, SpanOptions, export_otel
from recorders.tracefile import TraceWriter
from tests.export.otlp_receiver import otlp_receiver

T0 = 1_772_366_400_000_000_000


def write_capture(path: Path, n: int) -> None:
    with TraceWriter(path, recorder="http_stream", run="bench", host="h") as writer:
        for i in range(n):
            t_send = T0 + i * 50_000_000
            writer.write(
                {
                    "type": "request",
                    "id": f"req-{i}",
                    "response_id": f"chatcmpl-{i}",
                    "model": "m",
                    "api": "chat",
                    "scenario": "chat",
                    "stage": "s1",
                    "in_flight": 8,
                    "prompt_tokens": 100,
                    "t_send": t_send,
                    "t_first": t_send + 150_000_000,
                    "t_end": t_send + 650_000_000,
                    "chunks_us": [150_000 + 10_000 * k for k in range(50)],
                    "output_tokens": 50,
                    "status": 200,
                    "finish_reason": "stop",
                    "error": None,
                    "session_id": f"chat-{i // 4}",
                }
            )


def write_langfuse(path: Path, n: int) -> None:
    def iso(ns: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns // 10**6 % 1000:03d}Z"

    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            t = T0 + i * 50_000_000
            row = {
                "id": f"gen-{i}",
                "traceId": f"t-{i}",
                "type": "GENERATION",
                "startTime": iso(t),
                "completionStartTime": iso(t + 150_000_000),
                "endTime": iso(t + 650_000_000),
                "providedModelName": "m",
                "usageDetails": {"input": 100, "output": 50},
                "level": "DEFAULT",
                "sessionId": f"chat-{i // 4}",
            }
            fh.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        capture = root / "requests.jsonl"
        write_capture(capture, args.requests)
        with otlp_receiver() as rx:
            start = time.perf_counter()
            result = export_otel(
                [capture],
                ExportOptions(
                    endpoint=rx.url, batch=args.batch, progress=False, spans=SpanOptions(langfuse=False)
                ),
            )
            seconds = time.perf_counter() - start
        assert result.sent == args.requests == len(rx.spans())
        print(
            f"export otel -> OTLP/HTTP receiver: {args.requests} spans in {seconds:.2f} s = "
            f"{args.requests / seconds:,.0f} spans/s (batch {args.batch})"
        )
        start = time.perf_counter()
        export_otel([capture], ExportOptions(out=str(root / "spans.json"), batch=args.batch, progress=False))
        seconds = time.perf_counter() - start
        size_mb = (root / "spans.json").stat().st_size / 1e6
        print(
            f"export otel --out OTLP JSON: {args.requests} spans in {seconds:.2f} s = "
            f"{args.requests / seconds:,.0f} spans/s ({size_mb:.1f} MB)"
        )
        source = root / "observations.jsonl"
        write_langfuse(source, args.requests)
        start = time.perf_counter()
        imported = import_langfuse(
            ImportOptions(out_dir=str(root / "imported"), files=[str(source)], progress=False)
        )
        seconds = time.perf_counter() - start
        assert imported.requests == args.requests
        print(
            f"import langfuse (JSONL export file): {args.requests} generations in {seconds:.2f} s = "
            f"{args.requests / seconds:,.0f} generations/s"
        )


if __name__ == "__main__":
    main()
