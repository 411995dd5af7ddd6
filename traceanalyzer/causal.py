"""Causal error sequence: when each error class became persistent, under what load, after which warning signs,
and which class struck first (DESIGN section 5).

Inputs are the window grid as pandas frames (:mod:`traceanalyzer.diagnosis.frame`): ``windows`` (one row per
window: ``start_s``, ``end_s``, ``requests``, ``steady``, load and resource columns) and ``counts`` (failures
per window and error class). Definitions:

- Share of a class in a window = its failures / requests that ended in the window (``ok + failed``).
- A window is *hot* for a class when that share is at least ``onset_share``. An *episode* is a run of at least
  ``onset_windows`` consecutive hot windows; windows in which no request ended are skipped (they neither
  extend nor break a run: a stalled server completes nothing).
- Onset = start of the first window of the class's first episode; ``None`` when the class never had one.
  Failures outside every episode are *isolated* (a stray 500 at minute 3 is not the start of a cascade at
  minute 40) and counted separately.
- A trigger: when the earliest episode is of a consequence class (``server_5xx``, ``connection``,
  ``stream_broken``) and an ``oom`` or ``timeout`` failure came in its lead-up (the ``lead_windows`` windows
  before it, or its onset window before its first failure), that class set the episode off: it gets an onset
  at the window of that failure even if its own share never stayed above the threshold (an engine that dies
  after three OOMs answers 500 to everything; the OOM struck first).
- Classes with an onset are ordered by onset window, ties by their first failure inside that window. The first
  strike is the first of them; ``aborted`` (the recorder stopping) never counts.
- Load at onset: the onset window's concurrency, client in-flight, offered QPS, Locust users and stage.
- Leading indicators: each signal's median over the ``lead_windows`` windows ending at the onset window,
  against its median over the baseline (steady windows before the lead-up of the earliest onset of any class;
  any earlier windows when none is steady), and its trend (Theil-Sen slope, Mann-Kendall test at ``alpha``)
  over the ``trend_windows`` windows ending at the onset.

Defaults (``CausalOptions``): 5 % share in 3 consecutive windows; 3 lead windows; 10 trend windows; mass 5xx
when 5xx reach 50 % of a window's requests.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from traceanalyzer.diagnosis.common import clean
from traceanalyzer.diagnosis.frame import error_counts, window_frame
from traceanalyzer.diagnosis.stability import error_bursts
from traceanalyzer.diagnosis.stats import trend
from traceanalyzer.i18n import N_
from traceanalyzer.metrics.context import NS, StageContext
from traceanalyzer.model import Analysis, FirstStrike, LeadingIndicator, LoadPoint, TimeSpan

INTERFACE_CLASSES = frozenset({"rate_limited", "context_length", "client_4xx"})
"""4xx classes: the service refused at its interface or validation limits."""
CONSEQUENCE_CLASSES = frozenset({"server_5xx", "connection", "stream_broken"})
"""Classes that are usually the consequence of an earlier failure (a crashed or wedged server)."""
TRIGGER_CLASSES: tuple[str, ...] = ("oom", "timeout")
"""Classes that set off a consequence episode when they fail just before it, even a few times: an engine
that dies after a few out-of-memory errors answers 500 to everything, and it is the OOM that struck first."""
NOT_SERVICE_FAILURES = frozenset({"aborted"})
"""Classes that say nothing about the service (the recorder stopped while requests were in flight)."""

INDICATORS: tuple[tuple[str, str], ...] = (
    ("ttft_p95_s", "TTFT p95 (s)"),
    ("e2e_p95_s", "E2E p95 (s)"),
    ("queue_waiting", "requests waiting in the engine queue"),
    ("kv_cache_pct", "KV-cache usage (%)"),
    ("gpu_mem_pct", "GPU memory used (% of total, fullest GPU)"),
    ("gpu_mem_used_mib", "GPU memory used (MiB, all GPUs)"),
    ("gpu_util_pct", "GPU utilization (%)"),
    ("cpu_pct", "host CPU (%)"),
)
"""Leading indicators: column of the window frame, and what it is."""


@dataclass(frozen=True)
class CausalOptions:
    """Thresholds of the error sequence (see the module docstring for how each is used)."""

    onset_share: float = 0.05
    """A class is hot in a window when its failures are at least this share of the window's requests."""
    onset_windows: int = 3
    """Consecutive hot windows (windows with requests) that make a class persistent."""
    lead_windows: int = 3
    """Windows, ending at the onset window, over which the "at onset" value of an indicator is taken."""
    trend_windows: int = 10
    """Windows, ending at the onset window, over which an indicator's trend is tested."""
    alpha: float = 0.05
    """Significance level of the Mann-Kendall trend test of an indicator."""
    mass_share: float = 0.5
    """Share of a window's requests failing with 5xx at which 5xx count as a mass failure."""


@dataclass(frozen=True)
class ClassSequence:
    """What the error sequence found for one error class (instants in seconds since the capture origin)."""

    error_class: str
    count: int
    onset_window: int | None
    onset_s: float | None
    episodes: tuple[tuple[float, float], ...]
    """Start and end (s) of each run of hot windows."""
    persistent_count: int
    """Failures inside episodes."""
    isolated_count: int
    """Failures outside every episode."""
    peak_share: float
    """Highest share of a window's requests that failed with this class."""
    share_at_onset: float | None
    """Share over the first episode."""
    load: Mapping[str, Any] = field(default_factory=dict)
    """``stage``, ``concurrency``, ``in_flight``, ``offered_qps``, ``users``, ``qps`` of the onset window."""
    indicators: tuple[LeadingIndicator, ...] = ()
    first_in_window_s: float | None = None
    """Time of the class's first failure inside its onset window (orders classes with the same onset)."""
    triggered: str | None = None
    """The consequence class whose episode this class set off (its onset is then its first failure in the
    lead-up to that episode, see :data:`TRIGGER_CLASSES`)."""


@dataclass(frozen=True)
class SequenceResult:
    classes: Mapping[str, ClassSequence]
    sequence: tuple[str, ...]
    """Classes with an onset, ordered by onset."""
    first_strike: FirstStrike | None
    baseline_windows: int
    """Windows the indicators' baseline was taken over."""


def _hot_runs(share: np.ndarray, has_requests: np.ndarray, threshold: float, min_run: int) -> list[list[int]]:
    """Runs of at least ``min_run`` consecutive hot windows, skipping windows without requests."""
    runs: list[list[int]] = []
    current: list[int] = []
    for i in np.flatnonzero(has_requests):
        if share[i] >= threshold:
            current.append(int(i))
            continue
        if len(current) >= min_run:
            runs.append(current)
        current = []
    if len(current) >= min_run:
        runs.append(current)
    return runs


def _finite_or_none(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _median(values: pd.Series) -> float | None:
    clean = values.dropna()
    return float(clean.median()) if len(clean) else None


def _indicators(
    windows: pd.DataFrame, onset: int, baseline: np.ndarray, options: CausalOptions
) -> tuple[LeadingIndicator, ...]:
    lead = windows.iloc[max(0, onset - options.lead_windows + 1) : onset + 1]
    span = windows.iloc[max(0, onset - options.trend_windows + 1) : onset + 1]
    out = []
    for column, _ in INDICATORS:
        if column not in windows or windows[column].isna().all():
            continue
        value = _median(lead[column])
        base = _median(windows.loc[baseline, column]) if baseline.any() else None
        change = value / base - 1 if value is not None and base not in (None, 0) else None
        fit = trend(span["end_s"].to_numpy(), span[column].to_numpy())
        direction: Literal["rising", "falling", "flat"] | None = None
        slope = None
        if fit is not None:
            slope = fit.slope
            significant = fit.p_value < options.alpha
            direction = (
                "flat" if not significant or fit.tau == 0 else ("rising" if fit.tau > 0 else "falling")
            )
        out.append(LeadingIndicator(column, value, base, change, direction, slope))
    return tuple(out)


def _load_at(windows: pd.DataFrame, onset: int) -> dict[str, Any]:
    row = windows.iloc[onset]
    load: dict[str, Any] = {"stage": row.get("stage")}
    for key, column in (
        ("concurrency", "concurrency_mean"),
        ("in_flight", "in_flight_mean"),
        ("offered_qps", "offered_qps"),
        ("qps", "qps"),
        ("users", "users"),
    ):
        load[key] = _finite_or_none(row.get(column))
    return load


def _baseline_mask(windows: pd.DataFrame, first_onset: int | None, options: CausalOptions) -> np.ndarray:
    """Steady windows before the lead-up of the earliest onset (any earlier windows when none is steady)."""
    n = len(windows)
    end = n if first_onset is None else max(0, first_onset - options.lead_windows + 1)
    before = np.zeros(n, dtype=bool)
    before[:end] = True
    steady = windows["steady"].to_numpy(dtype=bool) if "steady" in windows else np.ones(n, dtype=bool)
    return before & steady if (before & steady).any() else before


def _first_times(failures: pd.DataFrame | None, windows: pd.DataFrame) -> dict[tuple[str, int], float]:
    """(class, window) -> time of the class's first failure in that window."""
    if failures is None or failures.empty:
        return {}
    starts = windows["start_s"].to_numpy()
    idx = np.clip(np.searchsorted(starts, failures["t_s"].to_numpy(), side="right") - 1, 0, len(starts) - 1)
    first = (
        pd.DataFrame({"cls": failures["error_class"].astype(str).to_numpy(), "w": idx, "t": failures["t_s"]})
        .groupby(["cls", "w"], sort=False)["t"]
        .min()
    )
    return {
        (str(c), int(w)): float(t) for (c, w), t in zip(first.index.tolist(), first.to_numpy(), strict=True)
    }


def _mark_trigger(
    found: dict[str, dict[str, Any]],
    counts: pd.DataFrame,
    windows: pd.DataFrame,
    failures: pd.DataFrame | None,
    first_times: Mapping[tuple[str, int], float],
    options: CausalOptions,
) -> None:
    """When the earliest episode is of a consequence class, give its trigger an onset (in place).

    The lead-up spans the ``lead_windows`` windows before the episode's onset window and that window up to the
    episode's first failure (the whole window when failure times are unknown). The trigger is the class of
    :data:`TRIGGER_CLASSES` whose first failure in the lead-up is earliest; its onset is the window of that
    failure, and its lead-up failures count as persistent.
    """
    with_onset = [(f["onset"], first_times.get((c, f["onset"]), math.inf), c) for c, f in found.items()]
    with_onset = sorted(x for x in with_onset if x[0] is not None)
    if not with_onset or with_onset[0][2] not in CONSEQUENCE_CLASSES:
        return
    w0, t_first, consequence = with_onset[0]
    lo = max(0, w0 - options.lead_windows)
    starts = windows["start_s"].to_numpy(dtype=float)
    candidates: list[tuple[float, int, str, int, int]] = []
    for order, cls in enumerate(TRIGGER_CLASSES):
        if cls not in counts or cls not in found:
            continue
        if failures is not None and not failures.empty:
            times = failures.loc[failures["error_class"] == cls, "t_s"].to_numpy(dtype=float)
            times = np.sort(times[(times >= starts[lo]) & (times < min(t_first, windows["end_s"].iloc[w0]))])
            if times.size:
                w = int(np.clip(np.searchsorted(starts, times[0], side="right") - 1, 0, len(starts) - 1))
                candidates.append((float(times[0]), order, cls, int(times.size), w))
            continue
        c = counts[cls].to_numpy(dtype=float)[lo : w0 + 1]
        if c.sum() > 0:
            w = lo + int(np.flatnonzero(c)[0])
            candidates.append((float(starts[w]), order, cls, round(c.sum()), w))
    if not candidates:
        return
    t, _, cls, n, w = min(candidates)
    f = found[cls]
    span = slice(w, w0 + 1)
    requests = windows["requests"].to_numpy(dtype=float)[span]
    f.update(
        onset=w,
        triggered=consequence,
        first_s=t,
        persistent=min(f["count"], f["persistent"] + n),
        share_at_onset=float(n / max(requests.sum(), n)),
    )


def error_sequence(
    windows: pd.DataFrame,
    counts: pd.DataFrame,
    *,
    failures: pd.DataFrame | None = None,
    options: CausalOptions | None = None,
) -> SequenceResult:
    """Onsets, episodes, isolated failures, load and leading indicators of each error class; the first strike.

    ``counts`` has one column per error class and one row per window of ``windows``. ``failures`` (optional:
    ``t_s``, ``error_class``) only orders classes whose onsets fall in the same window.
    """
    opts = options or CausalOptions()
    requests = windows["requests"].to_numpy(dtype=float)
    has_requests = requests > 0
    starts = windows["start_s"].to_numpy(dtype=float)
    ends = windows["end_s"].to_numpy(dtype=float)
    first_times = _first_times(failures, windows)
    found: dict[str, dict[str, Any]] = {}
    for cls in counts.columns:
        c = counts[cls].to_numpy(dtype=float)
        if c.sum() <= 0:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(has_requests, c / np.maximum(requests, c), 0.0)
        runs = (
            []
            if cls in NOT_SERVICE_FAILURES
            else _hot_runs(share, has_requests, opts.onset_share, opts.onset_windows)
        )
        in_runs = np.zeros(len(c), dtype=bool)
        for run in runs:
            in_runs[run[0] : run[-1] + 1] = True
        onset = runs[0][0] if runs else None
        first_run = runs[0] if runs else []
        found[str(cls)] = {
            "count": round(c.sum()),
            "onset": onset,
            "episodes": tuple((float(starts[r[0]]), float(ends[r[-1]])) for r in runs),
            "persistent": round(c[in_runs].sum()),
            "peak_share": float(share.max()),
            "share_at_onset": float(c[first_run].sum() / np.maximum(requests[first_run], c[first_run]).sum())
            if first_run
            else None,
        }
    _mark_trigger(found, counts, windows, failures, first_times, opts)
    onsets = [f["onset"] for f in found.values() if f["onset"] is not None]
    baseline = _baseline_mask(windows, min(onsets) if onsets else None, opts)
    classes: dict[str, ClassSequence] = {}
    for cls, f in found.items():
        onset = f["onset"]
        classes[cls] = ClassSequence(
            error_class=cls,
            count=f["count"],
            onset_window=onset,
            onset_s=None if onset is None else float(starts[onset]),
            episodes=f["episodes"],
            persistent_count=f["persistent"],
            isolated_count=f["count"] - f["persistent"],
            peak_share=f["peak_share"],
            share_at_onset=f["share_at_onset"],
            load=_load_at(windows, onset) if onset is not None else {},
            indicators=_indicators(windows, onset, baseline, opts) if onset is not None else (),
            first_in_window_s=f.get("first_s", first_times.get((cls, onset)) if onset is not None else None),
            triggered=f.get("triggered"),
        )
    ordered = sorted(
        (c for c in classes.values() if c.onset_window is not None),
        key=lambda c: (
            c.onset_window,
            math.inf if c.first_in_window_s is None else c.first_in_window_s,
            c.error_class,
        ),
    )
    sequence = tuple(c.error_class for c in ordered)
    strike = _first_strike(ordered, classes, windows, counts, opts)
    return SequenceResult(classes, sequence, strike, int(baseline.sum()))


def _mass_5xx(windows: pd.DataFrame, counts: pd.DataFrame, options: CausalOptions) -> float:
    """Highest share of a window's requests failing with ``server_5xx``."""
    if "server_5xx" not in counts:
        return 0.0
    req = windows["requests"].to_numpy(dtype=float)
    c = counts["server_5xx"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(req > 0, c / np.maximum(req, c), 0.0)
    return float(share.max()) if share.size else 0.0


def _first_strike(
    ordered: list[ClassSequence],
    classes: Mapping[str, ClassSequence],
    windows: pd.DataFrame,
    counts: pd.DataFrame,
    options: CausalOptions,
) -> FirstStrike | None:
    if not ordered:
        return None
    first = ordered[0]
    assert first.onset_s is not None
    later_oom = "oom" in classes and classes["oom"].onset_window is not None
    mass = _mass_5xx(windows, counts, options)
    category, explanation = interpret(
        first.error_class, oom_follows=later_oom, mass_5xx=mass >= options.mass_share
    )
    evidence: dict[str, Any] = {
        "onset_s": first.onset_s,
        "count": first.count,
        "isolated": first.isolated_count,
        "share_at_onset": first.share_at_onset,
        "peak_share": first.peak_share,
        "load": dict(first.load),
        "indicators": {
            i.name: {"value": i.value, "baseline": i.baseline, "change": i.change, "trend": i.trend}
            for i in first.indicators
        },
        "followed_by": [
            {"class": c.error_class, "onset_s": c.onset_s, "after_s": (c.onset_s or 0.0) - first.onset_s}
            for c in ordered[1:]
        ],
    }
    if first.error_class == "server_5xx" or "server_5xx" in counts:
        evidence["peak_5xx_share"] = mass
    if first.triggered is not None:
        evidence["triggered"] = first.triggered
        explanation += " " + consequence_text(first.triggered)
    cleaned = clean(evidence)
    assert isinstance(cleaned, dict)
    return FirstStrike(first.error_class, first.onset_s, category, explanation, cleaned)


CONSEQUENCE_TEXT = {
    "server_5xx": N_("a mass of 5xx errors"),
    "connection": N_("connection failures"),
    "stream_broken": N_("broken streams"),
}
STRIKE_TEXT: dict[str, str] = {
    "interface_limits": N_(
        "Client errors (4xx) struck first: the service refused requests at its interface or validation "
        "limits (rate limit, context length, request checks) before the engine itself was in trouble."
    ),
    "queueing": N_(
        "Timeouts struck first: requests waited in the queue until the client gave up, a queueing or "
        "scheduling bottleneck with TTFT out of control."
    ),
    "memory": N_(
        "Out-of-memory struck first: batch size, KV-cache size or context length ask for more GPU memory "
        "than this load leaves."
    ),
    "unrecoverable": N_(
        "A mass of 5xx errors struck first: the server fell into a state it did not recover from."
    ),
    "server_errors": N_(
        "Server errors (5xx) struck first without becoming a mass failure: look for the failing code "
        "path in the server's logs by response id."
    ),
    "unreachable": N_(
        "Connection failures struck first: the server stopped accepting connections (crashed, "
        "restarted or its accept queue overflowed)."
    ),
    "stream_broken": N_(
        "Broken streams struck first: responses were cut mid-way (a worker died or a proxy closed long "
        "streams)."
    ),
    "other": N_("{error_class} errors struck first."),
}
"""The reading of each first-strike category (DESIGN section 5), in English; :mod:`traceanalyzer.explain`
renders them in the report's language."""
OOM_FOLLOWS_TEXT = {
    True: N_("Out-of-memory errors followed, so the queue built up before memory ran out."),
    False: N_("No out-of-memory error preceded them."),
}
"""What a ``queueing`` first strike adds."""


def consequence_text(triggered: str, translate: Callable[[str], str] = N_) -> str:
    """The sentence a trigger's explanation ends with."""
    return translate(N_("It set off what followed: {consequence}.")).format(
        consequence=translate(CONSEQUENCE_TEXT[triggered])
    )


def category_of(error_class: str, *, mass_5xx: bool = False) -> str:
    """The first-strike category of ``error_class`` (:func:`interpret`)."""
    if error_class in INTERFACE_CLASSES:
        return "interface_limits"
    if error_class == "server_5xx":
        return "unrecoverable" if mass_5xx else "server_errors"
    return {
        "timeout": "queueing",
        "oom": "memory",
        "connection": "unreachable",
        "stream_broken": "stream_broken",
    }.get(error_class, "other")


def strike_text(
    category: str, error_class: str, *, oom_follows: bool = False, translate: Callable[[str], str] = N_
) -> str:
    """The one-sentence reading of a first strike of ``category`` (``translate``: into the report's
    language; the default keeps the English of the summary)."""
    text = translate(STRIKE_TEXT[category]).format(error_class=error_class)
    if category == "queueing":
        text += " " + translate(OOM_FOLLOWS_TEXT[oom_follows])
    return text


def interpret(error_class: str, *, oom_follows: bool = False, mass_5xx: bool = False) -> tuple[str, str]:
    """The category and one-sentence reading of a first strike (DESIGN section 5).

    Categories: ``interface_limits`` (a 4xx class first), ``queueing`` (timeout first), ``memory`` (OOM
    first), ``unrecoverable`` (5xx first, reaching ``mass_share`` of a window), ``server_errors`` (5xx first,
    not en masse), ``unreachable`` (connection failures first), ``stream_broken`` (streams cut mid-way first).
    """
    category = category_of(error_class, mass_5xx=mass_5xx)
    return category, strike_text(category, error_class, oom_follows=oom_follows)


# -- the analysis stage ----------------------------------------------------------------------------------
def _aggregated_counts(ctx: StageContext, windows: pd.DataFrame) -> pd.DataFrame | None:
    """Importers' aggregated failures (hosts without request records) spread over the windows, per class.

    A row with ``count`` failures between ``t_first`` and ``t_last`` adds ``count`` times the share of that
    span each window covers (all of it to one window when the span is a point or ``t_last`` is unknown): an
    estimate, since the importer kept no per-failure times.
    """
    table = ctx.capture.failures
    if table.num_rows == 0:
        return None
    frame = table.to_pandas()
    with_requests = set(ctx.requests["host"].dropna().astype(str))
    if "host" in frame:
        frame = frame[~frame["host"].astype(str).isin(with_requests)]
    if frame.empty:
        return None
    first = (pd.to_numeric(frame.get("t_first"), errors="coerce") - ctx.t0_ns) / NS
    last = ((pd.to_numeric(frame.get("t_last"), errors="coerce") - ctx.t0_ns) / NS).fillna(first)
    count = pd.to_numeric(frame.get("count"), errors="coerce").fillna(1.0)
    starts = windows["start_s"].to_numpy(dtype=float)
    ends = windows["end_s"].to_numpy(dtype=float)
    out: dict[str, np.ndarray] = {}
    for cls, a, b, k in zip(frame["class"].astype(str), first, last, count, strict=True):
        if not math.isfinite(a):
            continue
        if b > a:
            spread = np.clip(np.minimum(ends, b) - np.maximum(starts, a), 0, None) / (b - a)
        else:
            spread = np.zeros(len(starts))
            spread[int(np.clip(np.searchsorted(starts, a, side="right") - 1, 0, len(starts) - 1))] = 1.0
        out[cls] = out.get(cls, np.zeros(len(starts))) + k * spread
    return pd.DataFrame(out, index=windows.index) if out else None


def _load_point(load: Mapping[str, Any]) -> LoadPoint:
    in_flight = load.get("in_flight")
    if in_flight is None:
        in_flight = load.get("concurrency")
    return LoadPoint(
        stage=load.get("stage"),
        in_flight=None if in_flight is None else round(in_flight),
        qps=load.get("qps"),
        users=load.get("users"),
        offered_qps=load.get("offered_qps"),
    )


def causal_stage(ctx: StageContext, analysis: Analysis) -> Analysis:
    """Fill ``errors`` (onset, episodes, load and leading indicators), ``error_sequence``, ``first_strike``,
    and add one ``error_burst`` finding per onset (:func:`error_sequence` with the default options)."""
    series = analysis.timeseries
    if not series.start_s or not analysis.errors:
        return analysis
    windows = window_frame(series)
    counts = error_counts(series)
    frame = ctx.requests
    failed = frame[~frame["ok"]]
    failures = pd.DataFrame(
        {"t_s": failed["end_s"].to_numpy(), "error_class": failed["error_class"].astype(str)}
    )
    aggregated = _aggregated_counts(ctx, windows)
    if aggregated is not None:
        counts = counts.add(aggregated, fill_value=0.0)
        ctx.note("causal", "onsets of importer-aggregated failures are estimated from their first/last times")
        if windows["requests"].sum() == 0 and windows["load_rps"].notna().any():
            # Locust's requests/s counts failures too
            sent = windows["load_rps"].fillna(0.0) * windows["length_s"]
            windows["requests"] = np.maximum(sent.to_numpy(), counts.sum(axis=1).to_numpy())
    if windows["requests"].sum() == 0:
        ctx.note("causal", "not measured: no request counts per window to judge error shares by")
        return analysis
    result = error_sequence(windows, counts, failures=failures)
    errors = dict(analysis.errors)
    for cls, seq in result.classes.items():
        base = errors.get(cls)
        if base is None:
            continue
        errors[cls] = dataclasses.replace(
            base,
            onset_s=seq.onset_s,
            load_at_onset=_load_point(seq.load) if seq.onset_s is not None else None,
            leading_indicators=seq.indicators,
            isolated_count=seq.isolated_count,
            share_at_onset=seq.share_at_onset,
            peak_share=seq.peak_share,
            episodes=tuple(TimeSpan(a, b) for a, b in seq.episodes),
        )
    return dataclasses.replace(
        analysis,
        errors=errors,
        error_sequence=result.sequence,
        first_strike=result.first_strike,
        findings=(*analysis.findings, *error_bursts(result)),
    )
