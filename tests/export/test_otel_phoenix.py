"""``export otel`` into a real OpenTelemetry backend: Arize Phoenix from PyPI, started on loopback, the spans
read back through Phoenix's own client. The first run installs Phoenix into ``.tmp/phoenix-venv`` (several
minutes, see tests/export/phoenix_kit.py); the test is skipped, with the reason, only when that install or
Phoenix's start fails."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from recorders.otel_export import ExportOptions, export_otel
from recorders.otel_export.records import iter_requests
from tests.export.capture_kit import write_capture
from tests.export.phoenix_kit import Unavailable, phoenix_server, wait_for_spans
from traceanalyzer.trace_ids import span_id, trace_id

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_traces" / "queue-timeout"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with phoenix_server(tmp_path_factory.mktemp("phoenix")) as url:
            yield url
    except Unavailable as exc:
        pytest.skip(f"Arize Phoenix is not available here: {exc}")


def _export(paths: list[Path], url: str, project: str) -> Any:
    return export_otel(
        paths, ExportOptions(endpoint=url, headers=(("x-project-name", project),), batch=200, progress=False)
    )


def _ns(text: str) -> int:
    moment = datetime.fromisoformat(text)
    return (int(moment.timestamp()) * 1_000_000 + moment.microsecond) * 1000


def test_sample_round_trip_through_phoenix(phoenix: str, tmp_path: Path) -> None:
    project = f"traceanalyzer-{uuid.uuid4().hex[:8]}"
    records = list(iter_requests([SAMPLE]))
    assert any(r.get("error") for r in records) and any(not r.get("error") for r in records)
    first = _export([SAMPLE], phoenix, project)
    assert (first.sent, first.refused) == (len(records), 0)
    # A second export sends the same ids. The small capture after it marks when Phoenix has taken in
    # everything sent before (it ingests in order), so one read (the client is slow to start) sees it all.
    again = _export([SAMPLE], phoenix, project)
    assert again.sent == len(records)
    marker = write_capture(tmp_path)
    marker_traces = {trace_id(r["run"], r["id"]) for r in iter_requests([marker])}
    _export([marker], phoenix, project)
    spans = wait_for_spans(phoenix, project, len(records) + len(marker_traces))

    sample_traces = {trace_id(r["run"], r["id"]) for r in records}
    assert {s["context"]["trace_id"] for s in spans} == sample_traces | marker_traces  # no new trace ids
    assert len(spans) == len(records) + len(marker_traces)  # one span per request, none doubled
    by_id = {s["context"]["span_id"]: s for s in spans}
    for record in records:
        span = by_id[span_id(record["run"], record["id"])]
        assert span["context"]["trace_id"] == trace_id(record["run"], record["id"])
        assert span["parent_id"] is None
        assert abs(_ns(span["start_time"]) - record["t_send"]) < 1000  # Phoenix keeps microseconds
        assert abs(_ns(span["end_time"]) - record["t_end"]) < 1000
        attrs = span["attributes"]
        assert attrs["traceanalyzer.client_id"] == record["id"]
        assert attrs["traceanalyzer.run"] == record["run"]
        assert attrs["gen_ai.request.model"] == record["model"]
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs.get("gen_ai.usage.output_tokens") == record.get("output_tokens")
        assert attrs.get("gen_ai.response.id") == record.get("response_id")
        if record.get("t_first") is not None:
            ttft = (record["t_first"] - record["t_send"]) / 1e9
            assert attrs["gen_ai.response.time_to_first_chunk"] == pytest.approx(ttft, abs=1e-9)
        if record.get("error"):
            assert span["status_code"] == "ERROR"
            assert span["status_message"] == record["error"]["message"]
            assert attrs["error.type"] == record["error"]["class"]
        else:
            assert span["status_code"] == "OK"
    chat = next(s for s in spans if s["attributes"]["traceanalyzer.client_id"] == "req-000001")
    assert chat["attributes"]["gen_ai.conversation.id"] == "chat-7"
