"""Comparison charts: the two runs' per-window series overlaid on one time axis (seconds since each run's
first request), downsampled for drawing like every timeline (:mod:`reports.charts.base`)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from reports.charts.base import (
    CHART_WIDTH_IN,
    SERIES_COLORS,
    Chart,
    as_floats,
    display_grid,
    finish_axes,
    new_figure,
    styled,
    svg,
    time_unit,
)
from traceanalyzer.i18n import N_, _
from traceanalyzer.model import Analysis

COMPARE_AXIS_LABELS: dict[str, str] = {
    "s": N_("time since each run's first request (s)"),
    "min": N_("time since each run's first request (min)"),
    "h": N_("time since each run's first request (h)"),
}

MAX_POINTS = 400
SERIES: tuple[tuple[str, str, str, float, Literal["mean", "max"]], ...] = (
    ("ttft_p95_s", N_("TTFT p95"), N_("ms"), 1000.0, "max"),
    ("e2e_p95_s", N_("E2E p95"), N_("ms"), 1000.0, "max"),
    ("qps", N_("QPS (ok)"), N_("requests/s"), 1.0, "mean"),
    ("tps", N_("Cluster TPS"), N_("tokens/s"), 1.0, "mean"),
    ("error_rate", N_("Error rate"), N_("% of requests"), 100.0, "mean"),
    ("gpu_util_pct", N_("GPU utilisation"), N_("%"), 1.0, "mean"),
    ("gpu_mem_used_mib", N_("GPU memory used"), N_("MiB"), 1.0, "max"),
)
"""(series, title, unit, scale, downsampling) of each panel, drawn when either run has the series."""


def _nonzero(values: tuple[float | None, ...]) -> bool:
    """Whether a series has a value other than zero (an all-zero panel says nothing)."""
    arr = as_floats(values)
    return bool(np.any(np.isfinite(arr) & (arr != 0)))


def compare_timeline(baseline: Analysis, candidate: Analysis, names: tuple[str, str]) -> Chart | None:
    """One panel per series of :data:`SERIES` that either run has, both runs overlaid."""
    runs = (
        (baseline, names[0], SERIES_COLORS["baseline"]),
        (candidate, names[1], SERIES_COLORS["candidate"]),
    )
    panels = [s for s in SERIES if any(_nonzero(getattr(a.timeseries, s[0])) for a, _, _ in runs)]
    if not panels:
        return None
    longest = max(baseline.capture.duration_s, candidate.capture.duration_s)
    unit, _scale = time_unit(longest)
    with styled("compare-timeline"):
        fig = new_figure(CHART_WIDTH_IN, 1.6 * len(panels) + 0.6)
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        end = 0.0
        for ax, (series, title, ylabel, scale, how) in zip(axes, panels, strict=True):
            for analysis, label, color in runs:
                grid = display_grid(analysis.timeseries, longest, MAX_POINTS)
                grid_end = analysis.capture.duration_s / grid.scale
                end = max(end, grid_end)
                y = grid.reduce(getattr(analysis.timeseries, series), how) * scale
                if grid.left.size:
                    ax.step(grid.left, y, where="post", color=color, label=label)
            ax.set_ylim(bottom=0)
            finish_axes(ax, _(title), _(ylabel))
        axes[0].legend(loc="upper right", ncols=2)
        axes[-1].set_xlim(0, end or 1.0)
        axes[-1].set_xlabel(_(COMPARE_AXIS_LABELS[unit]))
        return svg(fig, "compare-timeline", "per-window series of both runs overlaid")
