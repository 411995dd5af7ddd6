"""What the report templates receive: the analysis itself plus its charts and a few lookups for display.

Templates read the typed :class:`~traceanalyzer.model.Analysis` directly (``a.latency.ttft_s.p95``); this
module only adds what a template cannot do well: the charts, the order things are listed in, labels for SLO
names, notes grouped by section, and tables cut to a readable length. It computes no metric.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from reports import charts, formatting
from reports.charts.conversations import conversations_chart
from reports.definitions import DEFINITIONS
from reports.parity_view import tool_title, with_parity_sections
from reports.registry import RenderOptions
from reports.trace_links import TraceLinks
from traceanalyzer.consistency.results import GroupConsistency
from traceanalyzer.explain import finding_message, first_strike_explanation
from traceanalyzer.i18n import N_, _, decimal
from traceanalyzer.model import (
    Analysis,
    BreakdownRow,
    ErrorClassStats,
    Finding,
    SloResult,
    SloThresholds,
)

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
SEVERITY_LABELS = {"critical": N_("critical"), "warning": N_("warning"), "info": N_("info")}
MAX_BREAKDOWN_ROWS = 40
MAX_FINDING_CHARTS = 12
MAX_GROUP_ROWS = 20

SLO_LABELS: dict[str, str] = {
    "ttft_p95": N_("TTFT p95"),
    "tpot_p95": N_("TPOT p95"),
    "e2e_p95": N_("E2E latency p95"),
    "rtv": N_("Response-time variability (CV of E2E)"),
    "qps_cv": N_("QPS fluctuation (CV, steady state)"),
    "error_rate": N_("Error rate"),
    "latency_drift": N_("Latency drift over the soak"),
    "gpu_mem_fluctuation": N_("GPU memory fluctuation"),
    "cpu_pct": N_("Host CPU (mean)"),
    "consistency_cosine": N_("Output consistency (mean cosine)"),
}

RULE_LABELS: dict[str, str] = {
    "cpu_bound": N_("CPU / IO bound"),
    "gpu_saturated": N_("GPU saturated"),
    "memory_leak": N_("Memory climbing"),
    "queueing": N_("Queueing"),
    "latency_shift": N_("Latency shift"),
    "unstable": N_("Unstable"),
    "error_burst": N_("Error burst"),
}

CATEGORY_LABELS: dict[str, str] = {
    "interface_limits": N_("interface / validation limits"),
    "queueing": N_("queueing / scheduling"),
    "memory": N_("GPU memory (batch size, KV cache, context)"),
    "unrecoverable": N_("unrecoverable server state"),
    "server_errors": N_("server errors (not en masse)"),
    "unreachable": N_("server unreachable"),
    "stream_broken": N_("streams cut mid-way"),
}

BREAKDOWN_TITLES = {"model": N_("By model"), "scenario": N_("By scenario"), "host": N_("By client host")}
BREAKDOWN_TITLES["stream"] = N_("Streamed or not (not streamed: TTFT is the time to the whole answer)")


@dataclass(frozen=True)
class Section:
    id: str
    title: str


SECTIONS: tuple[Section, ...] = (
    Section("summary", N_("Summary and verdict")),
    Section("latency", N_("Layer 1: user-perceived latency")),
    Section("capacity", N_("Layer 2: capacity")),
    Section("stability", N_("Layer 3: stability")),
    Section("errors", N_("Causal error sequence")),
    Section("resources", N_("Resources aligned with latency")),
    Section("findings", N_("Diagnosis findings")),
    Section("consistency", N_("Consistency and robustness")),
    Section("conversations", N_("Conversations")),
    Section("requests", N_("Requests to look at")),
    Section("breakdown", N_("Breakdown by model, scenario and host")),
    Section("inventory", N_("Appendix A: capture inventory")),
    Section("definitions", N_("Appendix B: metric definitions")),
)


@dataclass(frozen=True)
class FindingView:
    finding: Finding
    label: str
    chart: charts.Chart | None
    message: str
    """The finding's message in the report's language."""


@dataclass(frozen=True)
class BreakdownTable:
    dimension: str
    title: str
    rows: tuple[tuple[str, BreakdownRow], ...]
    hidden: int
    """Rows not shown (the table lists the values with the most requests)."""


def slo_label(name: str) -> str:
    """An SLO's name for the reader, in the report's language."""
    return _(SLO_LABELS[name]) if name in SLO_LABELS else name


def verdict(slos: Sequence[SloResult]) -> dict[str, Any]:
    """The headline: which SLOs were judged, which failed."""
    judged = [s for s in slos if s.passed is not None]
    failed = [s for s in judged if s.passed is False]
    if not judged:
        state, text = "unknown", _("No SLO could be judged")
    elif failed:
        state = "fail"
        text = _("{failed} of {judged} SLOs missed").format(failed=len(failed), judged=len(judged))
    else:
        state = "pass"
        text = _("All {judged} judged SLOs met").format(judged=len(judged))
    return {
        "state": state,
        "text": text,
        "failed": [slo_label(s.name) for s in failed],
        "not_judged": len(slos) - len(judged),
    }


def error_order(analysis: Analysis) -> list[tuple[str, ErrorClassStats]]:
    """Error classes: those with an onset in causal order, then the rest by first appearance."""
    seq = [c for c in analysis.error_sequence if c in analysis.errors]
    rest = sorted((c for c in analysis.errors if c not in seq), key=lambda c: analysis.errors[c].first_seen_s)
    return [(c, analysis.errors[c]) for c in (*seq, *rest)]


def notes_by_section(analysis: Analysis) -> dict[str, list[str]]:
    """Notes keyed by the first part of their section (``resources.gpu`` -> ``resources``)."""
    grouped: dict[str, list[str]] = {}
    for note in analysis.notes:
        grouped.setdefault(note.section.split(".", 1)[0], []).append(note.reason)
    return grouped


def _sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (SEVERITY_ORDER.get(f.severity, 3), f.start_s or 0.0, f.rule))


def finding_views(analysis: Analysis) -> list[FindingView]:
    views = []
    for i, f in enumerate(_sorted_findings(analysis.findings)):
        chart = None
        if f.chart and i < MAX_FINDING_CHARTS:
            chart = charts.finding_chart(analysis, f.chart, f.start_s, f.end_s, index=i)
        label = _(RULE_LABELS[f.rule]) if f.rule in RULE_LABELS else f.rule
        views.append(FindingView(f, label, chart, finding_message(f)))
    return views


def breakdown_tables(breakdown: Mapping[str, Mapping[str, BreakdownRow]]) -> list[BreakdownTable]:
    tables = []
    for dim, title in BREAKDOWN_TITLES.items():
        rows = sorted(breakdown.get(dim, {}).items(), key=lambda kv: (-kv[1].requests, kv[0]))
        if rows:
            shown = tuple(rows[:MAX_BREAKDOWN_ROWS])
            tables.append(BreakdownTable(dim, _(title), shown, len(rows) - len(shown)))
    return tables


def least_consistent(groups: Iterable[GroupConsistency]) -> tuple[GroupConsistency, ...]:
    """Scored prompt groups, least consistent first (lowest mean cosine, then lowest exact-match rate)."""

    def key(g: GroupConsistency) -> tuple[bool, float, float]:
        mean = g.cosine.mean if g.cosine is not None else None
        return (mean is None, mean if mean is not None else 0.0, g.exact_match_rate or 0.0)

    return tuple(sorted((g for g in groups if g.scored), key=key)[:MAX_GROUP_ROWS])


def severity_counts(findings: Iterable[Finding]) -> dict[str, int]:
    counts = {"critical": 0, "warning": 0, "info": 0}
    for f in findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    return counts


def default_title(analysis: Analysis) -> str:
    models = analysis.capture.models
    if len(models) == 1:
        return _("Load test report: {model}").format(model=models[0])
    return _("Load test report")


def slo_settings(slo: SloThresholds) -> list[tuple[str, str]]:
    """The SLO thresholds the analysis used, for the appendix (``off`` where switched off)."""
    rows = []
    for f in fields(slo):
        value = getattr(slo, f.name)
        unit = (
            "s"
            if f.name.endswith("_s")
            else "%"
            if f.name == "cpu_pct"
            else "cosine"
            if "cosine" in f.name
            else "fraction"
        )
        rows.append((f"SLO {f.name}", _("off") if value is None else formatting.in_unit(value, unit)))
    return rows


def clock_offsets(offsets: Mapping[str, int]) -> list[tuple[str, str]]:
    """Per-host clock offsets applied by the loader, in milliseconds."""
    return [
        (_("Clock offset of {host}").format(host=host), f"{decimal(ns / 1e6, 3, signed=True)} ms")
        for host, ns in sorted(offsets.items())
    ]


def report_context(analysis: Analysis, options: RenderOptions) -> dict[str, Any]:
    """Everything ``report.html.j2`` reads."""
    timeline = charts.timeline(analysis)
    error_chart = (
        charts.timeline(analysis, ("errors",), name="error-timeline").chart if analysis.errors else None
    )
    consistency = analysis.consistency
    groups = least_consistent(consistency.per_group) if consistency is not None else ()
    return {
        "a": analysis,
        "tool_version": analysis.tool_version or "",
        "end_ns": analysis.capture.t0_ns + round(analysis.capture.duration_s * 1e9),
        "timeline_missing": [
            _("{panel} panel: not measured: {why}").format(panel=_(charts.PANEL_TITLES[panel]), why=_(why))
            for panel, why in timeline.missing.items()
        ],
        "clock_offsets": clock_offsets(
            analysis.capture.clock_offsets_ns or analysis.options.clock_offsets_ns
        ),
        "slo_settings": slo_settings(analysis.options.slo),
        "all_notes": analysis.notes,
        "title": options.title or default_title(analysis),
        "generated_at": options.generated_at,
        "sections": with_parity_sections(tuple(Section(s.id, _(s.title)) for s in SECTIONS), analysis),
        "tool_title": tool_title,
        "verdict": verdict(analysis.slo),
        "failed_slos": {s.name for s in analysis.slo if s.passed is False},
        "slo_label": slo_label,
        "errors": error_order(analysis),
        "notes": notes_by_section(analysis),
        "findings": finding_views(analysis),
        "severity_counts": severity_counts(analysis.findings),
        "severity_label": {k: _(v) for k, v in SEVERITY_LABELS.items()},
        "breakdown": breakdown_tables(analysis.breakdown),
        "category_label": {k: _(v) for k, v in CATEGORY_LABELS.items()},
        "strike_explanation": first_strike_explanation(analysis.first_strike)
        if analysis.first_strike
        else "",
        "timeline": timeline,
        "error_chart": error_chart,
        "distributions": charts.latency_distributions(analysis),
        "capacity_chart": charts.capacity_curve(analysis),
        "groups": groups,
        "definitions": DEFINITIONS,
        "error_color": charts.error_color,
        "trace_link": TraceLinks(options.trace_url) if options.trace_url else None,
        "conversations_chart": conversations_chart(analysis),
    }
