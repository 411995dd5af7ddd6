"""Renderers registered by name and chosen by extension; unknown ones fail with the list of known ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reports import RenderOptions, get_renderer, known_formats, plan_outputs, renderer_for_path, write_outputs
from traceanalyzer.errors import UsageError
from traceanalyzer.model import Analysis
from traceanalyzer.summary import summary_json


def test_formats_follow_the_extension() -> None:
    assert renderer_for_path("r.html").name == "html"
    assert renderer_for_path("R.HTM").name == "html"
    assert renderer_for_path("out/report.pdf").name == "pdf"
    assert renderer_for_path("summary.json").name == "json"
    assert set(known_formats()) == {"html", "json", "pdf"}


@pytest.mark.parametrize("path", ["report.docx", "report"])
def test_unknown_extension_lists_known_formats(path: str) -> None:
    with pytest.raises(UsageError) as err:
        renderer_for_path(path)
    message = str(err.value)
    assert (
        path in message and "html (.html, .htm)" in message and "pdf (.pdf)" in message and "json" in message
    )


def test_unknown_name_lists_known_formats() -> None:
    with pytest.raises(UsageError, match=r"unknown report format 'docx'; known formats: html"):
        get_renderer("docx")


def test_plan_checks_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="named twice"):
        plan_outputs([tmp_path / "a.html", tmp_path / "a.html"])
    with pytest.raises(UsageError, match="does not exist"):
        plan_outputs([tmp_path / "missing" / "a.html"])
    plan = plan_outputs([tmp_path / "a.html", ("json", tmp_path / "summary.txt")])
    assert [r.name for r, _ in plan] == ["html", "json"]


def test_json_renderer_writes_the_summary(hostile_analysis: Analysis, tmp_path: Path) -> None:
    written = write_outputs(hostile_analysis, [tmp_path / "summary.json"], RenderOptions())
    assert written == [tmp_path / "summary.json"]
    text = written[0].read_text(encoding="utf-8")
    assert text == summary_json(hostile_analysis)
    assert json.loads(text)["schema"] == "traceanalyzer/summary@1"
    assert not list(tmp_path.glob(".*.tmp"))
