"""Distribution and capacity charts, drawn from the analysis' downsampled quantile functions and load levels.

``Distributions`` holds each quantity's quantile function at evenly spaced probabilities (``values[i]`` at
``i / (n - 1)``), so a CDF is those points joined, and a histogram gives each point the same weight
``1 / n`` (a faithful picture at the quantile function's resolution).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from reports.charts.base import (
    CHART_WIDTH_IN,
    FIRST_STRIKE,
    MUTED,
    SERIES_COLORS,
    Chart,
    as_floats,
    finish_axes,
    new_figure,
    no_data,
    styled,
    svg,
)
from traceanalyzer.i18n import N_, _, decimal
from traceanalyzer.model import Analysis

LEVEL_KINDS = {"stage": N_("stage"), "users": N_("users"), "in_flight": N_("in_flight"), "": N_("level")}
"""How the capacity chart's axis names each kind of load level (English; translated at use)."""

if TYPE_CHECKING:
    from matplotlib.axes import Axes

HIST_BINS = 40
MAX_LEVEL_LABELS = 16


def _probabilities(n: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, n) if n > 1 else np.array([1.0])


def _cdf(ax: Axes, quantiles: Sequence[float], scale: float, *, color: str, label: str | None = None) -> bool:
    values = as_floats(quantiles) * scale
    if not values.size or not np.isfinite(values).any():
        return False
    ax.plot(values, _probabilities(values.size) * 100, color=color, label=label, drawstyle="default")
    return True


def _percentile_guides(ax: Axes) -> None:
    for p in (50, 95, 99):
        ax.axhline(p, color="#ced4da", linewidth=0.7, zorder=0)
        ax.annotate(
            f"p{p}",
            xy=(1.0, p),
            xycoords=("axes fraction", "data"),
            xytext=(2, -3),
            textcoords="offset points",
            fontsize=7,
            color=MUTED,
        )


def _starts_near_zero(series: Sequence[tuple[str, Sequence[float], str]], scale: float) -> bool:
    values = np.concatenate([as_floats(q) for _, q, _ in series]) * scale
    values = values[np.isfinite(values)]
    return bool(values.size) and float(values.min()) < 0.3 * float(values.max())


def _cdf_panel(
    ax: Axes, title: str, unit: str, scale: float, series: Sequence[tuple[str, Sequence[float], str]]
) -> None:
    drawn = False
    for label, quantiles, color in series:
        drawn = _cdf(ax, quantiles, scale, color=color, label=label if len(series) > 1 else None) or drawn
    if not drawn:
        no_data(ax)
        finish_axes(ax, title)
        return
    ax.set_ylim(0, 100)
    lo = ax.get_xlim()[0]
    if lo < 0 or _starts_near_zero(series, scale):
        ax.set_xlim(left=0)  # a wide distribution reads best from zero; a narrow one keeps its own range
    _percentile_guides(ax)
    ax.set_xlabel(unit)
    finish_axes(ax, title, _("requests at or below (%)"))
    if len(series) > 1:
        ax.legend(loc="lower right")


def _unit_for(quantiles: Sequence[float]) -> tuple[str, float]:
    values = as_floats(quantiles)
    top = float(np.nanmax(values)) if values.size and np.isfinite(values).any() else 0.0
    return ("s", 1.0) if top >= 5.0 else ("ms", 1000.0)


def _histogram(ax: Axes, title: str, quantiles: Sequence[float], color: str) -> None:
    values = as_floats(quantiles)
    values = values[np.isfinite(values)] * 1000
    if values.size < 2:
        no_data(ax)
        finish_axes(ax, title)
        return
    upper = float(np.quantile(values, 0.99, method="linear"))  # the drawn range ends at p99 of the points
    lower = float(values[0])
    if upper <= lower:
        upper = float(values[-1]) if values[-1] > lower else lower + 1e-3
    inside = values[values <= upper]
    weights = np.full(inside.size, 100.0 / values.size)
    ax.hist(
        inside,
        bins=HIST_BINS,
        range=(lower, upper),
        weights=weights,
        color=color,
        edgecolor="white",
        linewidth=0.4,
    )
    ax.set_xlabel(_("ms"))
    finish_axes(ax, title, _("share of gaps (%)"))
    ax.annotate(
        _("axis ends at p99; max {value} ms").format(value=decimal(values[-1], 1)),
        xy=(1.0, 1.0),
        xycoords="axes fraction",
        xytext=(-2, -2),
        textcoords="offset points",
        ha="right",
        va="top",
        fontsize=7,
        color=MUTED,
    )


def latency_distributions(analysis: Analysis) -> Chart:
    """TTFT and E2E CDFs, TPOT CDF and the ITL histogram (successful requests)."""
    dist = analysis.distributions
    with styled("distributions"):
        fig = new_figure(CHART_WIDTH_IN, 5.6)
        (a, b), (c, d) = fig.subplots(2, 2)
        ttft_unit, ttft_scale = _unit_for(dist.ttft_s)
        _cdf_panel(a, _("TTFT (CDF)"), ttft_unit, ttft_scale, [("TTFT", dist.ttft_s, SERIES_COLORS["p95"])])
        e2e_unit, e2e_scale = _unit_for(dist.e2e_s)
        _cdf_panel(
            b, _("E2E latency (CDF)"), e2e_unit, e2e_scale, [("E2E", dist.e2e_s, SERIES_COLORS["e2e"])]
        )
        _cdf_panel(
            c, _("TPOT (CDF)"), _("ms per token"), 1000.0, [("TPOT", dist.tpot_s, SERIES_COLORS["gpu_util"])]
        )
        _histogram(d, _("ITL: gaps between text chunks"), dist.itl_s, SERIES_COLORS["tps"])
        return svg(fig, "distributions", "CDFs of TTFT, E2E and TPOT and a histogram of inter-chunk gaps")


def compare_distributions(baseline: Analysis, candidate: Analysis, names: tuple[str, str]) -> Chart:
    """Overlaid CDFs of TTFT, TPOT, E2E and ITL, baseline against candidate."""
    base, cand = baseline.distributions, candidate.distributions
    colors = (SERIES_COLORS["baseline"], SERIES_COLORS["candidate"])
    with styled("compare-distributions"):
        fig = new_figure(CHART_WIDTH_IN, 5.6)
        axes = fig.subplots(2, 2).ravel()
        for ax, (title, attr) in zip(
            axes,
            (
                ("TTFT", "ttft_s"),
                (N_("E2E latency"), "e2e_s"),
                ("TPOT", "tpot_s"),
                (N_("ITL (chunk gaps)"), "itl_s"),
            ),
            strict=True,
        ):
            b, c = getattr(base, attr), getattr(cand, attr)
            unit, scale = _unit_for(tuple(b) + tuple(c))
            series = [(names[0], b, colors[0]), (names[1], c, colors[1])]
            _cdf_panel(ax, _("{title} (CDF)").format(title=_(title)), unit, scale, series)
        return svg(fig, "compare-distributions", "overlaid CDFs of TTFT, E2E, TPOT and ITL for both runs")


def capacity_curve(analysis: Analysis) -> Chart | None:
    """Per load level: cluster TPS and stable QPS (bars, left) against TTFT and E2E p95 (lines, right), with
    the saturation knee and the maximum sustainable load marked. ``None`` with fewer than two levels."""
    cap = analysis.capacity
    levels = list(cap.levels)
    if len(levels) < 2:
        return None
    x = np.arange(len(levels))
    with styled("capacity"):
        fig = new_figure(CHART_WIDTH_IN, 3.2)
        ax = fig.add_subplot()
        tps = as_floats([lv.tps for lv in levels])
        ax.bar(
            x,
            np.nan_to_num(tps),
            width=0.6,
            color="#ffd8a8",
            edgecolor=SERIES_COLORS["tps"],
            linewidth=0.8,
            label=_("cluster TPS (steady)"),
        )
        ax.set_ylabel(_("tokens/s"))
        ax.set_ylim(bottom=0)
        right = ax.twinx()
        right.plot(
            x,
            as_floats([lv.ttft_p95_s for lv in levels]) * 1000,
            marker="o",
            color=SERIES_COLORS["p95"],
            label=_("TTFT p95"),
        )
        right.plot(
            x,
            as_floats([lv.e2e_p95_s for lv in levels]) * 1000,
            marker="s",
            color=SERIES_COLORS["e2e"],
            label=_("E2E p95"),
        )
        right.set_ylabel(_("latency p95 (ms)"))
        right.set_ylim(bottom=0)
        right.grid(False)
        names = [lv.name for lv in levels]
        for point, label, color in (
            (cap.knee, _("knee"), FIRST_STRIKE),
            (cap.max_sustainable, _("max sustainable"), "#2b8a3e"),
        ):
            if point is not None and point.stage in names:
                i = names.index(point.stage)
                ax.axvline(i, color=color, linestyle="--", linewidth=1.2)
                ax.annotate(
                    label,
                    xy=(i, 1.0),
                    xycoords=("data", "axes fraction"),
                    xytext=(3, -4),
                    va="top",
                    textcoords="offset points",
                    color=color,
                    fontsize=7.5,
                )
        ax.set_xticks(x)
        if len(levels) <= MAX_LEVEL_LABELS:
            ax.set_xticklabels(
                [lv.name + ("" if lv.slo_held else "\n" + _("SLO missed")) for lv in levels], fontsize=7
            )
            for tick, lv in zip(ax.get_xticklabels(), levels, strict=True):
                tick.set_color(MUTED if lv.slo_held else FIRST_STRIKE)
        else:
            ax.set_xticklabels([""] * len(levels))
        ax.set_xlabel(
            _("load level ({kind})").format(
                kind=_(LEVEL_KINDS.get(cap.level_kind or "", cap.level_kind or ""))
            )
        )
        finish_axes(ax, _("Throughput and latency by load level"))
        ax.margins(x=0.03)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = right.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=3, borderaxespad=0.1)
        return svg(fig, "capacity", "cluster TPS and latency p95 at each load level, knee marked")
