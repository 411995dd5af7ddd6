"""What ``compare.html.j2`` receives: the comparison, its charts, and its metrics grouped for display.

Formatting only: every number is a field of the :class:`~traceanalyzer.compare.Comparison`.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from reports import charts
from reports.registry import RenderOptions
from reports.view import slo_label
from traceanalyzer.compare import Comparison, MetricDelta
from traceanalyzer.significance import SignificanceTest

GROUP_TITLES = {
    "run": "Run",
    "latency": "Layer 1: latency (successful requests)",
    "capacity": "Layer 2: capacity",
    "stability": "Layer 3: stability",
    "resources": "Resources",
    "consistency": "Consistency",
}

STATUS_LABELS = {
    "regression": ("regression", "fail"),
    "improvement": ("improvement", "pass"),
    "not_significant": ("not significant", "muted"),
    "changed": ("changed, untested", "warning"),
    "unchanged": ("within tolerance", "muted"),
    "info": ("", "muted"),
    "not_measured": ("not measured", "muted"),
}

TOLERANCE_HELP = {
    "latency": "relative change of a latency statistic",
    "throughput": "relative change of QPS, TPS, goodput",
    "error_rate": "absolute change of an error rate",
    "attainment": "absolute change of SLO attainment, consistency shares",
    "variability": "absolute change of a coefficient of variation",
    "resources": "relative change of GPU / CPU figures",
    "alpha": "significance level of every test",
}


def grouped(metrics: tuple[MetricDelta, ...]) -> list[tuple[str, list[MetricDelta]]]:
    groups: dict[str, list[MetricDelta]] = {}
    for m in metrics:
        groups.setdefault(m.group, []).append(m)
    return [(GROUP_TITLES.get(g, g), rows) for g, rows in groups.items()]


def tests(metrics: tuple[MetricDelta, ...]) -> list[tuple[SignificanceTest, list[str]]]:
    """Each distinct test once, with the metrics it judged."""
    by_samples: dict[str, tuple[SignificanceTest, list[str]]] = {}
    for m in metrics:
        if m.test is not None:
            by_samples.setdefault(m.test.samples, (m.test, []))[1].append(m.label)
    return list(by_samples.values())


def compare_context(comparison: Comparison, options: RenderOptions) -> dict[str, Any]:
    """Everything ``compare.html.j2`` reads."""
    names = (comparison.baseline_name, comparison.candidate_name)
    tol = comparison.tolerance
    return {
        "c": comparison,
        "b": comparison.baseline,
        "k": comparison.candidate,
        "names": names,
        "title": options.title or f"Run comparison: {names[1]} against {names[0]}",
        "generated_at": options.generated_at,
        "tool_version": comparison.candidate.tool_version or "",
        "groups": grouped(comparison.metrics),
        "tests": tests(comparison.metrics),
        "status_labels": STATUS_LABELS,
        "slo_label": slo_label,
        "tolerance": [(f.name, getattr(tol, f.name), TOLERANCE_HELP.get(f.name, "")) for f in fields(tol)],
        "cdfs": charts.compare_distributions(comparison.baseline, comparison.candidate, names),
        "timeline": charts.compare_timeline(comparison.baseline, comparison.candidate, names),
    }
