"""``traceanalyzer report`` and ``traceanalyzer compare`` end to end on generated captures."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from tests.reports.report_captures import Profile, write_capture
from traceanalyzer.cli import cli, main

WINDOW = ["--window", "2", "--warmup", "2", "--cooldown", "2"]
PROFILE = Profile(requests=300, rate=20.0, stages=("1:low", "2:high"))


def invoke(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args, standalone_mode=False, catch_exceptions=False)
    return result.return_value, result.stdout, result.stderr


def test_report_writes_html_pdf_and_json_from_one_analysis(tmp_path: Path) -> None:
    capture = write_capture(tmp_path / "run", PROFILE, seed=5)
    html, pdf, summary = tmp_path / "r.html", tmp_path / "r.pdf", tmp_path / "s.json"
    code, _, err = invoke(
        [
            "report",
            str(capture),
            "-o",
            str(html),
            "-o",
            str(pdf),
            "--json",
            str(summary),
            "--title",
            "Nightly <run>",
            *WINDOW,
        ]
    )
    assert code == 0
    assert f"wrote {html}" in err and f"wrote {pdf}" in err and f"wrote {summary}" in err
    data = json.loads(summary.read_text(encoding="utf-8"))
    assert data["schema"] == "traceanalyzer/summary@1" and data["requests"]["total"] == 300
    page = html.read_text(encoding="utf-8")
    assert "<title>Nightly &lt;run&gt;</title>" in page and 'id="definitions"' in page
    text = " ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf.read_bytes())).pages)
    assert "Nightly <run>" in text and "Load levels" in text


def test_report_fails_fast_on_an_unknown_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path / "does-not-matter"), "-o", str(tmp_path / "r.docx")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "known formats: html (.html, .htm), json (.json), pdf (.pdf)" in err
    assert len(err.strip().splitlines()) == 1


def test_compare_flags_a_planted_regression(tmp_path: Path) -> None:
    base = write_capture(tmp_path / "base", PROFILE, seed=1)
    cand = write_capture(tmp_path / "cand", replace(PROFILE, ttft_s=0.4), seed=2)
    out_html, out_pdf, out_json = tmp_path / "c.html", tmp_path / "c.pdf", tmp_path / "c.json"
    code, out, _ = invoke(
        [
            "compare",
            str(base),
            str(cand),
            "-o",
            str(out_html),
            "-o",
            str(out_pdf),
            "-o",
            str(out_json),
            "--fail-on-regression",
            *WINDOW,
        ]
    )
    assert code == 1
    assert "regression(s): " in out and "ttft_p50" in out
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert "ttft_p95" in data["regressions"] and data["baseline"] == "base" and data["candidate"] == "cand"
    page = out_html.read_text(encoding="utf-8")
    assert "REGRESSED" in page and page.count("<svg") >= 2
    text = " ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(out_pdf.read_bytes())).pages)
    assert "REGRESSED" in text and "Mann-Whitney U" in text


def test_compare_of_the_same_scenario_exits_zero(tmp_path: Path) -> None:
    base = write_capture(tmp_path / "a", PROFILE, seed=1)
    cand = write_capture(tmp_path / "b", PROFILE, seed=2)
    code, out, _ = invoke(["compare", str(base), str(cand), "--fail-on-regression", *WINDOW])
    assert code == 0 and out.startswith("no regression beyond tolerance")
