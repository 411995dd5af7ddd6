"""The conversations chart: latency and prompt tokens by turn, and TTFT against uncached prompt tokens."""

from __future__ import annotations

import numpy as np

from reports.charts.base import (
    CHART_WIDTH_IN,
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
from traceanalyzer.i18n import _
from traceanalyzer.model import Analysis


def conversations_chart(analysis: Analysis) -> Chart | None:
    """Left: TTFT p50 / p95 by turn (lines) over prompt tokens p50 (bars) and the cached share; right: the
    sampled turns' TTFT against their uncached prompt tokens with the Theil-Sen line. None without
    conversations."""
    conv = analysis.conversations
    if conv is None or not conv.by_turn:
        return None
    rows = conv.by_turn
    x = np.array([r.turn for r in rows], dtype=float)
    with styled("conversations"):
        fig = new_figure(CHART_WIDTH_IN, 3.2)
        left, right = fig.subplots(1, 2)
        tokens = as_floats([r.prompt_tokens_p50 for r in rows])
        left.bar(
            x,
            np.nan_to_num(tokens),
            width=0.6,
            color="#e9ecef",
            edgecolor=MUTED,
            label=_("prompt tokens p50"),
        )
        cached = as_floats([r.cached_share for r in rows])
        if np.isfinite(cached).any():
            left.bar(
                x,
                np.nan_to_num(tokens * cached),
                width=0.6,
                color="#b2f2bb",
                label=_("of which cached (usage)"),
            )
        left.set_ylabel(_("prompt tokens"))
        left.set_xlabel(_("turn"))
        lat = left.twinx()
        lat.plot(x, as_floats([r.ttft_p50_s for r in rows]) * 1000, marker="o", color=SERIES_COLORS["p50"])
        lat.plot(x, as_floats([r.ttft_p95_s for r in rows]) * 1000, marker="o", color=SERIES_COLORS["p95"])
        lat.set_ylabel(_("TTFT p50 / p95 (ms)"))
        lat.set_ylim(bottom=0)
        lat.grid(False)
        left.legend(loc="upper left", fontsize=7)
        finish_axes(left, _("By turn"))
        points = np.array(conv.ttft_points, dtype=float).reshape(-1, 2)
        if points.size:
            right.scatter(points[:, 0], points[:, 1], s=6, color=SERIES_COLORS["p95"], alpha=0.5)
            fit = conv.ttft_fit
            if fit is not None:
                xs = np.array([points[:, 0].min(), points[:, 0].max()])
                right.plot(
                    xs,
                    fit.intercept + fit.slope * xs,
                    color=SERIES_COLORS["tps"],
                    label=_("%(slope)s ms per 1k tokens") % {"slope": f"{fit.slope:.1f}"},
                )
                right.legend(loc="upper left", fontsize=7)
            right.set_xlabel(_("uncached prompt tokens (thousands)"))
            right.set_ylabel(_("TTFT (ms)"))
        else:
            no_data(right)
        finish_axes(right, _("TTFT against uncached prompt tokens"))
        alt = (
            f"Conversation turns 0 to {int(x.max())}: TTFT and prompt tokens by turn, and TTFT against "
            "uncached prompt tokens."
        )
        return svg(fig, "conversations", alt)
