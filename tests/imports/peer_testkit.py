"""Helpers of the peer-import tests: fixture paths, running the CLI, reading trace files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from traceanalyzer.cli import main

FIXTURES = Path(__file__).resolve().parent / "fixtures"
AIPERF = FIXTURES / "aiperf-0.13.0"
GUIDELLM = FIXTURES / "guidellm-0.8.1"
INFERENCE_PERF = FIXTURES / "inference-perf-0.7.0"
EVALSCOPE = FIXTURES / "evalscope-1.14.1"
LLMPERF = FIXTURES / "llmperf-0.1.0"
SGLANG = FIXTURES / "sglang-0.5.23"
GENAI_PERF = FIXTURES / "genai-perf-0.0.16"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def records(out: Path, kind: str) -> list[dict[str, Any]]:
    """Every record of ``kind`` in the trace files of ``out``."""
    found = []
    for path in sorted(out.glob("*.jsonl")):
        found += [r for r in read_jsonl(path) if r["type"] == kind]
    return found


def run_cli(args: list[str]) -> int:
    """Run the CLI in-process; its exit code."""
    with pytest.raises(SystemExit) as info:
        main(args)
    return int(info.value.code or 0)


def copy_fixture(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def import_and_analyze(source: Path, out: Path, start_s: int) -> dict[str, Any]:
    """``import`` an export into ``out/capture`` (sends laid out from ``start_s``) and ``analyze`` it: the
    summary, with the capture's path under ``_capture``."""
    assert run_cli(["import", str(source), "--out", str(out / "capture"), "--start", str(start_s)]) == 0
    path = out / "summary.json"
    assert run_cli(["analyze", str(out / "capture"), "--json", str(path)]) == 0
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    result["_capture"] = str(out / "capture")
    return result


def analyze_directly(fixture: Path, tmp_path: Path, tool: str) -> dict[str, Any]:
    """``analyze`` given a copy of the export itself: its summary, after checking that the files analyzed are
    the on-the-fly import in the capture cache."""
    src = copy_fixture(fixture, tmp_path / "export")
    out = tmp_path / "summary.json"
    assert run_cli(["analyze", str(src), "--json", str(out)]) == 0
    summary: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    paths = [f["path"] for f in summary["inventory"]["files"]]
    assert paths and all(f"/.traceanalyzer-cache/imports/{tool}-" in p for p in paths)
    return summary


def report_directly(tmp_path: Path) -> str:
    """``report`` on the export :func:`analyze_directly` copied (imported from the cache now): the HTML."""
    html = tmp_path / "report.html"
    assert run_cli(["report", str(tmp_path / "export"), "-o", str(html)]) == 0
    return html.read_text(encoding="utf-8")


def import_cut_short(
    fixture: Path, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[Path, str]:
    """Import a copy of ``fixture`` whose file ``name`` stops halfway (a writer killed mid-file): exit 2 and
    nothing written. The cut file's path and the error line; ``args`` go before the path (a tool name)."""
    src = copy_fixture(fixture, tmp_path / "export")
    path = src / name
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    assert run_cli(["import", *args, str(src), "--out", str(tmp_path / "out")]) == 2
    assert not list((tmp_path / "out").glob("*.jsonl"))  # nothing half-written
    return path, capsys.readouterr().err.strip()
