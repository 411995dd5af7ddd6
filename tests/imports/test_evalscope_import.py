"""EvalScope perf 1.14.1 outputs recorded by the real tool (tests/imports/fixtures/evalscope-1.14.1)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.imports.peer_testkit import EVALSCOPE, copy_fixture, import_and_analyze, records, run_cli

SUMMARY = json.loads((EVALSCOPE / "benchmark_summary.json").read_text(encoding="utf-8"))
PERCENTILES = json.loads((EVALSCOPE / "benchmark_percentile.json").read_text(encoding="utf-8"))


def _db_rows() -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{EVALSCOPE / 'benchmark_data.db'}?mode=ro", uri=True) as con:
        return con.execute(
            "SELECT success, first_chunk_latency, inter_token_latencies FROM result"
        ).fetchall()


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("evalscope-capture")
    return import_and_analyze(EVALSCOPE, out, 1_796_572_800)


def test_request_count_and_chunks_equal_evalscopes(summary: dict[str, Any]) -> None:
    requests = records(Path(summary["_capture"]), "request")
    rows = _db_rows()
    assert len(requests) == len(rows) == SUMMARY["Total Requests"] == 30
    assert sum(1 for r in requests if r["error"]) == SUMMARY["Failed Requests"] == 3
    ok = [r for r in requests if not r["error"]]
    for rec, (_, first, gaps) in zip(ok, [row for row in rows if row[0]], strict=True):
        assert (rec["t_first"] - rec["t_send"]) / 1e9 == pytest.approx(first, abs=1e-9)
        assert len(rec["chunks_us"]) == len(json.loads(gaps)) + 1


def test_every_parity_row_matches_within_evalscopes_rounding(summary: dict[str, Any]) -> None:
    parity = summary["parity"]["evalscope"]
    assert parity["requests"] == {"tool": 30, "imported": 30}
    rows = {(m["name"], m["stat"]): m for m in parity["metrics"]}
    assert rows[("Avg TTFT (ms)", "value")]["tool_value"] == SUMMARY["Avg TTFT (ms)"]
    assert rows[("Test Duration (s)", "value")]["tool_value"] == SUMMARY["Test Duration (s)"]
    by_label = {row["Percentiles"]: row for row in PERCENTILES}
    for name in ("TTFT (ms)", "ITL (ms)", "TPOT (ms)", "Latency (s)", "Decode (tok/s)"):
        for label in ("min", "50%", "99%", "max"):
            assert rows[(name, label)]["tool_value"] == by_label[label][name]
    assert [
        (m["name"], m["stat"], m["tool_value"], m["recomputed"]) for m in parity["metrics"] if not m["match"]
    ] == []
    assert all("rounds to" in m["why_different"] for m in parity["metrics"])


def test_a_database_that_is_not_evalscopes_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = copy_fixture(EVALSCOPE, tmp_path / "out")
    with sqlite3.connect(src / "benchmark_data.db") as con:
        con.execute("ALTER TABLE result RENAME TO something_else")
    assert run_cli(["import", "evalscope", str(src), "--out", str(tmp_path / "capture")]) == 2
    err = capsys.readouterr().err
    assert f"{src / 'benchmark_data.db'}: table 'result' of EvalScope perf not readable" in err
