"""Fixtures of the report tests: analyses of generated captures, and their HTML and PDF rendered once."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports import RenderOptions
from reports.html_report import render_html
from reports.pdf_report import html_to_pdf
from tests.reports.report_captures import HOSTILE, Profile, write_capture
from traceanalyzer.analysis import analyze
from traceanalyzer.loader import load_capture
from traceanalyzer.model import Analysis, AnalysisOptions

OPTIONS = AnalysisOptions(window_s=2.0, warmup_s=2.0, cooldown_s=2.0)

HOSTILE_PROFILE = Profile(
    requests=480,
    rate=16.0,
    error_share=0.08,
    error_class="server_5xx",
    error_message=f"upstream said {HOSTILE} & <img src=x onerror=alert(2)>",
    model=f"model-{HOSTILE}",
    scenario=f"scenario-{HOSTILE}",
    extra_scenario="robustness/garbled",
    host=f"host-{HOSTILE}",
    stages=(f"1:{HOSTILE}", "2:$x^2$ & more"),
    text=f"answer {HOSTILE}",
    gpu_host=f"gpu-{HOSTILE}",
    gpu_name=f"gpu-name-{HOSTILE}",
    extra_events=((12.0, f"deploy-{HOSTILE}"),),
)
"""A capture whose every trace string (model, scenario, host, stage, error message, text, GPU name, event
name) carries markup that must come out escaped."""


def analyze_dir(directory: Path, options: AnalysisOptions = OPTIONS) -> Analysis:
    return analyze(load_capture([directory], cache=False), options)


@pytest.fixture(scope="session")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_capture(tmp_path_factory.mktemp("hostile"), HOSTILE_PROFILE, seed=11)


@pytest.fixture(scope="session")
def hostile_analysis(hostile_dir: Path) -> Analysis:
    analysis = analyze_dir(hostile_dir)
    assert analysis.requests.failed > 0 and analysis.errors, "the capture must carry failures to render"
    return analysis


@pytest.fixture(scope="session")
def hostile_html(hostile_analysis: Analysis) -> str:
    return render_html(hostile_analysis, RenderOptions(title=f"Title {HOSTILE}"))


@pytest.fixture(scope="session")
def hostile_pdf(hostile_html: str) -> bytes:
    return html_to_pdf(hostile_html)
