"""llmperf results recorded by the real tool (tests/imports/fixtures/llmperf-0.1.0)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recorders.importers import claims, expand
from tests.imports.peer_testkit import (
    EVALSCOPE,
    LLMPERF,
    analyze_directly,
    copy_fixture,
    import_and_analyze,
    import_cut_short,
    records,
    report_directly,
    run_cli,
)

RESPONSES_FILE = LLMPERF / "sim-llama-3-8b_100_24_individual_responses.json"
SUMMARY_FILE = LLMPERF / "sim-llama-3-8b_100_24_summary.json"
RESPONSES = json.loads(RESPONSES_FILE.read_text(encoding="utf-8"))
SUMMARY = json.loads(SUMMARY_FILE.read_text(encoding="utf-8"))
START_NS = 1_796_572_800 * 10**9


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("llmperf-capture")
    return import_and_analyze(LLMPERF, out, 1_796_572_800)


def test_request_count_and_durations_equal_llmperfs(summary: dict[str, Any]) -> None:
    requests = records(Path(summary["_capture"]), "request")
    assert len(requests) == len(RESPONSES) == SUMMARY["results_num_requests_started"] == 17
    assert summary["requests"] == {"total": 17, "ok": 17, "failed": 0}
    for rec, entry in zip(requests, RESPONSES, strict=True):
        assert rec["t_first"] - rec["t_send"] == round(entry["ttft_s"] * 1e9)
        assert rec["t_end"] - rec["t_send"] == round(entry["end_to_end_latency_s"] * 1e9)
        assert (rec["prompt_tokens"], rec["output_tokens"]) == (
            entry["number_input_tokens"],
            entry["number_output_tokens"],
        )
        assert rec["peer"]["inter_token_latency_s"] == entry["inter_token_latency_s"]
        assert rec["peer"]["send_time"] == "laid out"


def test_the_send_times_are_laid_out_on_llmperfs_closed_loops(summary: dict[str, Any]) -> None:
    requests = records(Path(summary["_capture"]), "request")
    sends = sorted(r["t_send"] for r in requests)
    # --start places the first send; the three threads each send their first request there.
    assert sends[:3] == [START_NS] * 3 and sends[3] > START_NS
    ends = sorted(r["t_end"] for r in requests)
    assert all(sends[i + 3] in ends for i in range(len(sends) - 3))  # each later send at an earlier end
    in_flight = max(sum(1 for r in requests if r["t_send"] <= t < r["t_end"]) for t in sends)
    assert in_flight == SUMMARY["num_concurrent_requests"] == 3


def test_nothing_unrecorded_is_invented(summary: dict[str, Any]) -> None:
    requests = records(Path(summary["_capture"]), "request")
    assert all(r["chunks_us"] == [] and "chunk_tokens" not in r for r in requests)
    unrecorded = ("api", "max_tokens", "response_id", "in_flight", "finish_reason", "text")
    assert all(key not in r for r in requests for key in unrecorded)
    assert summary["itl"]["count"] == 0  # no chunk gaps in llmperf's export
    assert summary["ttft"]["count"] == 17


def test_every_parity_row_matches(summary: dict[str, Any]) -> None:
    parity = summary["parity"]["llmperf"]
    assert parity["version"] == SUMMARY["version"] == "2023-08-31"
    assert parity["requests"] == {"tool": 17, "imported": 17}
    rows = {(m["name"], m["stat"]): m for m in parity["metrics"]}
    for metric in ("ttft_s", "end_to_end_latency_s", "inter_token_latency_s", "number_output_tokens"):
        for stat in ("quantiles_p25", "quantiles_p99", "mean", "min", "max", "stddev"):
            key = f"results_{metric}_{stat}"
            assert rows[(f"results_{metric}", stat)]["tool_value"] == pytest.approx(float(SUMMARY[key]))
    assert rows[("results_number_input_tokens", "min")]["tool_value"] == float(
        SUMMARY["results_number_input_tokens_min"]  # written as text by llmperf (a NumPy integer)
    )
    throughput = rows[("results_mean_output_throughput_token_per_s", "value")]
    assert throughput["tool_value"] == SUMMARY["results_mean_output_throughput_token_per_s"]
    # llmperf's std is ddof 1, ours ddof 0: the recomputed value is llmperf's, ours lower.
    std = rows[("results_ttft_s", "stddev")]
    assert std["match"] and std["ours"] < std["recomputed"]
    assert [(m["name"], m["stat"]) for m in parity["metrics"] if not m["match"]] == []
    assert len(parity["metrics"]) == 6 * 10 + 5


def test_a_failed_request_keeps_llmperfs_code_and_no_times_it_lacks(tmp_path: Path) -> None:
    # The OpenAI client's failure values (its thread then stops, so this run's file has none).
    src = copy_fixture(LLMPERF, tmp_path / "results")
    path = src / RESPONSES_FILE.name
    entries = json.loads(path.read_text(encoding="utf-8"))
    entries.append(
        {
            "error_code": 400,
            "error_msg": '{"error": {"message": "max_tokens is too large"}}',
            "inter_token_latency_s": 0,
            "ttft_s": 0,
            "end_to_end_latency_s": 0,
            "request_output_throughput_token_per_s": 0,
            "number_total_tokens": 101,
            "number_output_tokens": 0,
            "number_input_tokens": 101,
        }
    )
    path.write_text(json.dumps(entries, indent=4), encoding="utf-8")
    assert run_cli(["import", "llmperf", str(src), "--out", str(tmp_path / "out")]) == 0
    failed = records(tmp_path / "out", "request")[-1]
    assert failed["status"] == 400 and failed["error"]["class"] == "client_4xx"
    assert failed["error"]["message"].startswith("error_code 400: ")
    assert failed["t_first"] is None and failed["t_end"] == failed["t_send"]


def test_without_start_the_summary_timestamp_anchors_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = copy_fixture(LLMPERF, tmp_path / "results")
    assert run_cli(["import", str(src), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "llmperf records durations only, no send times" in err
    assert "with the last end at the summary's timestamp" in err
    requests = records(tmp_path / "out", "request")
    assert max(r["t_end"] for r in requests) == SUMMARY["timestamp"] * 10**9


def test_the_responses_file_alone_is_detected_and_imported_without_parity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = copy_fixture(LLMPERF, tmp_path / "results")
    (src / SUMMARY_FILE.name).unlink()
    path = src / RESPONSES_FILE.name
    assert run_cli(["import", str(path), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "the last end at the file's modification time" in err and "no parity table" in err
    requests = records(tmp_path / "out", "request")
    assert max(r["t_end"] for r in requests) == path.stat().st_mtime_ns
    assert not records(tmp_path / "out", "totals")


def test_the_summary_alone_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["import", str(SUMMARY_FILE), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {SUMMARY_FILE}: an llmperf results directory without *_individual")


def test_detection_claims_llmperfs_files_only() -> None:
    assert claims(expand([LLMPERF])) == {"llmperf": sorted([RESPONSES_FILE, SUMMARY_FILE])}
    assert "llmperf" not in claims(expand([EVALSCOPE]))  # benchmark_summary.json is EvalScope's


def test_a_truncated_file_stops_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, err = import_cut_short(LLMPERF, RESPONSES_FILE.name, tmp_path, capsys)
    assert err.startswith(f"error: {path}:") and ": not JSON: " in err


def test_a_foreign_array_names_the_entry_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "results"
    src.mkdir()
    path = src / "run_individual_responses.json"
    path.write_text(json.dumps([{"error_code": None, "latency": 0.3}]), encoding="utf-8")
    assert run_cli(["import", str(src), "--out", str(tmp_path / "out")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"error: {path}: field '[0].ttft_s' must be int or float, got nothing"
    )


def test_two_runs_in_one_directory_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = copy_fixture(LLMPERF, tmp_path / "results")
    (src / "other_100_24_individual_responses.json").write_bytes(RESPONSES_FILE.read_bytes())
    assert run_cli(["import", str(src), "--out", str(tmp_path / "out")]) == 2
    assert "2 llmperf runs (" in capsys.readouterr().err


def test_analyze_and_report_take_the_results_directory_directly(tmp_path: Path) -> None:
    result = analyze_directly(LLMPERF, tmp_path, "llmperf")
    assert all(m["match"] for m in result["parity"]["llmperf"]["metrics"])
    assert result["requests"] == {"total": 17, "ok": 17, "failed": 0}
    html = report_directly(tmp_path)
    assert "Parity with llmperf" in html and "results_inter_token_latency_s" in html
