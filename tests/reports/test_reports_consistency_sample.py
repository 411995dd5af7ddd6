"""The report says in words when consistency similarity comes from a sample, and how sure it is."""

from __future__ import annotations

import dataclasses
import re

from reports import RenderOptions
from reports.html_report import render_html
from traceanalyzer.model import Analysis


def _text(document: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", document).split())


def test_a_sampled_mean_cosine_is_reported_with_its_interval(hostile_analysis: Analysis) -> None:
    cons = hostile_analysis.consistency
    assert cons is not None and cons.measurable and cons.mean_cosine is not None
    assert not cons.sampled and "95 % CI" not in _text(render_html(hostile_analysis, RenderOptions()))

    mean = cons.mean_cosine
    sampled = dataclasses.replace(
        cons, sampled=True, embedded=6400, scored_answers=412_000, mean_cosine_ci95=(mean - 0.01, mean + 0.01)
    )
    text = _text(render_html(dataclasses.replace(hostile_analysis, consistency=sampled), RenderOptions()))
    assert re.search(r"Mean cosine [0-9.]+ \(95 % CI [0-9.]+–[0-9.]+\) from 6,400 of 412,000 answers", text)
    assert "over the sampled answers' pairs" in text
