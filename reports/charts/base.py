"""What every chart shares: the style, the colours, SVG export and downsampling for display.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state, Agg/SVG backends only) inside
:func:`styled`, and exported by :func:`svg` as one ``<svg>`` element to embed inline: text stays text
(``svg.fonttype = none``), ids are salted per chart so several charts live in one page, mathtext is off so a
``$`` in a stage name is only a dollar sign. matplotlib escapes every text it writes into the SVG.

Downsampling is for drawing only: a long capture's windows are grouped into at most ``max_points`` buckets
(:class:`DisplayGrid`); rates take the mean of a bucket, latency percentiles its worst window, counts the
sum. Statistics are never computed from what is drawn.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from traceanalyzer.i18n import N_, _

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from traceanalyzer.model import WindowSeries

FloatArray = npt.NDArray[np.float64]

INK = "#1f2933"
MUTED = "#6b7785"
GRID = "#e4e7eb"
BAND = "#f1f3f5"
FIRST_STRIKE = "#b42318"

ERROR_CLASS_COLORS: dict[str, str] = {
    "oom": "#d62728",
    "server_5xx": "#9467bd",
    "timeout": "#ff7f0e",
    "stream_broken": "#e377c2",
    "connection": "#8c564b",
    "rate_limited": "#bcbd22",
    "context_length": "#17becf",
    "client_4xx": "#1f77b4",
    "aborted": "#7f7f7f",
}
"""One colour per error class (DESIGN section 3's closed set), the same in every chart and table."""
OTHER_CLASS_COLOR = "#393b79"

SERIES_COLORS: dict[str, str] = {
    "p50": "#7fb3d5",
    "p95": "#1f5f99",
    "p99": "#0b2e4f",
    "e2e": "#2a9d8f",
    "qps": "#2b8a3e",
    "offered": "#868e96",
    "tps": "#e8590c",
    "gpu_util": "#5f3dc4",
    "gpu_mem": "#c2255c",
    "queue": "#1971c2",
    "running": "#74c0fc",
    "kv": "#e67700",
    "cpu": "#495057",
    "load": "#343a40",
    "baseline": "#4263eb",
    "candidate": "#e8590c",
}

RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial"],
    "font.size": 8.5,
    "axes.titlesize": 9.5,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 8.5,
    "axes.labelcolor": INK,
    "axes.edgecolor": "#9aa5b1",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.grid": True,
    "grid.color": GRID,
    "grid.linewidth": 0.7,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "lines.linewidth": 1.4,
    "figure.dpi": 72,
}

CHART_WIDTH_IN = 10.0
"""Width of full-width charts (inches); the page scales them to its column."""


def error_color(error_class: str) -> str:
    return ERROR_CLASS_COLORS.get(error_class, OTHER_CLASS_COLOR)


@contextlib.contextmanager
def styled(salt: str) -> Iterator[None]:
    """The report style for figures built inside the block; ``salt`` makes the chart's SVG ids unique."""
    import matplotlib

    from reports.fonts import chart_fonts

    rc: Any = {**RC, "svg.hashsalt": salt, "font.family": list(chart_fonts())}
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN buckets are expected gaps
        yield


def new_figure(width_in: float, height_in: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), layout="constrained")


_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_AUTO_ID = re.compile(r'\sid="[A-Za-z][\w.]*_\d+"')


@dataclass(frozen=True)
class Chart:
    """An exported chart: one ``<svg>`` element and a sentence saying what it shows."""

    name: str
    svg: str
    alt: str


def svg(fig: Figure, name: str, alt: str) -> Chart:
    """Export ``fig`` as an inline ``<svg>`` (no XML prolog, no metadata, no unreferenced auto ids)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = _METADATA.sub("", _PROLOG.sub("", buf.getvalue(), count=1), count=1)
    text = _AUTO_ID.sub("", text)
    label = alt.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    text = text.replace("<svg ", f'<svg class="chart-svg" role="img" aria-label="{label}" ', 1)
    return Chart(name=name, svg=text, alt=alt)


# -- time axis and downsampling -----------------------------------------------------------------------
TimeUnit = Literal["s", "min", "h"]
TIME_AXIS_LABELS: dict[str, str] = {
    "s": N_("time since first request (s)"),
    "min": N_("time since first request (min)"),
    "h": N_("time since first request (h)"),
}
"""The time axis's label for each display unit (translated at use)."""


def time_unit(duration_s: float) -> tuple[TimeUnit, float]:
    """The unit time axes use for a run this long, and seconds per unit."""
    if duration_s <= 600:
        return "s", 1.0
    if duration_s <= 10 * 3600:
        return "min", 60.0
    return "h", 3600.0


@dataclass(frozen=True)
class DisplayGrid:
    """Buckets of ``k`` consecutive windows, in the display time unit: bucket ``i`` spans
    ``[left[i], left[i] + width[i])``."""

    k: int
    left: FloatArray
    width: FloatArray
    seconds: FloatArray
    """Bucket lengths in seconds (for rates of summed counts)."""
    unit: TimeUnit
    scale: float
    end: float
    """End of the run in the display unit."""

    @property
    def mid(self) -> FloatArray:
        return self.left + self.width / 2

    @property
    def edges(self) -> FloatArray:
        """Bucket edges, one more than buckets (for step plots)."""
        return np.append(self.left, self.left[-1] + self.width[-1]) if self.left.size else self.left

    @property
    def label(self) -> str:
        return _(TIME_AXIS_LABELS[self.unit])

    def x(self, seconds: float) -> float:
        return seconds / self.scale

    def reduce(
        self, values: Sequence[float | None], how: Literal["mean", "max", "sum"] = "mean"
    ) -> FloatArray:
        """Per bucket: mean, max or sum of the windows' values (missing values skipped; NaN when none)."""
        arr = as_floats(values)
        n = self.left.size
        if arr.size == 0:
            return np.full(n, np.nan)
        pad = n * self.k - arr.size
        blocks = np.concatenate([arr, np.full(max(pad, 0), np.nan)])[: n * self.k].reshape(n, self.k)
        if how == "sum":
            out: FloatArray = np.where(np.isnan(blocks).all(axis=1), np.nan, np.nansum(blocks, axis=1))
            return out
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a bucket without any value stays NaN
            return np.asarray(np.nanmax(blocks, axis=1) if how == "max" else np.nanmean(blocks, axis=1))


def as_floats(values: Sequence[float | None]) -> FloatArray:
    """A series as float64 with NaN for missing or non-finite values."""
    arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    arr[~np.isfinite(arr)] = np.nan
    return arr


def display_grid(ts: WindowSeries, duration_s: float, max_points: int) -> DisplayGrid:
    """Group the analysis windows into at most ``max_points`` buckets for drawing."""
    unit, scale = time_unit(duration_s)
    start, length = as_floats(ts.start_s), as_floats(ts.length_s)
    length = np.where(np.isfinite(length) & (length > 0), length, ts.window_s)  # never divide by zero
    n = start.size
    k = max(1, math.ceil(n / max_points)) if n else 1
    idx = np.arange(0, n, k)
    left = start[idx] if n else start
    seconds = np.add.reduceat(length, idx) if n else length
    return DisplayGrid(
        k=k,
        left=left / scale,
        width=seconds / scale,
        seconds=seconds,
        unit=unit,
        scale=scale,
        end=max(duration_s, float(start[-1] + length[-1]) if n else 0.0) / scale,
    )


def has_data(values: Sequence[float | None]) -> bool:
    return bool(np.isfinite(as_floats(values)).any()) if len(values) else False


def finish_axes(ax: Axes, title: str | None = None, ylabel: str | None = None) -> None:
    """Common touches: a title on the left, a y label, light grid under the data."""
    if title:
        ax.set_title(title)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.set_axisbelow(True)
    ax.margins(x=0)


def no_data(ax: Axes, text: str | None = None) -> None:
    ax.text(0.5, 0.5, text or _("no data"), ha="center", va="center", transform=ax.transAxes, color=MUTED)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
