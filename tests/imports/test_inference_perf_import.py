"""inference-perf 0.7.0 reports recorded by the real tool (tests/imports/fixtures/inference-perf-0.7.0)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.imports.peer_testkit import INFERENCE_PERF, copy_fixture, records, run_cli

ENTRIES = json.loads((INFERENCE_PERF / "per_request_lifecycle_metrics.json").read_text(encoding="utf-8"))
SUMMARY = json.loads((INFERENCE_PERF / "summary_lifecycle_metrics.json").read_text(encoding="utf-8"))
START = "2026-12-06T16:00:00+00:00"


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("inference-perf-capture")
    assert run_cli(["import", str(INFERENCE_PERF), "--out", str(out), "--start", START]) == 0
    return out


def test_request_count_and_clock_anchor(imported: Path) -> None:
    requests = records(imported, "request")
    assert len(requests) == len(ENTRIES) == SUMMARY["successes"]["count"] + SUMMARY["failures"]["count"]
    assert min(r["t_send"] for r in requests) == 1_796_572_800 * 10**9  # --start anchors the first request
    first = min(ENTRIES, key=lambda e: e["start_time"])
    for rec, entry in zip(requests, ENTRIES, strict=True):
        assert rec["t_send"] - 1_796_572_800 * 10**9 == round(
            (entry["start_time"] - first["start_time"]) * 1e9
        )
        stamps = entry["info"]["response_metrics"]["output_token_times"] if not entry["error"] else []
        assert sum(rec.get("chunk_tokens") or [1] * len(rec["chunks_us"])) == len(stamps)
    failed = [r for r in requests if r["error"]]
    assert len(failed) == SUMMARY["failures"]["count"] == 3
    assert all(r["status"] == 400 and r["error"]["class"] in ("client_4xx", "context_length") for r in failed)


def test_every_parity_row_matches(imported: Path, tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    assert run_cli(["analyze", str(imported), "--json", str(out)]) == 0
    summary: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    parity = summary["parity"]["inference-perf"]
    assert parity["requests"] == {"tool": 32, "imported": 32}
    rows = {(m["name"], m["stat"]): m for m in parity["metrics"]}
    latency = SUMMARY["successes"]["latency"]
    for name in ("time_to_first_token", "time_per_output_token", "inter_token_latency", "request_latency"):
        for stat in ("median", "p99", "mean", "p0.1"):
            assert rows[(f"successes.latency.{name}", stat)]["tool_value"] == pytest.approx(
                latency[name][stat]
            )
    assert rows[("benchmark_time_seconds", "value")]["tool_value"] == SUMMARY["benchmark_time_seconds"]
    assert [(m["name"], m["stat"]) for m in parity["metrics"] if not m["match"]] == []


def test_without_start_the_file_time_anchors_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = copy_fixture(INFERENCE_PERF, tmp_path / "reports")
    assert run_cli(["import", str(src), "--out", str(tmp_path / "out")]) == 0
    assert "anchored so the last request ended at the file's modification time" in capsys.readouterr().err
    requests = records(tmp_path / "out", "request")
    mtime = (src / "per_request_lifecycle_metrics.json").stat().st_mtime_ns
    assert max(r["t_end"] for r in requests) == pytest.approx(mtime, abs=1000)


def test_a_wrong_value_names_the_entry_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = copy_fixture(INFERENCE_PERF, tmp_path / "reports")
    path = src / "per_request_lifecycle_metrics.json"
    entries = json.loads(path.read_text(encoding="utf-8"))
    entries[4]["end_time"] = None
    path.write_text(json.dumps(entries), encoding="utf-8")
    assert run_cli(["import", "inference-perf", str(src), "--out", str(tmp_path / "out")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"error: {path}: field '[4].end_time' must be int or float, got nothing"
    )
