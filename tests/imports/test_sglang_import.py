"""SGLang bench_serving 0.5.23 results recorded by the real tool (tests/imports/fixtures/sglang-0.5.23): two
runs appended to one file, a rate-4 run with 3 failures and a burst limited to 2 requests at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recorders.importers import sglang
from recorders.importers.sglang.reader import send_offsets, status_of
from tests.imports.peer_testkit import SGLANG, analyze_directly, copy_fixture, records, run_cli

RESULTS = SGLANG / "results.jsonl"
RUNS = [json.loads(line) for line in RESULTS.read_text(encoding="utf-8").splitlines()]
START_NS = 1_796_572_800 * 10**9

#: Statistics bench_serving computes from durations it does not export (E2E latency and what needs it), its
#: retokenized counts and its peak rates: they must get no parity row.
NOT_REBUILT = (
    "mean_e2e_latency_ms", "p99_e2e_latency_ms", "mean_tpot_ms", "p99_tpot_ms", "concurrency", "duration",
    "total_output_tokens_retokenized", "max_output_tokens_per_s", "max_concurrent_requests",
)  # fmt: skip


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sglang-capture")
    assert run_cli(["import", str(SGLANG), "--out", str(out), "--start", str(START_NS / 1e9)]) == 0
    return out


@pytest.fixture(scope="module")
def summary(imported: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("sglang-summary") / "summary.json"
    assert run_cli(["analyze", str(imported), "--json", str(path)]) == 0
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result


def test_request_counts_chunks_and_failures_equal_the_tools(imported: Path) -> None:
    requests = records(imported, "request")
    assert len(RUNS) == 2 and len(requests) == sum(len(run["errors"]) for run in RUNS) == 46
    for k, run in enumerate(RUNS):
        mine = [r for r in requests if r["stage"] == f"r{k}"]
        assert len(mine) == len(run["errors"])
        assert sum(1 for r in mine if r["error"] is None) == run["completed"]
        for rec, ttft, gaps, error in zip(mine, run["ttfts"], run["itls"], run["errors"], strict=True):
            if error:
                # nothing invented for a failure: no first chunk, no chunks, no token count, its 400 kept
                assert rec["t_first"] is None and rec["chunks_us"] == [] and rec["output_tokens"] is None
                assert rec["status"] == 400 and rec["error"]["message"].startswith("Bad Request: ")
                continue
            assert rec["t_first"] - rec["t_send"] == round(ttft * 1e9)
            assert len(rec["chunks_us"]) == len(gaps) + 1
            assert rec["t_end"] - rec["t_send"] == round((ttft + sum(gaps)) * 1e9)
            assert rec["tokens_source"] is None  # usage count or requested length: the file does not say
    failed = [r for r in requests if r["error"]]
    assert len(failed) == 3 and {r["error"]["class"] for r in failed} <= {"client_4xx", "context_length"}


def test_every_parity_row_matches_and_only_rebuildable_numbers_get_one(summary: dict[str, Any]) -> None:
    parity = summary["parity"]
    assert list(parity) == ["sglang", "sglang:run 1: rate inf, concurrency 2"]
    for run, tool in zip(RUNS, parity.values(), strict=True):
        n = len(run["errors"])
        assert tool["requests"] == {"tool": n, "imported": n}
        rows = {m["name"]: m for m in tool["metrics"]}
        for metric in ("ttft", "itl"):
            for stat in ("mean", "median", "std", "p90", "p95", "p99"):
                assert rows[f"{stat}_{metric}_ms"]["tool_value"] == run[f"{stat}_{metric}_ms"]
        for key in ("completed", "total_input_tokens", "total_output_tokens", "request_throughput"):
            assert rows[key]["tool_value"] == run[key]
        assert not set(NOT_REBUILT) & set(rows)
        assert [
            (m["name"], m["tool_value"], m["recomputed"]) for m in tool["metrics"] if not m["match"]
        ] == []


def test_start_anchors_the_first_run_and_runs_follow_back_to_back(imported: Path) -> None:
    requests = records(imported, "request")
    first = [r["t_send"] for r in requests if r["stage"] == "r0"]
    second = [r["t_send"] for r in requests if r["stage"] == "r1"]
    assert min(first) == START_NS
    assert min(second) == START_NS + round(RUNS[0]["duration"] * 1e9)
    # rate 4 without a binding concurrency limit: one send every 0.25 s in dispatch order
    assert [t - START_NS for t in first[:4]] == [0, 250_000_000, 500_000_000, 750_000_000]


def test_without_start_the_file_time_ends_the_last_run_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = copy_fixture(SGLANG, tmp_path / "results")
    assert run_cli(["import", "sglang", str(src / "results.jsonl"), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "the last run is taken to end at the file's modification time" in err
    assert "sends are laid out by its request rate and concurrency limit (an estimate)" in err
    second = [r["t_send"] for r in records(tmp_path / "out", "request") if r["stage"] == "r1"]
    mtime = (src / "results.jsonl").stat().st_mtime_ns
    assert min(second) == mtime - round(RUNS[1]["duration"] * 1e9)


def test_send_layout_follows_the_dispatch_rule() -> None:
    # burst, 2 slots: the third request takes the first slot freed (0.5 s), the fourth the next (0.5 + 0.2)
    assert send_offsets(float("inf"), 2, [1.0, 0.5, 0.2, 0.1]) == [0.0, 0.0, 0.5, 0.7]
    assert send_offsets(2.0, None, [9.0, 9.0, 9.0]) == [0.0, 0.5, 1.0]
    assert send_offsets(4.0, 1, [1.0, 1.0]) == [0.0, 1.0]  # the limit binds before the rate
    assert send_offsets("trace", None, [1.0, 1.0]) == [0.0, 0.0]


def test_status_comes_back_from_the_reason_phrase() -> None:
    assert status_of('Too Many Requests: {"error": "slow down"}') == 429
    assert status_of("Bad Request: ") == 400
    assert status_of("Traceback (most recent call last):\n  ...ClientConnectorError") is None


def test_detection_from_the_directory_and_the_file_not_from_a_capture(imported: Path) -> None:
    assert sglang.detect(RESULTS)
    assert not any(sglang.detect(p) for p in imported.glob("*.jsonl"))  # the meta line repeats its arguments
    assert not sglang.detect(SGLANG / "README.md")


def test_a_truncated_file_stops_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = copy_fixture(SGLANG, tmp_path / "results")
    path = src / "results.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text(lines[0] + lines[1][: len(lines[1]) // 2], encoding="utf-8")
    assert run_cli(["import", str(src), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}:2: not JSON") and "cut short" in err
    assert not list((tmp_path / "out").glob("*.jsonl"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda run: [run.pop(key) for key in ("input_lens", "output_lens", "ttfts", "itls", "errors")],
            "no per-request arrays (input_lens, ttfts, itls, errors): run bench_serving with --output-",
        ),
        (lambda run: run["ttfts"].__setitem__(3, "soon"), "field 'ttfts[3]' must be int or float, got str"),
        (lambda run: run["itls"].pop(), "field 'itls' has 29 entries, input_lens 30"),
        (lambda run: run["output_lens"].__setitem__(0, 2.5), "field 'output_lens[0]' must be int, got float"),
        (lambda run: run.__setitem__("duration", None), "field 'duration' must be int or float, got nothing"),
    ],
)
def test_a_foreign_value_stops_with_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any, message: str
) -> None:
    src = copy_fixture(SGLANG, tmp_path / "results")
    path = src / "results.jsonl"
    run = json.loads(json.dumps(RUNS[0]))
    change(run)
    path.write_text(json.dumps(run) + "\n", encoding="utf-8")
    assert run_cli(["import", "sglang", str(src), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip().startswith(f"error: {path}:1: {message}")


def test_analyze_takes_the_export_directly(tmp_path: Path) -> None:
    result = analyze_directly(SGLANG, tmp_path, "sglang")
    assert result["requests"] == {"total": 46, "ok": 43, "failed": 3}
    assert all(m["match"] for tool in result["parity"].values() for m in tool["metrics"])


def test_a_single_run_file_has_no_stages(tmp_path: Path) -> None:
    path = tmp_path / "sglang-oai-chat_1206_16_100_24.jsonl"
    path.write_text(RESULTS.read_text(encoding="utf-8").splitlines()[1] + "\n", encoding="utf-8")
    out = tmp_path / "summary.json"
    assert run_cli(["analyze", str(path), "--json", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert list(result["parity"]) == ["sglang"] and "label" not in result["parity"]["sglang"]
    assert result["requests"] == {"total": 16, "ok": 16, "failed": 0}
    assert all(m["match"] for m in result["parity"]["sglang"]["metrics"])


def test_a_success_without_text_gets_no_invented_chunk(tmp_path: Path) -> None:
    run = json.loads(json.dumps(RUNS[1]))
    run["ttfts"][0], run["itls"][0], run["generated_texts"][0] = (
        0.0,
        [],
        "",
    )  # the tool's values when no text came
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(run) + "\n", encoding="utf-8")
    assert run_cli(["import", str(path), "--out", str(tmp_path / "out"), "--start", "1796572800"]) == 0
    first = records(tmp_path / "out", "request")[0]
    assert first["error"] is None and first["t_first"] is None and first["chunks_us"] == []
    assert first["t_end"] == first["t_send"]


def test_exceptions_keep_their_chunks_and_class(tmp_path: Path) -> None:
    run = json.loads(json.dumps(RUNS[1]))
    # what bench_serving leaves when aiohttp raises: a traceback, the chunks that came before it, no tokens
    run["errors"][0] = (
        "Traceback (most recent call last):\naiohttp.ClientPayloadError: Response payload is not completed"
    )
    run["errors"][1] = "Traceback (most recent call last):\nTimeoutError"
    run["ttfts"][1], run["itls"][1] = 0.0, []
    run["output_lens"][0] = run["output_lens"][1] = 0
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(run) + "\n", encoding="utf-8")
    assert run_cli(["import", str(path), "--out", str(tmp_path / "out"), "--start", "1796572800"]) == 0
    broken, timed_out = records(tmp_path / "out", "request")[:2]
    assert broken["error"]["class"] == "stream_broken" and broken["status"] is None
    assert len(broken["chunks_us"]) == len(run["itls"][0]) + 1 and broken["output_tokens"] is None
    assert timed_out["error"]["class"] == "timeout" and timed_out["chunks_us"] == []
