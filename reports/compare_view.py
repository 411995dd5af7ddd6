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
from traceanalyzer.i18n import N_, _
from traceanalyzer.significance import SignificanceTest

GROUP_TITLES = {
    "run": N_("Run"),
    "latency": N_("Layer 1: latency (successful requests)"),
    "capacity": N_("Layer 2: capacity"),
    "stability": N_("Layer 3: stability"),
    "resources": N_("Resources"),
    "consistency": N_("Consistency"),
}

STATUS_LABELS = {
    "regression": (N_("regression"), "fail"),
    "improvement": (N_("improvement"), "pass"),
    "not_significant": (N_("not significant"), "muted"),
    "changed": (N_("changed, untested"), "warning"),
    "unchanged": (N_("within tolerance"), "muted"),
    "info": ("", "muted"),
    "not_measured": (N_("not measured"), "muted"),
}

TOLERANCE_HELP = {
    "latency": N_("relative change of a latency statistic"),
    "throughput": N_("relative change of QPS, TPS, goodput"),
    "error_rate": N_("absolute change of an error rate"),
    "attainment": N_("absolute change of SLO attainment, consistency shares"),
    "variability": N_("absolute change of a coefficient of variation"),
    "resources": N_("relative change of GPU / CPU figures"),
    "alpha": N_("significance level of every test"),
}


LATENCY_STATS = {"mean": N_("mean"), "p50": "p50", "p95": "p95", "p99": "p99"}


def metric_label(metric: MetricDelta | str) -> str:
    """A compared metric's label (a :class:`MetricDelta` or its English label) in the report's language;
    latency labels are ``<quantity> <statistic>``."""
    label = metric if isinstance(metric, str) else metric.label
    quantity, _sep, stat = label.rpartition(" ")
    if stat in LATENCY_STATS and quantity in ("TTFT", "TPOT", "ITL", "E2E"):
        return f"{quantity} {_(LATENCY_STATS[stat])}"
    return _(label)


def grouped(metrics: tuple[MetricDelta, ...]) -> list[tuple[str, list[MetricDelta]]]:
    groups: dict[str, list[MetricDelta]] = {}
    for m in metrics:
        groups.setdefault(m.group, []).append(m)
    return [(_(GROUP_TITLES[g]) if g in GROUP_TITLES else g, rows) for g, rows in groups.items()]


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
        "title": options.title
        or _("Run comparison: {candidate} against {baseline}").format(candidate=names[1], baseline=names[0]),
        "generated_at": options.generated_at,
        "tool_version": comparison.candidate.tool_version or "",
        "groups": grouped(comparison.metrics),
        "tests": tests(comparison.metrics),
        "status_labels": {k: (_(label) if label else "", kind) for k, (label, kind) in STATUS_LABELS.items()},
        "slo_label": slo_label,
        "tolerance": [
            (f.name, getattr(tol, f.name), _(TOLERANCE_HELP[f.name]) if f.name in TOLERANCE_HELP else "")
            for f in fields(tol)
        ],
        "cdfs": charts.compare_distributions(comparison.baseline, comparison.candidate, names),
        "timeline": charts.compare_timeline(comparison.baseline, comparison.candidate, names),
    }
