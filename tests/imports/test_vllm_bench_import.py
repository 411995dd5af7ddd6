"""vLLM 0.34.0 `vllm bench serve` results recorded by the real tool (fixtures/vllm-bench-0.34.0)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recorders.importers import claims, expand
from recorders.importers.vllm_bench.reader import error_from_text
from tests.imports.peer_testkit import (
    AIPERF,
    EVALSCOPE,
    FIXTURES,
    GUIDELLM,
    INFERENCE_PERF,
    analyze_directly,
    copy_fixture,
    import_and_analyze,
    import_cut_short,
    records,
    report_directly,
    run_cli,
)

VLLM = FIXTURES / "vllm-bench-0.34.0"
RESULT_FILE = VLLM / "vllm-bench-result.json"
RESULT = json.loads(RESULT_FILE.read_text(encoding="utf-8"))
START_S = 1_796_572_800


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("vllm-bench-capture")
    return import_and_analyze(VLLM, out, START_S)


def test_requests_times_and_chunks_equal_vllms(summary: dict[str, Any]) -> None:
    requests = records(Path(summary["_capture"]), "request")
    assert len(requests) == len(RESULT["start_times"]) == RESULT["completed"] + RESULT["failed"] == 30
    first = min(RESULT["start_times"])
    for i, rec in enumerate(requests):
        assert rec["t_send"] - START_S * 10**9 == round((RESULT["start_times"][i] - first) * 1e9)
        if RESULT["errors"][i]:
            continue
        assert (rec["t_first"] - rec["t_send"]) / 1e9 == pytest.approx(RESULT["ttfts"][i], abs=1e-9)
        assert (rec["t_end"] - rec["t_send"]) / 1e9 == pytest.approx(RESULT["latencies"][i], abs=1e-9)
        assert len(rec["chunks_us"]) == len(RESULT["itls"][i]) + 1
        assert rec["output_tokens"] == RESULT["output_lens"][i] and rec["tokens_source"] == "usage"
        assert rec["text"] == RESULT["generated_texts"][i]
    failed = [r for r in requests if r["error"]]
    assert len(failed) == RESULT["failed"] == 3
    # vLLM keeps only the reason phrase of a refused request: no chunk, no TTFT, no token count
    for rec in failed:
        assert rec["status"] == 400 and rec["error"] == {
            "class": "client_4xx",
            "status": 400,
            "message": "Bad Request",
        }
        assert rec["chunks_us"] == [] and rec["t_first"] is None and rec["output_tokens"] is None
    assert {r["api"] for r in requests} == {"chat"} and {r["model"] for r in requests} == {RESULT["model_id"]}


def test_the_run_configuration_goes_into_meta(summary: dict[str, Any]) -> None:
    meta = json.loads(
        (Path(summary["_capture"]) / "vllm-bench_requests.jsonl").read_text(encoding="utf-8").splitlines()[0]
    )
    config = meta["config"]["tool_config"]
    assert config["backend"] == "openai-chat" and config["max_concurrency"] == 4
    assert config["request_rate"] == 4.0 and config["num_prompts"] == 30


def test_every_parity_row_matches(summary: dict[str, Any]) -> None:
    parity = summary["parity"]["vllm-bench"]
    assert parity["requests"] == {"tool": 30, "imported": 30}
    rows = {m["name"]: m for m in parity["metrics"]}
    for metric in ("ttft", "tpot", "itl", "e2el"):
        for stat in ("mean", "median", "std", "p50", "p90", "p99"):
            key = f"{stat}_{metric}_ms"
            assert rows[key]["tool_value"] == RESULT[key] and rows[key]["unit"] == "ms"
    for key in ("completed", "failed", "total_output_tokens", "request_throughput", "output_throughput"):
        assert rows[key]["tool_value"] == RESULT[key]
    assert rows["max_output_tokens_per_s"]["tool_value"] == RESULT["max_output_tokens_per_s"]
    assert [(m["name"], m["tool_value"], m["recomputed"]) for m in parity["metrics"] if not m["match"]] == []
    # the benchmark duration spans vLLM's dispatch loop, which requests cannot rebuild: no row
    assert "duration" not in rows and "request_goodput" not in rows
    assert summary["requests"] == {"total": 30, "ok": 27, "failed": 3}


def test_without_start_the_file_time_anchors_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = copy_fixture(VLLM, tmp_path / "results")
    assert run_cli(["import", str(src / RESULT_FILE.name), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "anchored so the last request ended at the file's modification time" in err
    assert f"'date' '{RESULT['date']}'" in err
    requests = records(tmp_path / "out", "request")
    mtime = (src / RESULT_FILE.name).stat().st_mtime_ns
    assert max(r["t_end"] for r in requests) == pytest.approx(mtime, abs=1000)


def test_detected_from_the_file_and_the_directory_and_no_other_tools_export() -> None:
    assert claims(expand([VLLM])) == {"vllm-bench": [RESULT_FILE]}
    assert claims([RESULT_FILE]) == {"vllm-bench": [RESULT_FILE]}
    for other in (AIPERF, GUIDELLM, INFERENCE_PERF, EVALSCOPE):
        assert "vllm-bench" not in claims(expand([other]))


def test_analyze_and_report_take_the_result_directly(tmp_path: Path) -> None:
    result = analyze_directly(VLLM, tmp_path, "vllm-bench")
    assert all(m["match"] for m in result["parity"]["vllm-bench"]["metrics"])
    html = report_directly(tmp_path)
    assert "Parity with vLLM bench serve" in html and "imported from the capture cache" in html
    assert "p99_itl_ms" in html


def test_a_truncated_file_stops_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, err = import_cut_short(VLLM, RESULT_FILE.name, tmp_path, capsys)
    assert err.startswith(f"error: {path}:1: not JSON") and "cut short" in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r["ttfts"].__setitem__(4, "soon"),
            "field 'ttfts[4]' must be int or float, got str \"soon\"",
        ),
        (
            lambda r: r["itls"].pop(),
            "field 'itls' has 29 entries, 'start_times' 30: the arrays must be parallel",
        ),
        (
            lambda r: [r.pop(k) for k in ("ttfts", "itls", "start_times", "errors")],
            "no per-request start_times, ttfts, itls, errors (saved without --save-detailed); re-run with "
            "--save-result --save-detailed",
        ),
    ],
)
def test_a_foreign_value_names_the_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any, message: str
) -> None:
    src = copy_fixture(VLLM, tmp_path / "results")
    path = src / RESULT_FILE.name
    result = json.loads(path.read_text(encoding="utf-8"))
    change(result)
    path.write_text(json.dumps(result), encoding="utf-8")
    assert run_cli(["import", "vllm-bench", str(src), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {path}: {message}"


def test_appended_results_are_refused_by_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = copy_fixture(VLLM, tmp_path / "results")
    path = src / RESULT_FILE.name
    text = path.read_text(encoding="utf-8")
    path.write_text(f"{text}\n{text}", encoding="utf-8")
    assert run_cli(["import", str(src), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}:2: several results in one file (--append-result)")


def test_error_texts_as_vllm_writes_them() -> None:
    # non-200: response.reason; an error event in the stream; no token chunk; an exception's traceback
    assert error_from_text("Too Many Requests") == (
        429,
        {"class": "rate_limited", "status": 429, "message": "Too Many Requests"},
    )
    status, error = error_from_text('{"message": "engine died", "code": 500}')
    assert status == 200 and error["class"] == "stream_broken"
    status, error = error_from_text(
        "Never received a valid chunk to calculate TTFT.This response will be marked as failed!"
    )
    assert status == 200 and error["class"] == "stream_broken"
    trace = (
        'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
        "aiohttp.client_exceptions.ServerDisconnectedError: Server disconnected"
    )
    status, error = error_from_text(trace)
    assert status is None and error["class"] == "connection" and error["message"] == trace
    assert error_from_text("asyncio.exceptions.TimeoutError")[1]["class"] == "timeout"


def test_an_empty_error_without_any_timing_is_a_failure(tmp_path: Path) -> None:
    # a non-200 answer with an empty reason phrase: vLLM counts it failed and stores "" and zero timings
    src = copy_fixture(VLLM, tmp_path / "results")
    path = src / RESULT_FILE.name
    result = json.loads(path.read_text(encoding="utf-8"))
    bad = result["errors"].index("Bad Request")
    result["errors"][bad] = ""
    path.write_text(json.dumps(result), encoding="utf-8")
    assert run_cli(["import", str(src), "--out", str(tmp_path / "out"), "--start", str(START_S)]) == 0
    rec = records(tmp_path / "out", "request")[bad]
    assert rec["status"] is None and rec["error"]["message"] == "failed (vLLM recorded no reason)"


def test_metadata_keys_reach_the_config_and_secrets_do_not(tmp_path: Path) -> None:
    # --metadata KEY=VALUE pairs land at the top level of the result, between the setup keys
    src = copy_fixture(VLLM, tmp_path / "results")
    path = src / RESULT_FILE.name
    result = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**result, "gpu": "H100", "api_key": "sk-do-not-keep"}), encoding="utf-8")
    assert run_cli(["import", str(src), "--out", str(tmp_path / "out"), "--start", str(START_S)]) == 0
    text = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "out").glob("*.jsonl"))
    assert "sk-do-not-keep" not in text
    meta = json.loads(
        (tmp_path / "out" / "vllm-bench_requests.jsonl").read_text(encoding="utf-8").split("\n")[0]
    )
    assert meta["config"]["tool_config"]["gpu"] == "H100"
    assert meta["config"]["tool_config"]["api_key"] == "<redacted>"
