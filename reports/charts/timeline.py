"""Timeline charts: every per-window series on ONE shared time axis, to see a change against its cause.

Panels (each drawn only when the capture has its data; :func:`timeline` says which were left out and why):

- ``latency``: TTFT p50/p95/p99 and E2E p50/p95 per window (ms; log scale when they span a wide range);
- ``throughput``: QPS and offered QPS (req/s), cluster TPS (tokens/s, right axis);
- ``gpu``: GPU utilisation (%), GPU memory used (GiB, right axis) with the installed total;
- ``engine``: engine queue (waiting, running) and, on the right, KV-cache and host CPU (%);
- ``errors``: failures per second stacked by error class, the load (requests open, or Locust users) on the
  right axis, each class's onset (triangle) and the first strike (red line).

Load stages are shaded bands across all panels; ``event`` markers other than stage changes are dashed lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.ticker import FuncFormatter, NullFormatter

from reports.charts.base import (
    BAND,
    CHART_WIDTH_IN,
    FIRST_STRIKE,
    MUTED,
    SERIES_COLORS,
    Chart,
    DisplayGrid,
    FloatArray,
    as_floats,
    display_grid,
    error_color,
    finish_axes,
    has_data,
    new_figure,
    styled,
    svg,
)
from traceanalyzer.i18n import N_, _
from traceanalyzer.model import Analysis, LoadLevel, WindowSeries

if TYPE_CHECKING:
    from matplotlib.axes import Axes

PANELS: tuple[str, ...] = ("latency", "throughput", "gpu", "engine", "errors")
PANEL_HEIGHT_IN = {"latency": 2.1, "throughput": 1.8, "gpu": 1.8, "engine": 1.8, "errors": 2.2}
MAX_POINTS = 600
MAX_STAGE_LABELS = 14
STRIP_HEIGHT_IN = 0.28
_HIDDEN_EVENTS = frozenset({"stage", "stop", "start"})


@dataclass(frozen=True)
class Timeline:
    """The chart and the panels it left out (panel name -> why)."""

    chart: Chart | None
    missing: dict[str, str]


def _present(ts: WindowSeries, panel: str) -> bool:
    if panel == "latency":
        return has_data(ts.ttft_p95_s) or has_data(ts.e2e_p95_s)
    if panel == "throughput":
        return bool(ts.start_s)
    if panel == "gpu":
        return has_data(ts.gpu_util_pct) or has_data(ts.gpu_mem_used_mib)
    if panel == "engine":
        return any(has_data(s) for s in (ts.queue_waiting, ts.running, ts.kv_cache_pct, ts.cpu_pct))
    if panel == "errors":
        return bool(ts.start_s)
    raise ValueError(panel)


_MISSING_REASON = {
    "latency": N_("no successful request in any window"),
    "throughput": N_("no time windows"),
    "gpu": N_("no GPU samples in the capture"),
    "engine": N_("no engine queue, KV-cache or host CPU samples in the capture"),
    "errors": N_("no time windows"),
}
PANEL_TITLES = {
    "latency": N_("latency"),
    "throughput": N_("throughput"),
    "gpu": N_("GPU"),
    "engine": N_("engine"),
    "errors": N_("errors"),
}
"""What each panel is called where the report says it is missing (English; translated at use)."""


def _line(ax: Axes, grid: DisplayGrid, y: FloatArray, **kw: Any) -> None:
    """A step line over the buckets (flat over each bucket, gaps where there is no value)."""
    ax.step(grid.edges, np.append(y, y[-1:]), where="post", **kw)


def _latency(ax: Axes, grid: DisplayGrid, ts: WindowSeries) -> None:
    series = [
        ("TTFT p50", ts.ttft_p50_s, SERIES_COLORS["p50"], "-"),
        ("TTFT p95", ts.ttft_p95_s, SERIES_COLORS["p95"], "-"),
        ("TTFT p99", ts.ttft_p99_s, SERIES_COLORS["p99"], "-"),
        ("E2E p50", ts.e2e_p50_s, SERIES_COLORS["e2e"], "--"),
        ("E2E p95", ts.e2e_p95_s, SERIES_COLORS["e2e"], "-"),
    ]
    values = []
    for label, raw, color, style in series:
        y = grid.reduce(raw, "max") * 1000
        if np.isfinite(y).any():
            _line(ax, grid, y, color=color, linestyle=style, label=label)
            values.append(y[np.isfinite(y) & (y > 0)])
    pooled = np.concatenate(values) if values else np.array([])
    if pooled.size and pooled.min() > 0 and pooled.max() / pooled.min() > 30:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))  # plain text, no mathtext
        ax.yaxis.set_minor_formatter(NullFormatter())
        ylabel = _("latency (ms, log)")
    else:
        ax.set_ylim(bottom=0)
        ylabel = _("latency (ms)")
    finish_axes(ax, _("Latency per window (successful requests)"), ylabel)


def _right_axis(ax: Axes, ylabel: str, top: float | None = None) -> Axes:
    """The panel's right-hand axis, from zero (to ``top`` when given), without its own grid."""
    right = ax.twinx()
    right.set_ylabel(ylabel)
    right.grid(False)
    if top is None:
        right.set_ylim(bottom=0)
    else:
        right.set_ylim(0, top)
    return right


def _throughput(ax: Axes, grid: DisplayGrid, ts: WindowSeries) -> Axes:
    _line(
        ax,
        grid,
        grid.reduce(ts.offered_qps),
        color=SERIES_COLORS["offered"],
        linestyle="--",
        label=_("offered QPS"),
    )
    _line(ax, grid, grid.reduce(ts.qps), color=SERIES_COLORS["qps"], label=_("QPS (ok)"))
    ax.set_ylim(bottom=0)
    finish_axes(ax, _("Throughput"), _("requests/s"))
    right = _right_axis(ax, _("tokens/s"))
    _line(right, grid, grid.reduce(ts.tps), color=SERIES_COLORS["tps"], label=_("cluster TPS"))
    right.set_ylim(bottom=0)
    return right


def _gpu(ax: Axes, grid: DisplayGrid, ts: WindowSeries) -> Axes:
    _line(
        ax,
        grid,
        grid.reduce(ts.gpu_util_pct),
        color=SERIES_COLORS["gpu_util"],
        label=_("GPU util (mean of GPUs)"),
    )
    ax.set_ylim(0, 105)
    finish_axes(ax, _("GPU"), _("utilisation (%)"))
    right = _right_axis(ax, _("memory (GiB)"))
    mem = grid.reduce(ts.gpu_mem_used_mib, "max") / 1024
    _line(right, grid, mem, color=SERIES_COLORS["gpu_mem"], label=_("memory used (all GPUs)"))
    totals = [g.mem_total_mib for g in ts.gpus]
    if totals and all(t is not None for t in totals):
        total = sum(t for t in totals if t is not None) / 1024
        right.axhline(
            total, color=SERIES_COLORS["gpu_mem"], linestyle=":", linewidth=1, label=_("memory installed")
        )
        right.set_ylim(0, total * 1.08)
    else:
        right.set_ylim(bottom=0)
    return right


def _engine(ax: Axes, grid: DisplayGrid, ts: WindowSeries) -> Axes | None:
    drawn_left = False
    if has_data(ts.queue_waiting):
        _line(
            ax,
            grid,
            grid.reduce(ts.queue_waiting, "max"),
            color=SERIES_COLORS["queue"],
            label=_("queue waiting"),
        )
        drawn_left = True
    if has_data(ts.running):
        _line(ax, grid, grid.reduce(ts.running), color=SERIES_COLORS["running"], label=_("running"))
        drawn_left = True
    ax.set_ylim(bottom=0)
    finish_axes(ax, _("Engine queue and host"), _("requests") if drawn_left else None)
    if not (has_data(ts.kv_cache_pct) or has_data(ts.cpu_pct)):
        return None
    right = _right_axis(ax, _("percent"), 105)
    if has_data(ts.kv_cache_pct):
        _line(
            right,
            grid,
            grid.reduce(ts.kv_cache_pct, "max"),
            color=SERIES_COLORS["kv"],
            label=_("KV cache (%)"),
        )
    if has_data(ts.cpu_pct):
        _line(
            right,
            grid,
            grid.reduce(ts.cpu_pct),
            color=SERIES_COLORS["cpu"],
            linestyle="--",
            label=_("host CPU (%)"),
        )
    right.set_ylim(0, 105)
    return right


def _errors(ax: Axes, grid: DisplayGrid, analysis: Analysis) -> Axes:
    ts = analysis.timeseries
    lower = np.zeros(grid.left.size)
    order = [c for c in analysis.error_sequence if c in ts.errors]
    order += sorted(c for c in ts.errors if c not in order)
    for cls in order:
        counts = np.nan_to_num(grid.reduce(ts.errors[cls], "sum"))
        if not counts.any():
            continue
        upper = lower + counts / grid.seconds
        ax.fill_between(
            grid.edges,
            np.append(lower, lower[-1:]),
            np.append(upper, upper[-1:]),
            step="post",
            color=error_color(cls),
            alpha=0.85,
            linewidth=0,
            label=cls,
        )
        lower = upper
    peak = float(lower.max(initial=0.0))
    ax.set_ylim(bottom=0, top=peak * 1.25 if peak > 0 else 1.0)
    finish_axes(ax, _("Failures by error class"), _("failures/s"))
    top = ax.get_ylim()[1]
    for cls in order:
        err = analysis.errors.get(cls)
        if err is not None and err.onset_s is not None:
            x = grid.x(err.onset_s)
            ax.axvline(x, color=error_color(cls), linestyle=":", linewidth=1)
            ax.plot([x], [top * 0.97], marker="v", color=error_color(cls), markersize=7, clip_on=False)
    strike = analysis.first_strike
    if strike is not None:
        err = analysis.errors.get(strike.error_class)
        at = strike.onset_s if strike.onset_s is not None else (err.first_seen_s if err else None)
        if at is not None:
            ax.axvline(
                grid.x(at),
                color=FIRST_STRIKE,
                linewidth=2,
                label=_("first strike: {error_class}").format(error_class=strike.error_class),
            )
    if has_data(ts.users):
        load, label = grid.reduce(ts.users), _("Locust users")
    else:
        load, label = grid.reduce(ts.concurrency_mean), _("requests open")
    right = _right_axis(ax, label)
    _line(
        right,
        grid,
        load,
        color=SERIES_COLORS["load"],
        linewidth=1.2,
        label=_("load: {what}").format(what=label),
    )
    right.set_ylim(bottom=0)
    return right


def _stage_levels(analysis: Analysis) -> list[LoadLevel]:
    cap = analysis.capacity
    return [lv for lv in cap.levels if lv.kind in ("stage", "users")]


def _strip(ax: Axes, grid: DisplayGrid, levels: Sequence[LoadLevel]) -> None:
    """The stage strip above the panels: one box per load stage, named when there are few enough."""
    for i, level in enumerate(levels):
        x0, x1 = grid.x(level.start_s), grid.x(level.end_s)
        ax.axvspan(x0, x1, color=BAND if i % 2 else "#ffffff", linewidth=0)
        ax.axvline(x0, color="#ced4da", linewidth=0.6)
        if len(levels) <= MAX_STAGE_LABELS:
            ax.text(
                (x0 + x1) / 2,
                0.5,
                level.name,
                ha="center",
                va="center",
                fontsize=7,
                color=MUTED,
                clip_on=True,
            )
    ax.set_yticks([])
    ax.tick_params(axis="x", length=0)
    ax.grid(False)
    for side in ("left", "right", "top", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_ylabel(_("stage"), rotation=0, ha="right", va="center", fontsize=7, color=MUTED)


def _bands(axes: Sequence[Axes], grid: DisplayGrid, analysis: Analysis, levels: Sequence[LoadLevel]) -> None:
    """Shade every other load stage on every panel and mark events that are not stage changes."""
    for i, level in enumerate(levels):
        x0, x1 = grid.x(level.start_s), grid.x(level.end_s)
        for ax in axes:
            if i % 2 == 1:
                ax.axvspan(x0, x1, color=BAND, zorder=0, linewidth=0)
            ax.axvline(x0, color="#ced4da", linewidth=0.6, zorder=0)
    for event in analysis.capture.events:
        if event.name in _HIDDEN_EVENTS:
            continue
        for ax in axes:
            ax.axvline(grid.x(event.t_s), color="#495057", linestyle="--", linewidth=0.9)
        axes[-1].annotate(
            event.name,
            xy=(grid.x(event.t_s), 0.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, 2),
            textcoords="offset points",
            fontsize=7,
            color="#495057",
            rotation=90,
            va="bottom",
        )


def _legend(ax: Axes, right: Axes | None) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if right is not None:
        h2, l2 = right.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    if handles:
        ax.legend(
            handles,
            labels,
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            ncols=min(len(handles), 6),
            borderaxespad=0.1,
            handlelength=1.6,
            columnspacing=1.2,
        )


def timeline(
    analysis: Analysis,
    panels: Sequence[str] = PANELS,
    *,
    name: str = "timeline",
    max_points: int = MAX_POINTS,
    width_in: float = CHART_WIDTH_IN,
) -> Timeline:
    """The aligned timeline of ``panels`` (module docstring); panels without data are left out."""
    ts = analysis.timeseries
    missing = {p: _MISSING_REASON[p] for p in panels if not _present(ts, p)}
    shown = [p for p in panels if p not in missing]
    if not shown:
        return Timeline(None, missing)
    grid = display_grid(ts, analysis.capture.duration_s, max_points)
    levels = _stage_levels(analysis)
    heights = [PANEL_HEIGHT_IN[p] for p in shown]
    if levels:
        heights = [STRIP_HEIGHT_IN, *heights]
    with styled(name):
        fig = new_figure(width_in, sum(heights) + 0.5)
        all_axes = fig.subplots(len(heights), 1, sharex=True, squeeze=False, height_ratios=heights)[:, 0]
        axes = all_axes[1:] if levels else all_axes
        if levels:
            _strip(all_axes[0], grid, levels)
        for ax, panel in zip(axes, shown, strict=True):
            right: Axes | None = None
            if panel == "latency":
                _latency(ax, grid, ts)
            elif panel == "throughput":
                right = _throughput(ax, grid, ts)
            elif panel == "gpu":
                right = _gpu(ax, grid, ts)
            elif panel == "engine":
                right = _engine(ax, grid, ts)
            elif panel == "errors":
                right = _errors(ax, grid, analysis)
            _legend(ax, right)
        _bands(list(axes), grid, analysis, levels)
        axes[-1].set_xlim(0, grid.end)
        axes[-1].set_xlabel(grid.label)
        note = f", each point {grid.k} windows" if grid.k > 1 else ""
        alt = f"{', '.join(shown)} over time ({ts.window_s:g} s windows{note})"
        return Timeline(svg(fig, name, alt), missing)


def finding_chart(
    analysis: Analysis, series: str, start_s: float | None, end_s: float | None, *, index: int = 0
) -> Chart | None:
    """A small chart of one per-window series (``Finding.chart``) with the finding's time range shaded;
    ``index`` tells the charts of one report apart. ``None`` when the series is unknown or empty."""
    ts = analysis.timeseries
    values = getattr(ts, series, None)
    if not isinstance(values, tuple) or not values or not isinstance(values[0], (int, float, type(None))):
        return None
    if not has_data(values):
        return None
    grid = display_grid(ts, analysis.capture.duration_s, MAX_POINTS)
    y = grid.reduce(values, "max" if series.endswith("_s") else "mean")
    label, unit = SERIES_LABELS.get(series, (series, ""))
    scale = 1000.0 if series.endswith("_s") else 1.0
    with styled(f"finding-{index}-{series}"):
        fig = new_figure(width_in=CHART_WIDTH_IN, height_in=1.7)
        ax = fig.add_subplot()
        if start_s is not None:
            ax.axvspan(
                grid.x(start_s), grid.x(end_s if end_s is not None else start_s), color="#ffe3e3", linewidth=0
            )
        _line(ax, grid, y * scale, color=SERIES_COLORS["p95"])
        ax.set_xlim(0, grid.end)
        ax.set_ylim(bottom=0)
        ax.set_xlabel(grid.label)
        finish_axes(ax, _("{series} per window").format(series=_(label)), _(unit) if unit else None)
        return svg(fig, f"finding-{series}", f"{label} over time, the finding's time range shaded")


SERIES_LABELS: dict[str, tuple[str, str]] = {
    "qps": (N_("QPS (successful requests completed)"), N_("requests/s")),
    "offered_qps": (N_("Offered QPS (requests sent)"), N_("requests/s")),
    "tps": (N_("Cluster TPS"), N_("tokens/s")),
    "gpu_util_pct": (N_("GPU utilisation (mean of GPUs)"), N_("%")),
    "gpu_mem_used_mib": (N_("GPU memory used (all GPUs)"), N_("MiB")),
    "cpu_pct": (N_("Host CPU"), N_("%")),
    "host_mem_used_mib": (N_("Host memory used"), N_("MiB")),
    "queue_waiting": (N_("Engine queue (waiting)"), N_("requests")),
    "running": (N_("Engine running"), N_("requests")),
    "kv_cache_pct": (N_("KV cache"), N_("%")),
    "error_rate": (N_("Error rate"), N_("share")),
    "concurrency_mean": (N_("Requests open"), N_("requests")),
    "in_flight_mean": (N_("Client in-flight at send"), N_("requests")),
    "ttft_p50_s": (N_("TTFT p50"), N_("ms")),
    "ttft_p95_s": (N_("TTFT p95"), N_("ms")),
    "ttft_p99_s": (N_("TTFT p99"), N_("ms")),
    "tpot_p50_s": (N_("TPOT p50"), N_("ms")),
    "tpot_p95_s": (N_("TPOT p95"), N_("ms")),
    "e2e_p50_s": (N_("E2E p50"), N_("ms")),
    "e2e_p95_s": (N_("E2E p95"), N_("ms")),
    "e2e_p99_s": (N_("E2E p99"), N_("ms")),
}
"""Title and unit of each per-window series a finding may name (``Finding.chart``)."""


def series_values(ts: WindowSeries, series: str) -> FloatArray:
    """A per-window series by name as floats (NaN where missing)."""
    return as_floats(getattr(ts, series))
