"""The HTML report read back: it parses, has every section, shows the summary's key numbers, and every text
that came from the trace appears only escaped."""

from __future__ import annotations

import dataclasses
import html
import re
from html.parser import HTMLParser

from reports import RenderOptions, formatting
from reports.html_report import render_html
from reports.view import SECTIONS
from tests.reports.report_captures import HOSTILE
from traceanalyzer.model import Analysis, Note
from traceanalyzer.summary import summary


class Collector(HTMLParser):
    """Tags, ids, attributes and text of a document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.attrs: list[tuple[str, str, str]] = []
        self.text: list[str] = []
        self.open_style = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            self.attrs.append((tag, name, value or ""))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(document: str) -> Collector:
    parser = Collector()
    parser.feed(document)
    parser.close()
    return parser


def test_html_has_every_section_and_the_key_numbers(hostile_analysis: Analysis, hostile_html: str) -> None:
    doc = parse(hostile_html)
    assert doc.tags[0] == "html"
    assert {s.id for s in SECTIONS} <= doc.ids
    text = " ".join(doc.text)
    data = summary(hostile_analysis)
    expected = [
        formatting.count(data["requests"]["total"]),
        formatting.count(data["requests"]["failed"]),
        formatting.latency(data["ttft"]["p95"]),
        formatting.latency(data["tpot"]["p95"]),
        formatting.latency(data["e2e"]["p95"]),
        formatting.ms_bare(data["ttft"]["p99"]),
        formatting.ms_bare(data["itl"]["p50"]),
        formatting.pct(data["error_rate"], 2),
        formatting.num(data["qps"]["stable"], 2),
        formatting.num(data["tps"]["cluster_mean"], 1),
        formatting.num(data["goodput_rps"], 2),
    ]
    for value in expected:
        assert value in text, value
    units = {s.name: s.unit for s in hostile_analysis.slo}
    for slo in data["slo"]:
        assert formatting.in_unit(slo["threshold"], units[slo["name"]]) in text
    assert "FAIL" in text  # the error-rate SLO of this capture fails
    cons = hostile_analysis.consistency
    assert cons is not None and cons.measurable
    assert formatting.pct(cons.exact_match_rate, 1) in text
    assert "Prompt groups, least consistent first" in text
    robust = hostile_analysis.robustness["robustness/garbled"]
    assert "robustness/garbled" in text and robust.verdict in text
    for cls in data["errors"]:
        assert cls in text


def test_html_is_self_contained(hostile_html: str) -> None:
    doc = parse(hostile_html)
    assert "script" not in doc.tags and "img" not in doc.tags and "link" not in doc.tags
    assert doc.tags.count("style") == 1 + doc.tags.count("svg")  # ours, and matplotlib's one per chart
    assert doc.tags.count("svg") >= 4  # charts inline
    for tag, name, value in doc.attrs:
        assert name != "src", (tag, value)
        if name == "href":
            assert value.startswith("#"), value
        assert not name.startswith("on"), (tag, name)
    assert "@import" not in hostile_html
    assert set(re.findall(r"url\(([^)]*)\)", hostile_html)) <= set(
        re.findall(r"url\((#[\w-]+)\)", hostile_html)
    )
    for tag, name, value in doc.attrs:
        if name in ("xlink:href", "href") and tag != "svg":
            assert value.startswith("#"), (tag, name, value)  # only in-document references


def test_trace_strings_appear_only_escaped(hostile_html: str) -> None:
    assert HOSTILE not in hostile_html
    assert "<script" not in hostile_html.lower()
    assert "<img src=x" not in hostile_html
    assert hostile_html.count("</style>") == hostile_html.count("<style")  # no stray closing tag
    escaped = html.escape(HOSTILE, quote=False)
    for prefix in ("model-", "scenario-", "host-", "gpu-name-", "1:", "upstream said "):
        assert prefix + escaped in hostile_html, prefix
    text = " ".join(parse(hostile_html).text)
    assert f"model-{HOSTILE}" in text  # read back as text, the string is intact
    assert "deploy-" in hostile_html and "$x^2$" in hostile_html  # chart text: escaped, no mathtext


def test_svg_ids_are_unique_across_charts(hostile_html: str) -> None:
    ids = re.findall(r'\sid="([^"]+)"', hostile_html)
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates


def test_sections_say_why_they_are_empty(hostile_analysis: Analysis) -> None:
    bare = dataclasses.replace(
        hostile_analysis,
        first_strike=None,
        error_sequence=(),
        findings=(),
        consistency=None,
        robustness={},
        notes=(
            Note("consistency", "not measured: output consistency is not available in this build"),
            Note("causal", "not measured: no request counts per window to judge error shares by"),
        ),
    )
    text = " ".join(parse(render_html(bare, RenderOptions())).text)
    assert "not measured: output consistency is not available in this build" in text
    assert "not measured: no request counts per window" in text
    assert "Output consistency was not measured." in text
    assert "No error class became persistent" in text
    assert "No robustness scenario in this capture" in text
    assert "Appendix A" in text and "Everything not measured, and why" in text
