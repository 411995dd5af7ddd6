"""Finding messages and first-strike explanations in the reader's language, from rule id and evidence.

The summary JSON keeps the English ``message`` each rule wrote (its contract); reports and the console
render the sentence again here, from the finding's rule id, severity, chart and evidence, in the language in
effect (:mod:`traceanalyzer.i18n`). In English the result equals the rule's own message (a test holds the
two together for every bundled sample). A rule this module does not know keeps its English message.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from traceanalyzer.causal import category_of, consequence_text, strike_text
from traceanalyzer.diagnosis.stability import CHECK_LABELS
from traceanalyzer.diagnosis.trends import LATENCY_SERIES, OFFERED_LOAD, RESOURCE_SERIES
from traceanalyzer.i18n import _
from traceanalyzer.model import Finding, FirstStrike


def duration_text(seconds: float | None) -> str:
    """A duration in words-friendly units (``850 ms``, ``4.2 s``, ``12 min``, ``3.5 h``) in the current
    language; the rules' ``fmt_s`` writes the English."""
    if seconds is None or not math.isfinite(seconds):
        return _("n/a")
    if abs(seconds) < 1:
        return _("{value} ms").format(value=f"{seconds * 1000:.0f}")
    if abs(seconds) < 120:
        return _("{value} s").format(value=f"{seconds:.1f}")
    if abs(seconds) < 7200:
        return _("{value} min").format(value=f"{seconds / 60:.0f}")
    return _("{value} h").format(value=f"{seconds / 3600:.1f}")


def _share(share: float) -> str:
    return f"{100 * share:.1f} %" if share < 0.1 else f"{100 * share:.0f} %"


def _queueing(f: Finding, e: Mapping[str, Any]) -> str:
    slope = e.get("ttft_s_per_waiting_request")
    added = (
        _("; each waiting request added about {duration}").format(duration=duration_text(slope))
        if slope is not None
        else ""
    )
    return _(
        "TTFT tracked the engine's queue: with up to {queue} requests waiting, TTFT p95 reached {ttft} "
        "(Spearman rho {rho}){added}."
    ).format(
        queue=f"{e['queue_max']:.0f}",
        ttft=duration_text(e.get("ttft_p95_max_when_queued_s")),
        rho=f"{e['spearman_rho']:.2f}",
        added=added,
    )


def _cpu_bound(f: Finding, e: Mapping[str, Any]) -> str:
    cpu = e.get("cpu_pct_median_slow")
    cpu_text = _("; host CPU was at {cpu} %").format(cpu=f"{cpu:.0f}") if cpu is not None else ""
    return _(
        "Latency broke its SLO in {slow} of {windows} windows while the GPU was mostly idle (median "
        "utilization {util} %): the time goes before the GPU (tokenization, CPU, I/O or scheduling){cpu}."
    ).format(
        slow=e["slow_windows"],
        windows=e["windows"],
        util=f"{e['gpu_util_median_slow_pct']:.0f}",
        cpu=cpu_text,
    )


def _gpu_saturated(f: Finding, e: Mapping[str, Any]) -> str:
    levels = {str(lv["level"]): lv for lv in e["levels"]}
    lo, hi = levels[str(e["from_level"])], levels[str(e["to_level"])]
    return _(
        "Past {load} requests open ({level}), TPS stayed flat ({tps_from} -> {tps_to} tokens/s for {more} % "
        "more load) with the GPU {util} % busy while latency rose: the engine reached its batching or "
        "parallelism limit."
    ).format(
        load=f"{lo['load']:.0f}",
        level=lo["level"],
        tps_from=f"{lo['tps']:.0f}",
        tps_to=f"{hi['tps']:.0f}",
        more=f"{100 * (hi['load'] / lo['load'] - 1):.0f}",
        util=f"{e['gpu_util_pct']:.0f}",
    )


def _memory_leak(f: Finding, e: Mapping[str, Any]) -> str:
    exhaustion = e.get("time_to_exhaustion_s")
    when = (
        _("; at this rate it runs out {duration} after the run").format(duration=duration_text(exhaustion))
        if exhaustion is not None
        else ""
    )
    daily = e.get("daily_pct")
    if daily is None:
        text = (
            _("{series} memory climbed steadily by {slope} MiB/min ({rise} % of total over the run){when}.")
            if e.get("total_mib")
            else _(
                "{series} memory climbed steadily by {slope} MiB/min ({rise} % of its starting level over "
                "the run){when}."
            )
        )
    else:  # rules that also judge the daily rate say it
        text = (
            _(
                "{series} memory climbed steadily by {slope} MiB/min ({rise} % of total over the run, "
                "{daily} % per 24 h){when}."
            )
            if e.get("total_mib")
            else _(
                "{series} memory climbed steadily by {slope} MiB/min ({rise} % of its starting level over "
                "the run, {daily} % per 24 h){when}."
            )
        )
    return text.format(
        series=e["series"],
        slope=f"{e['slope_mib_per_s'] * 60:.1f}",
        rise=f"{e['rise_pct']:.1f}",
        daily=f"{daily:.1f}" if daily is not None else "",
        when=when,
    )


def _latency_shift(f: Finding, e: Mapping[str, Any]) -> str:
    column = f.chart or ""
    label = dict(LATENCY_SERIES).get(column, column)
    before, after = e["latency"][column]["before_s"], e["latency"][column]["after_s"]
    rose = after > before
    moved = e.get("moved") or {}
    others = [_(name) for col, name in RESOURCE_SERIES if col in moved and col not in OFFERED_LOAD]
    alongside = (
        _("; with it moved: {names}").format(names=_(", ").join(others))
        if others
        else _("; no resource moved with it")
    )
    direction = e.get("load_change")
    if direction == ("up" if rose else "down"):
        cause = _(" as load rose") if rose else _(" as load fell")
    else:
        cause = _(" with no rise in offered load") if rose else ""
    text = (
        _("{label} rose {change} % ({before} -> {after}) at {at} s{cause}{alongside}.")
        if rose
        else _("{label} fell {change} % ({before} -> {after}) at {at} s{cause}{alongside}.")
    )
    return text.format(
        label=_(label),
        change=f"{abs(after / before - 1) * 100:.0f}",
        before=duration_text(before),
        after=duration_text(after),
        at=f"{e['at_s']:.1f}",
        cause=cause,
        alongside=alongside,
    )


def _unstable(f: Finding, e: Mapping[str, Any]) -> str:
    label = _(CHECK_LABELS[e["metric"]])
    value, bound = f"{100 * e['value']:.0f}", f"{100 * e['threshold']:.0f}"
    if e["metric"] == "qps_cv" and f.severity == "info":
        return _(
            "{label} was {value} %, above the {threshold} % threshold, but with {per_window} requests per "
            "window counting noise alone gives {noise} %: use a longer window to judge it."
        ).format(
            label=label,
            value=value,
            threshold=bound,
            per_window=f"{e['requests_per_window']:.1f}",
            noise=f"{100 * e['counting_noise_cv']:.0f}",
        )
    if e.get("stage") is not None:  # a fluctuation judged per load stage names the worst one
        return _(
            "{label} was {value} %, above the {threshold} % threshold in the steady state of stage {stage}."
        ).format(label=label, value=value, threshold=bound, stage=e["stage"])
    return _("{label} was {value} %, above the {threshold} % threshold.").format(
        label=label, value=value, threshold=bound
    )


def _error_burst(f: Finding, e: Mapping[str, Any]) -> str:
    cls, load = e["class"], e.get("load_at_onset") or {}
    at = ""
    if load.get("concurrency") is not None:
        at = _(" with {n} requests open").format(n=f"{load['concurrency']:.0f}")
    elif load.get("users") is not None:
        at = _(" at {n} users").format(n=f"{load['users']:.0f}")
    first = _(" (the first strike)") if e.get("position") == 1 else ""
    onset = f"{e['onset_s']:.1f}"
    if e.get("triggered") is not None:
        return _(
            "{cls} errors from {onset} s{at}{first} set off the {triggered} episode that followed ({count} "
            "{cls} in all)."
        ).format(cls=cls, onset=onset, at=at, first=first, triggered=e["triggered"], count=e["count"])
    return _(
        "{cls} errors became persistent at {onset} s{at}{first}: {share} of requests at onset, up to {peak} "
        "of a window."
    ).format(
        cls=cls,
        onset=onset,
        at=at,
        first=first,
        share=_share(e.get("share_at_onset") or 0),
        peak=_share(e["peak_share"]),
    )


_RULES: dict[str, Callable[[Finding, Mapping[str, Any]], str]] = {
    "queueing": _queueing,
    "cpu_bound": _cpu_bound,
    "gpu_saturated": _gpu_saturated,
    "memory_leak": _memory_leak,
    "latency_shift": _latency_shift,
    "unstable": _unstable,
    "error_burst": _error_burst,
}


def finding_message(finding: Finding) -> str:
    """The finding's message in the current language (its English ``message`` for an unknown rule or
    evidence this module cannot read)."""
    render = _RULES.get(finding.rule)
    if render is None:
        return finding.message
    try:
        return render(finding, finding.evidence)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return finding.message


def first_strike_explanation(strike: FirstStrike) -> str:
    """The first strike's explanation in the current language."""
    evidence = strike.evidence
    after = evidence.get("followed_by")
    followed = (
        {str(c.get("class")) for c in after if isinstance(c, Mapping)} if isinstance(after, list) else set()
    )
    category = strike.category
    if category not in ("unrecoverable", "server_errors") and category_of(strike.error_class) != category:
        return strike.explanation  # a category this module does not know how to say
    text = strike_text(category, strike.error_class, oom_follows="oom" in followed, translate=_)
    triggered = evidence.get("triggered")
    if isinstance(triggered, str):
        text += " " + consequence_text(triggered, translate=_)
    return text
