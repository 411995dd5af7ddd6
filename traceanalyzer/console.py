"""The console summary of an analysis (rich tables): verdict, the three layers, errors and top findings.

Formatting only: every number comes from the ``Analysis``; nothing here computes a metric.
"""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from traceanalyzer.explain import finding_message, first_strike_explanation
from traceanalyzer.i18n import N_, _, current, language
from traceanalyzer.model import Analysis, LoadPoint, SloResult, Stats

_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
_SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "dim"}
TOP_FINDINGS = 5


def _num(value: float | None, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{suffix}"


def _ms(value: float | None) -> str:
    """Seconds shown as milliseconds (one decimal below 100 ms)."""
    if value is None:
        return "-"
    ms = value * 1000
    return f"{ms:.1f}" if abs(ms) < 100 else f"{ms:.0f}"


def _count(value: int) -> str:
    """A count in at most five characters: 987, 12.3k, 98.7M."""
    for limit, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit * 10:
            return f"{value / limit:.1f}{unit}" if value < limit * 100 else f"{value / limit:.0f}{unit}"
    return str(value)


def _pct(value: float | None, digits: int = 2) -> str:
    """A fraction shown as a percentage."""
    return "-" if value is None else f"{value * 100:.{digits}f} %"


def _slo_value(slo: SloResult, value: float | None) -> str:
    if value is None:
        return "-"
    if slo.unit == "s":
        return f"{value * 1000:,.1f} ms"
    if slo.unit == "fraction":
        return _pct(value)
    if slo.unit == "%":
        return f"{value:.1f} %"
    return f"{value:.3f}"


def verdict_table(analysis: Analysis) -> Table:
    table = Table(title=_("Verdict"), title_justify="left", expand=False)
    for col in (N_("SLO"), N_("threshold"), N_("measured"), N_("result")):
        table.add_column(_(col), justify="left" if col == "SLO" else "right")
    for slo in analysis.slo:
        if slo.passed is None:
            result = Text(_("not measured"), style="dim")
        else:
            result = Text(_("pass"), style="green") if slo.passed else Text(_("FAIL"), style="bold red")
        table.add_row(
            slo.name, f"{slo.comparison} {_slo_value(slo, slo.threshold)}", _slo_value(slo, slo.value), result
        )
    return table


def latency_table(analysis: Analysis) -> Table:
    lat = analysis.latency
    table = Table(
        title=_("Layer 1 - user-perceived latency (ms, successful requests)"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column(_("metric"))
    for col in (N_("count"), N_("mean"), "p50", "p90", "p95", "p99", "p99.9", N_("max")):
        table.add_column(_(col), justify="right")

    def row(name: str, s: Stats) -> None:
        table.add_row(
            name,
            _count(s.count),
            *(_ms(v) for v in (s.mean, s.p50, s.p90, s.p95, s.p99, s.p99_9, s.max)),
        )

    row("TTFT", lat.ttft_s)
    row("TPOT", lat.tpot_s)
    row("ITL", lat.itl_s)
    row("E2E", lat.e2e_s)
    return table


def _point(point: LoadPoint | None) -> str:
    if point is None:
        return "-"
    parts = [point.stage or "-"]
    if point.in_flight is not None:
        parts.append(_("in-flight {n}").format(n=point.in_flight))
    if point.qps is not None:
        parts.append(f"{point.qps:.2f} {_('req/s')}")
    return _(", ").join(parts)


def _key_values(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(_("what"))
    table.add_column(_("value"), justify="right")
    for name, value in rows:
        table.add_row(name, value)
    return table


def capacity_table(analysis: Analysis) -> Table:
    cap = analysis.capacity
    rows = [
        (
            _("QPS mean / stable / peak"),
            f"{_num(cap.qps.mean)} / {_num(cap.qps.stable)} / {_num(cap.qps.peak)}",
        ),
        (_("offered QPS mean"), _num(cap.offered_qps_mean)),
        (
            _("cluster TPS mean / peak (tokens/s)"),
            f"{_num(cap.tps_cluster_mean, 1)} / {_num(cap.tps_cluster_peak, 1)}",
        ),
        (_("per-request TPS p50 (tokens/s)"), _num(cap.tps_per_request.p50, 1)),
        (_("decode speed p50 (tokens/s)"), _num(cap.decode_speed.p50, 1)),
        (_("goodput (req/s)"), _num(cap.goodput_rps)),
        (_("SLO attainment"), _pct(cap.slo_attainment)),
        (_("saturation knee"), _point(cap.knee)),
        (_("max sustainable load"), _point(cap.max_sustainable)),
    ]
    return _key_values(_("Layer 2 - capacity"), rows)


def stability_table(analysis: Analysis) -> Table:
    stab, res = analysis.stability, analysis.resources
    var = stab.variability
    rows = [
        (_("error rate (all / steady)"), f"{_pct(stab.error_rate)} / {_pct(stab.error_rate_steady)}"),
        (
            _("CV of E2E (RTV) / TTFT / TPOT"),
            " / ".join(_pct(v, 1) for v in (var.e2e_cv, var.ttft_cv, var.tpot_cv)),
        ),
        (_("QPS fluctuation (CV)"), _pct(var.qps_cv, 1)),
        (
            _("GPU memory fluctuation"),
            _pct(var.gpu_mem_fluctuation, 1)
            + (
                " " + _("(worst stage: %(stage)s)") % {"stage": escape(var.gpu_mem_fluctuation_stage)}
                if var.gpu_mem_fluctuation_stage
                else ""
            ),
        ),
        (_("latency drift"), _pct(var.latency_drift, 1)),
        (_("GPU util mean"), _num(res.gpu_util_mean, 1, " %")),
        (_("GPU memory used max"), _num(res.gpu_mem_used_max_mib, 0, " MiB")),
        (_("CPU mean"), _num(res.cpu_pct_mean, 1, " %")),
    ]
    return _key_values(_("Layer 3 - stability and resources"), rows)


def errors_table(analysis: Analysis) -> Table | None:
    if not analysis.errors:
        return None
    strike = analysis.first_strike.error_class if analysis.first_strike else None
    table = Table(title=_("Errors by class (times: s since first request)"), title_justify="left")
    for col in (
        N_("class"),
        N_("count"),
        N_("first seen"),
        N_("last seen"),
        N_("onset"),
        N_("first request"),
    ):
        table.add_column(_(col), justify="left" if col in ("class", "first request") else "right")
    for cls, err in analysis.errors.items():
        first = err.first_failure
        ref = (
            "-" if first is None else f"{first.id}" + (f" ({first.response_id})" if first.response_id else "")
        )
        name = Text(
            cls + (" <- " + _("first strike") if cls == strike else ""), style="bold" if cls == strike else ""
        )
        table.add_row(
            name,
            f"{err.count:,}",
            _num(err.first_seen_s, 1),
            _num(err.last_seen_s, 1),
            _num(err.onset_s, 1),
            Text(ref),
        )
    return table


def findings_table(analysis: Analysis) -> Table | None:
    if not analysis.findings:
        return None
    findings = sorted(analysis.findings, key=lambda f: (_SEVERITY_ORDER.get(f.severity, 3), f.start_s or 0.0))
    table = Table(title=_("Top findings"), title_justify="left")
    for col in (N_("severity"), N_("rule"), N_("when (s)"), N_("finding")):
        table.add_column(_(col))
    for f in findings[:TOP_FINDINGS]:
        when = f"{_num(f.start_s, 0)}-{_num(f.end_s, 0)}"
        table.add_row(
            Text(_(f.severity), style=_SEVERITY_STYLE.get(f.severity, "")),
            f.rule,
            when,
            Text(finding_message(f)),
        )
    return table


def header(analysis: Analysis) -> Text:
    cap, req = analysis.capture, analysis.requests
    failed_slo = [s.name for s in analysis.slo if s.passed is False]
    verdict = (
        Text(_("all SLOs met"), style="bold green")
        if not failed_slo
        else Text(
            _("{n} SLO(s) failed: {names}").format(n=len(failed_slo), names=", ".join(failed_slo)),
            style="bold red",
        )
    )
    text = Text()
    text.append(
        _("{total} requests ({ok} ok, {failed} failed) over {seconds} s").format(
            total=f"{req.total:,}",
            ok=f"{req.ok:,}",
            failed=f"{req.failed:,}",
            seconds=f"{cap.duration_s:,.1f}",
        )
    )
    if cap.stages:
        text.append(_(", {n} stages").format(n=len(cap.stages)))
    if cap.soak:
        text.append(_(", soak"))
    text.append("\n")
    text.append_text(verdict)
    if analysis.first_strike is not None:
        text.append(
            _("\nfirst strike: {error_class} - ").format(error_class=analysis.first_strike.error_class)
        )
        text.append(first_strike_explanation(analysis.first_strike))
    return text


def notes_text(analysis: Analysis) -> Text | None:
    if not analysis.notes:
        return None
    text = Text(_("Notes") + "\n", style="bold")
    for note in analysis.notes:
        text.append(f"  {note.section}: ", style="dim")
        text.append(note.reason + "\n")
    return text


def renderable(analysis: Analysis) -> Group:
    """Everything the console shows, in order."""
    parts = [
        header(analysis),
        verdict_table(analysis),
        latency_table(analysis),
        capacity_table(analysis),
        stability_table(analysis),
        errors_table(analysis),
        findings_table(analysis),
        notes_text(analysis),
    ]
    return Group(*(p for p in parts if p is not None))


def render(analysis: Analysis, console: Console | None = None, lang: str | None = None) -> None:
    """Print the console summary in ``lang`` (default: the language in effect, see
    :mod:`traceanalyzer.i18n`)."""
    with language(lang or current()):
        (console or Console()).print(renderable(analysis))


def render_text(analysis: Analysis, width: int = 110, lang: str | None = None) -> str:
    """The console summary as plain text (no colours)."""
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    with language(lang or current()):
        console.print(renderable(analysis))
    return console.export_text()
