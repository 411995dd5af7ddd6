"""``export otel`` against an OTLP/HTTP receiver on loopback: the protobuf it gets, decoded and checked."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from recorders.otel_export import ExportOptions, SpanOptions, export_otel, traces_url
from recorders.otel_export.records import iter_requests
from recorders.otel_export.spans import resource, to_span
from tests.export.capture_kit import REQUESTS, RUN, write_capture
from tests.export.otlp_receiver import otlp_receiver
from traceanalyzer.cli import main
from traceanalyzer.errors import BadInputError, SourceUnreachableError, UsageError
from traceanalyzer.trace_ids import span_id, trace_id

ROOT = Path(__file__).resolve().parents[2]


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind)


def _attrs(span: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in span.attributes}


def _by_client_id(spans: list[Any]) -> dict[str, Any]:
    return {_attrs(s)["traceanalyzer.client_id"]: s for s in spans}


def _export(capture: Path, url: str, **options: Any) -> Any:
    spans = SpanOptions(**options.pop("spans", {}))
    return export_otel([capture], ExportOptions(endpoint=url, spans=spans, progress=False, **options))


def test_one_span_per_request_with_recorded_times_and_semconv_attributes(tmp_path: Path) -> None:
    capture = write_capture(tmp_path)
    with otlp_receiver() as rx:
        result = _export(capture, rx.url)
    assert (result.spans, result.sent, result.refused) == (3, 3, 0)
    assert rx.received[0].path == "/v1/traces"
    assert rx.received[0].headers["content-type"] == "application/x-protobuf"
    spans = _by_client_id(rx.spans())
    assert set(spans) == {r["id"] for r in REQUESTS}
    for record in REQUESTS:
        span = spans[record["id"]]
        assert span.trace_id.hex() == trace_id(RUN, record["id"])
        assert span.span_id.hex() == span_id(RUN, record["id"])
        assert span.parent_span_id == b""
        assert span.start_time_unix_nano == record["t_send"]
        assert span.end_time_unix_nano == record["t_end"]
        assert span.kind == Span.SPAN_KIND_CLIENT
    ok, failed, completion = (spans[r["id"]] for r in REQUESTS)
    assert ok.name == "chat llama-3-8b"
    assert _attrs(ok) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "llama-3-8b",
        "gen_ai.request.stream": True,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 40,
        "gen_ai.usage.output_tokens": 3,
        "gen_ai.conversation.id": "chat-7",
        "gen_ai.response.time_to_first_chunk": pytest.approx(0.180530865, abs=1e-12),
        "http.response.status_code": 200,
        "traceanalyzer.run": RUN,
        "traceanalyzer.client_id": "req-000001",
        "traceanalyzer.host": "loadgen-1",
        "traceanalyzer.scenario": "chat",
        "traceanalyzer.stage": "s1",
        "traceanalyzer.in_flight": 3,
        "traceanalyzer.prompt_id": "p-1",
        "traceanalyzer.turn": 1,
        "traceanalyzer.tokens_source": "usage",
    }
    assert ok.status.code == Status.STATUS_CODE_OK
    assert [(e.name, e.time_unix_nano) for e in ok.events] == [("gen_ai.first_chunk", REQUESTS[0]["t_first"])]
    assert "Paris" not in str(ok)  # no text without --text
    failed_attrs = _attrs(failed)
    assert failed_attrs["error.type"] == "server_5xx"
    assert failed_attrs["http.response.status_code"] == 503
    assert "gen_ai.response.time_to_first_chunk" not in failed_attrs
    assert "gen_ai.conversation.id" not in failed_attrs
    assert failed.status.code == Status.STATUS_CODE_ERROR
    assert failed.status.message == "engine overloaded"
    assert list(failed.events) == []
    assert completion.name == "text_completion llama-3-8b"
    assert _attrs(completion)["gen_ai.response.finish_reasons"] == ["length"]
    resource_attrs = {
        kv.key: _value(kv.value) for kv in rx.received[0].request.resource_spans[0].resource.attributes
    }
    assert resource_attrs["service.name"] == "traceanalyzer"


def test_langfuse_attributes_and_basic_auth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    capture = write_capture(tmp_path)
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-lf-public")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-very-secret")
    with otlp_receiver() as rx, pytest.raises(SystemExit) as info:
        main(["export", "otel", str(capture), "--langfuse", "--endpoint", rx.url, "--text", "--quiet"])
    assert info.value.code == 0
    out = capsys.readouterr()
    assert "3 spans: 3 sent, 0 refused" in out.out
    assert "sk-lf-very-secret" not in out.out + out.err
    got = rx.received[0]
    assert got.path == "/api/public/otel/v1/traces"
    assert (
        got.headers["authorization"]
        == "Basic " + base64.b64encode(b"pk-lf-public:sk-lf-very-secret").decode()
    )
    assert got.headers["x-langfuse-ingestion-version"] == "4"
    spans = _by_client_id(rx.spans())
    ok = _attrs(spans["req-000001"])
    assert ok["langfuse.observation.type"] == "generation"
    assert ok["langfuse.observation.completion_start_time"] == "2026-03-01T12:00:01.180654Z"
    assert ok["langfuse.observation.model.name"] == "llama-3-8b"
    assert json.loads(ok["langfuse.observation.usage_details"]) == {"input": 40, "output": 3}
    assert ok["langfuse.session.id"] == "chat-7"
    assert ok["langfuse.trace.name"] == "chat"
    assert ok["langfuse.trace.tags"] == ["traceanalyzer", RUN]
    assert ok["langfuse.trace.metadata.run"] == RUN
    assert ok["langfuse.trace.metadata.stage"] == "s1"
    assert ok["langfuse.observation.metadata.client_id"] == "req-000001"
    assert ok["langfuse.observation.metadata.response_id"] == "chatcmpl-1"
    assert ok["langfuse.observation.output"] == "Paris is nice."
    assert json.loads(ok["gen_ai.output.messages"])[0]["parts"][0]["content"] == "Paris is nice."
    assert "langfuse.observation.level" not in ok
    failed = _attrs(spans["req-000002"])
    assert failed["langfuse.observation.level"] == "ERROR"
    assert failed["langfuse.observation.status_message"] == "engine overloaded"
    assert failed["langfuse.observation.metadata.error_class"] == "server_5xx"
    assert "langfuse.observation.completion_start_time" not in failed


def test_langfuse_without_keys_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANGFUSE_PUBLIC_KEY", raising=False)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk")
    with pytest.raises(Exception, match=r"set LANGFUSE_PUBLIC_KEY$"):
        _export(write_capture(tmp_path), "http://127.0.0.1:9", spans={"langfuse": True})


def test_include_chunks_gives_one_event_per_chunk(tmp_path: Path) -> None:
    capture = write_capture(tmp_path)
    with otlp_receiver() as rx:
        _export(capture, rx.url, spans={"include_chunks": True})
    completion = _by_client_id(rx.spans())["req-000003"]
    t_send = REQUESTS[2]["t_send"]
    assert [
        (e.name, e.time_unix_nano, {kv.key: _value(kv.value) for kv in e.attributes})
        for e in completion.events
    ][1:] == [
        ("gen_ai.chunk", t_send + 200_000_000, {"index": 0, "tokens": 2}),
        ("gen_ai.chunk", t_send + 500_000_000, {"index": 1, "tokens": 3}),
    ]


def test_batches_retries_and_a_second_export_sends_the_same_ids(tmp_path: Path) -> None:
    capture = write_capture(tmp_path)
    with otlp_receiver() as rx:
        rx.statuses = [503]  # the first try of the first batch: retried with backoff
        first = _export(capture, rx.url, batch=2)
        ids_first = sorted((s.trace_id, s.span_id) for s in rx.spans())
        rx.received.clear()
        second = _export(capture, rx.url, batch=2)
    assert rx.posts == 5  # 503 + 2 batches, then 2 batches
    assert (first.sent, second.sent) == (3, 3)
    assert sorted((s.trace_id, s.span_id) for s in rx.spans()) == ids_first
    assert len(set(ids_first)) == 3


def test_refused_spans_are_counted(tmp_path: Path) -> None:
    capture = write_capture(tmp_path)
    with otlp_receiver() as rx:
        rx.statuses = [400]
        result = _export(capture, rx.url, batch=2)
    assert (result.spans, result.sent, result.refused) == (3, 1, 2)
    assert result.refusals == ("HTTP 400 Bad Request: not now",)
    with otlp_receiver() as rx:
        rx.rejected = 1
        result = _export(capture, rx.url)
    assert (result.sent, result.refused) == (2, 1)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_endpoint_exits_3(tmp_path: Path, capsys: Any) -> None:
    capture = write_capture(tmp_path)
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(SourceUnreachableError):
        _export(capture, url, timeout_s=0.5)
    with pytest.raises(SystemExit) as info:
        main(["export", "otel", str(capture), "--endpoint", url, "--timeout", "0.5", "--quiet"])
    assert info.value.code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: cannot reach {url}/v1/traces")


def test_out_writes_valid_otlp_json(tmp_path: Path) -> None:
    capture = write_capture(tmp_path)
    out = tmp_path / "spans.json"
    result = export_otel([capture], ExportOptions(out=str(out), batch=2, progress=False))
    assert (result.spans, result.sent) == (3, 3)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    records = list(iter_requests([capture]))
    assert [r["t_send"] for r in records] == [r["t_send"] for r in REQUESTS]
    res = resource(SpanOptions())
    expected = [
        encode_spans([to_span(r, SpanOptions(), res) for r in records[:2]]),
        encode_spans([to_span(records[2], SpanOptions(), res)]),
    ]
    for line, want in zip(lines, expected, strict=True):
        doc = json.loads(line)
        span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        assert len(span["traceId"]) == 32 and int(span["traceId"], 16)  # OTLP/JSON: hex ids
        assert len(span["spanId"]) == 16
        assert span["kind"] == Span.SPAN_KIND_CLIENT  # enums as integers
        assert span["startTimeUnixNano"] == str(
            want.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano
        )
        # With the ids back in protobuf's base64 form, protobuf's own JSON parser reads the file exactly.
        for rs in doc["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for s in ss["spans"]:
                    for key in ("traceId", "spanId"):
                        s[key] = base64.b64encode(bytes.fromhex(s[key])).decode()
        parsed = json_format.ParseDict(doc, ExportTraceServiceRequest())
        assert parsed == want


def test_bad_line_names_file_and_line(tmp_path: Path) -> None:
    capture = write_capture(tmp_path)
    with open(capture, "a", encoding="utf-8") as fh:
        fh.write('{"type":"request","v":1,"id":"x","t_send":"soon","t_end":1,"chunks_us":[]}\n')
    with pytest.raises(BadInputError, match=rf"{capture}:5: field 't_send'"):
        export_otel([capture], ExportOptions(out=str(tmp_path / "o.json"), progress=False))


def test_bundled_sample_exports_every_request(tmp_path: Path) -> None:
    sample = ROOT / "sample_traces" / "queue-timeout"
    records = list(iter_requests([sample]))
    with otlp_receiver() as rx:
        result = _export(sample, rx.url, batch=500)
    assert result.sent == len(records) > 0
    spans = rx.spans()
    assert sorted(s.start_time_unix_nano for s in spans) == sorted(r["t_send"] for r in records)
    errors = sum(1 for r in records if r.get("error"))
    assert errors > 0
    assert sum(1 for s in spans if s.status.code == Status.STATUS_CODE_ERROR) == errors


def test_traces_url() -> None:
    assert traces_url("http://h:4318", langfuse=False) == "http://h:4318/v1/traces"
    assert traces_url("https://cloud.langfuse.com/", langfuse=True) == (
        "https://cloud.langfuse.com/api/public/otel/v1/traces"
    )
    assert traces_url("http://h/custom/v1/traces", langfuse=True) == "http://h/custom/v1/traces"
    assert traces_url("https://lf.example.com/api/public/otel", langfuse=True) == (
        "https://lf.example.com/api/public/otel/v1/traces"
    )
    with pytest.raises(UsageError, match="not both"):
        export_otel(["x"], ExportOptions(endpoint="http://h", out="o.json"))


def test_sigterm_stops_after_the_batch_in_hand(tmp_path: Path, capsys: Any) -> None:
    capture = write_capture(tmp_path)
    with otlp_receiver() as rx:
        rx.on_post = lambda n: os.kill(os.getpid(), signal.SIGTERM) if n == 1 else None
        with pytest.raises(SystemExit) as info:
            main(["export", "otel", str(capture), "--endpoint", rx.url, "--batch", "1", "--quiet"])
    assert info.value.code == 130
    assert rx.posts == 1 and len(rx.spans()) == 1
    out = capsys.readouterr()
    assert "3 spans" not in out.out and "1 spans: 1 sent, 0 refused" in out.out
    assert "stopped by a signal" in out.err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the usual handler is back
