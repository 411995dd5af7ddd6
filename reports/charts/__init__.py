"""Charts for the reports (matplotlib, Agg/SVG), embedded inline as SVG.

Renderers call these; each returns a :class:`Chart` (``svg``, ``alt``) or ``None`` when there is nothing to
draw. Charts read the analysis and never compute a statistic (long captures are downsampled for drawing only).
"""

from __future__ import annotations

from reports.charts.base import ERROR_CLASS_COLORS, OTHER_CLASS_COLOR, Chart, error_color
from reports.charts.compare import compare_timeline
from reports.charts.distributions import capacity_curve, compare_distributions, latency_distributions
from reports.charts.timeline import PANEL_TITLES, PANELS, Timeline, finding_chart, timeline

__all__ = [
    "ERROR_CLASS_COLORS",
    "OTHER_CLASS_COLOR",
    "PANELS",
    "PANEL_TITLES",
    "Chart",
    "Timeline",
    "capacity_curve",
    "compare_distributions",
    "compare_timeline",
    "error_color",
    "finding_chart",
    "latency_distributions",
    "timeline",
]
