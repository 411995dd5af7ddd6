"""AIPerf 0.13 exports recorded by the real tool (tests/imports/fixtures/aiperf-0.13.0) -> trace files.

The request count equals AIPerf's, every number of AIPerf's summary that its export can rebuild is reproduced
under AIPerf's definitions, the raw export's chunk stamps give AIPerf's own TTFT to the microsecond, telemetry
lands on the requests' clock, and broken files stop the import with exit code 2 naming file and line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.imports.peer_testkit import (
    AIPERF,
    analyze_directly,
    copy_fixture,
    read_jsonl,
    records,
    report_directly,
    run_cli,
)

TOOL_SUMMARY = json.loads((AIPERF / "profile_export_aiperf.json").read_text(encoding="utf-8"))
PROFILING = [
    r for r in read_jsonl(AIPERF / "profile_export.jsonl") if r["metadata"]["benchmark_phase"] == "profiling"
]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("aiperf-capture")
    assert run_cli(["import", str(AIPERF), "--out", str(out), "--run", "r1"]) == 0  # tool detected
    return out


@pytest.fixture(scope="module")
def summary(imported: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("aiperf-summary") / "summary.json"
    assert run_cli(["analyze", str(imported), "--json", str(path)]) == 0
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result


def test_request_count_equals_aiperfs(imported: Path) -> None:
    requests = records(imported, "request")
    tool_total = TOOL_SUMMARY["request_count"]["avg"] + TOOL_SUMMARY["error_request_count"]["avg"]
    assert len(requests) == tool_total == len(PROFILING) == 30
    assert sum(1 for r in requests if r["error"] is not None) == TOOL_SUMMARY["error_request_count"]["avg"]
    assert {r["id"] for r in requests} == {r["metadata"]["x_request_id"] for r in PROFILING}
    failed = [r for r in requests if r["error"]]
    assert {r["error"]["class"] for r in failed} <= {"context_length", "client_4xx", "rate_limited"}
    assert all(r["status"] == 400 for r in failed)


def test_every_parity_row_matches(summary: dict[str, Any]) -> None:
    parity = summary["parity"]["aiperf"]
    assert parity["version"] == TOOL_SUMMARY["aiperf_version"] == "0.13.0"
    assert parity["requests"] == {"tool": 30, "imported": 30}
    rows = {(m["name"], m["stat"]): m for m in parity["metrics"]}
    for key in [
        ("time_to_first_token", "p99"),
        ("time_to_first_token", "std"),
        ("request_latency", "p50"),
        ("inter_token_latency", "avg"),
        ("inter_chunk_latency", "p90"),
        ("output_sequence_length", "max"),
        ("benchmark_duration", "avg"),
        ("request_throughput", "avg"),
        ("output_token_throughput", "avg"),
        ("request_count", "avg"),
        ("error_request_count", "avg"),
    ]:
        assert key in rows, key
        assert rows[key]["tool_value"] == pytest.approx(TOOL_SUMMARY[key[0]][key[1]])
    missed = [
        (m["name"], m["stat"], m["tool_value"], m["recomputed"]) for m in parity["metrics"] if not m["match"]
    ]
    assert missed == []
    assert all(m["rel_diff"] <= 0.001 and m["why_different"] for m in parity["metrics"])
    # AIPerf's ITL is our TPOT and its inter-chunk latency our ITL: same numbers, other names.
    assert rows[("inter_token_latency", "p50")]["ours"] == pytest.approx(
        summary["tpot"]["p50"] * 1000, rel=1e-6
    )
    assert rows[("time_to_first_token", "p99")]["ours"] == pytest.approx(
        summary["ttft"]["p99"] * 1000, rel=1e-6
    )
    # Throughputs differ by definition (windowed means vs AIPerf's phase window), and say why.
    assert "window" in rows[("request_throughput", "avg")]["why_different"]


def test_raw_export_ttft_equals_aiperfs_to_the_microsecond(imported: Path) -> None:
    tool_ttft_ms = {
        r["metadata"]["x_request_id"]: r["metrics"]["time_to_first_token"]["value"]
        for r in PROFILING
        if "time_to_first_token" in r["metrics"]
    }
    requests = {r["id"]: r for r in records(imported, "request")}
    assert len(tool_ttft_ms) == 27
    for rid, ttft_ms in tool_ttft_ms.items():
        rec = requests[rid]
        assert abs((rec["t_first"] - rec["t_send"]) / 1e6 - ttft_ms) <= 1e-3, rid
        assert rec["chunks_us"][0] == round((rec["t_first"] - rec["t_send"]) / 1000)
        assert rec["output_tokens"] >= 1 and rec["tokens_source"] == "tokenizer"
        assert rec["response_id"].startswith("chatcmpl-") and rec["text"]


def test_gpu_and_server_samples_share_the_requests_clock(imported: Path, summary: dict[str, Any]) -> None:
    requests = records(imported, "request")
    start = min(r["t_send"] for r in requests)
    end = max(r["t_end"] for r in requests)
    gpu, server = records(imported, "gpu"), records(imported, "server")
    assert len(gpu) == len(read_jsonl(AIPERF / "gpu_telemetry_export.jsonl")) > 0
    assert len(server) == len(read_jsonl(AIPERF / "server_metrics_export.jsonl")) > 0
    for rec in [*gpu, *server]:
        # AIPerf starts telemetry before the warmup and stops it after the run: seconds, not hours, apart.
        assert start - 30e9 <= rec["t"] <= end + 30e9
    assert sum(start <= g["t"] <= end for g in gpu) >= 3
    assert {g["name"] for g in gpu} == {"NVIDIA H100 80GB HBM3"} and all(g["source"] == "dcgm" for g in gpu)
    assert all(s["engine"] == "vllm" and s["running"] is not None for s in server)
    # Joined onto the analysis' window grid: the resources summary is measured from them.
    assert summary["resources"]["gpu_util_mean"] is not None
    assert summary["resources"]["kv_cache_pct_max"] is not None


def test_a_truncated_file_stops_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = copy_fixture(AIPERF, tmp_path / "export")
    path = src / "profile_export.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:9]) + lines[9][: len(lines[9]) // 2], encoding="utf-8")
    assert run_cli(["import", "aiperf", str(src), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}:10: not JSON") and "cut short" in err
    assert not list((tmp_path / "out").glob("*.jsonl"))  # nothing half-written


def test_a_foreign_value_stops_with_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = copy_fixture(AIPERF, tmp_path / "export")
    path = src / "profile_export.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    bad = json.loads(lines[6])
    bad["metadata"]["request_start_ns"] = "yesterday"
    lines[6] = json.dumps(bad) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    assert run_cli(["import", str(src), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {path}:7: field 'metadata.request_start_ns' must be int, got str \"yesterday\"")


def test_an_unknown_layout_names_what_was_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "results.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp_path / "profile_export.jsonl").write_text('{"foo": 1}\n', encoding="utf-8")
    assert run_cli(["import", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "not a known benchmark export; found 2 file(s): profile_export.jsonl, results.csv" in err
    assert "aiperf: profile_export.jsonl" in err


def test_analyze_and_report_take_the_export_directly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = analyze_directly(AIPERF, tmp_path, "aiperf")
    assert all(m["match"] for m in first["parity"]["aiperf"]["metrics"])
    assert first["requests"] == {"total": 30, "ok": 27, "failed": 3}
    html = report_directly(tmp_path)
    assert "Parity with AIPerf" in html and "imported from the capture cache" in html
    assert "time_to_first_token" in html


def test_the_bundled_aiperf_sample_reproduces_aiperfs_summary(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[2] / "sample_traces" / "aiperf-run"
    out = tmp_path / "summary.json"
    assert run_cli(["analyze", str(sample), "--no-cache", "--json", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    parity = result["parity"]["aiperf"]
    assert parity["requests"] == {"tool": 30, "imported": 30}
    assert len(parity["metrics"]) > 100 and all(m["match"] for m in parity["metrics"])
    assert result["resources"]["gpu_util_mean"] is not None


def test_a_multi_turn_run_keeps_its_chat_ids_as_conversations(tmp_path: Path) -> None:
    """AIPerf's multi-turn ids become the schema's ``session_id`` (``x_correlation_id``) and ``turn``
    (``turn_index``), and the conversations stage sees the sessions. The recorded export is turned into a
    multi-turn one: its profiling records taken three at a time as turns 0-2 of one session."""
    src = copy_fixture(AIPERF, tmp_path / "export")
    path = src / "profile_export.jsonl"
    rows = read_jsonl(path)
    profiling = [r for r in rows if r["metadata"]["benchmark_phase"] == "profiling"]
    for i, r in enumerate(profiling):
        r["metadata"]["x_correlation_id"] = f"chat-{i // 3}"
        r["metadata"]["turn_index"] = i % 3
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    assert run_cli(["import", "aiperf", str(src), "--out", str(out)]) == 0
    requests = records(out, "request")
    by_id = {r["metadata"]["x_request_id"]: r["metadata"] for r in profiling}
    assert len(requests) == len(profiling) == 30
    for rec in requests:
        md = by_id[rec["id"]]
        assert (rec["session_id"], rec["turn"]) == (md["x_correlation_id"], md["turn_index"])
    summary_path = tmp_path / "summary.json"
    assert run_cli(["analyze", str(out), "--json", str(summary_path)]) == 0
    conversations = json.loads(summary_path.read_text(encoding="utf-8"))["conversations"]
    assert (conversations["sessions"], conversations["turns"]) == (10, 30)
    assert [row["turn"] for row in conversations["by_turn"]] == [0, 1, 2]


def test_a_single_turn_run_has_no_conversations(imported: Path, summary: dict[str, Any]) -> None:
    assert not any("session_id" in r for r in records(imported, "request"))
    assert summary["conversations"] is None
