"""GuideLLM 0.8.1 ``benchmarks.json`` recorded by the real tool (tests/imports/fixtures/guidellm-0.8.1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.imports.peer_testkit import GUIDELLM, copy_fixture, records, run_cli

REPORT = json.loads((GUIDELLM / "benchmarks.json").read_text(encoding="utf-8"))
BENCH = REPORT["benchmarks"][0]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("guidellm-capture")
    assert run_cli(["import", "guidellm", str(GUIDELLM / "benchmarks.json"), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def summary(imported: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("guidellm-summary") / "summary.json"
    assert run_cli(["analyze", str(imported), "--json", str(path)]) == 0
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result


def test_request_count_equals_guidellms(imported: Path) -> None:
    requests = records(imported, "request")
    totals = BENCH["metrics"]["request_totals"]
    assert len(requests) == totals["total"] == 30
    assert sum(1 for r in requests if r["error"]) == totals["errored"] == 3
    assert all(r["chunks_us"] == [] for r in requests)  # GuideLLM keeps no chunk times: none invented
    assert {r["stage"] for r in requests} == {"b0"}
    ok = [r for r in requests if not r["error"]]
    by_id = {r["request_id"]: r for r in BENCH["requests"]["successful"]}
    for rec in ok:
        tool = by_id[rec["id"]]
        assert (rec["t_first"] - rec["t_send"]) / 1e6 == pytest.approx(
            tool["time_to_first_token_ms"], abs=1e-3
        )
        assert rec["output_tokens"] == tool["output_tokens"]


def test_every_parity_row_matches(summary: dict[str, Any]) -> None:
    parity = summary["parity"]["guidellm"]
    assert parity["version"] == "0.8.1" and parity["requests"] == {"tool": 30, "imported": 30}
    rows = {(m["name"], m["stat"]): m for m in parity["metrics"]}
    for name, stat in [
        ("time_to_first_token_ms", "p99"),
        ("time_to_first_token_ms", "median"),
        ("time_per_output_token_ms", "mean"),
        ("inter_token_latency_ms", "p50"),
        ("request_latency", "std_dev"),
        ("output_token_count", "mean"),
    ]:
        tool = BENCH["metrics"][name]["successful"]
        expected = tool["percentiles"][stat] if stat.startswith("p") else tool[stat]
        assert rows[(name, stat)]["tool_value"] == pytest.approx(expected)
    assert rows[("requests_per_second", "mean")]["tool_value"] == pytest.approx(
        BENCH["metrics"]["requests_per_second"]["successful"]["mean"]
    )
    assert [(m["name"], m["stat"]) for m in parity["metrics"] if not m["match"]] == []
    # GuideLLM's TPOT includes TTFT, its ITL is our TPOT: ours is smaller than its TPOT.
    tpot = rows[("time_per_output_token_ms", "mean")]
    assert tpot["ours"] < tpot["tool_value"]
    assert rows[("inter_token_latency_ms", "mean")]["ours"] == pytest.approx(
        rows[("inter_token_latency_ms", "mean")]["tool_value"], rel=0.05
    )


def test_our_itl_stays_unmeasured(summary: dict[str, Any]) -> None:
    assert summary["itl"]["count"] == 0  # no chunk gaps in a GuideLLM report
    assert summary["ttft"]["count"] == 27


def test_an_old_or_foreign_report_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = copy_fixture(GUIDELLM, tmp_path / "export") / "benchmarks.json"
    report = json.loads(src.read_text(encoding="utf-8"))
    report["metadata"]["version"] = 1
    src.write_text(json.dumps(report), encoding="utf-8")
    assert run_cli(["import", str(src), "--out", str(tmp_path / "out")]) == 2
    assert f"{src}: field 'metadata.version' is 1" in capsys.readouterr().err
    src.write_text(json.dumps(REPORT)[:5000], encoding="utf-8")
    assert run_cli(["import", str(src), "--out", str(tmp_path / "out")]) == 2
    assert f"{src}:1: not JSON" in capsys.readouterr().err


def test_compare_takes_two_exports_of_different_tools(tmp_path: Path) -> None:
    from tests.imports.peer_testkit import AIPERF

    base = copy_fixture(AIPERF, tmp_path / "aiperf")
    cand = copy_fixture(GUIDELLM, tmp_path / "guidellm")
    out = tmp_path / "compare.json"
    assert run_cli(["compare", str(base), str(cand), "-o", str(out)]) == 0
    assert out.stat().st_size > 0
    assert list((cand / ".traceanalyzer-cache" / "imports").glob("guidellm-*/guidellm_requests.jsonl"))


def test_exports_of_two_tools_in_one_directory_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.imports.peer_testkit import AIPERF

    src = copy_fixture(AIPERF, tmp_path / "both")
    (src / "benchmarks.json").write_bytes((GUIDELLM / "benchmarks.json").read_bytes())
    assert run_cli(["import", str(src), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "exports of several tools: aiperf (" in err and "guidellm (benchmarks.json)" in err
