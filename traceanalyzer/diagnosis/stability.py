"""Findings about stability: ``unstable`` (a variability threshold broken) and ``error_burst`` (an onset)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from traceanalyzer.diagnosis.common import DiagnosisOptions, Skipped, finding
from traceanalyzer.diagnosis.stats import counting_noise_cv
from traceanalyzer.i18n import N_
from traceanalyzer.model import Finding, Severity, SloThresholds, Variability

if TYPE_CHECKING:
    from traceanalyzer.causal import SequenceResult

SEVERE_CLASSES = frozenset({"oom", "server_5xx", "connection", "stream_broken"})
"""Error classes whose onset is ``critical`` whatever their share."""

_CHECKS: tuple[tuple[str, str, str], ...] = (
    ("e2e_cv", "rtv", N_("E2E response-time variability (CV)")),
    ("qps_cv", "qps_cv", N_("QPS fluctuation (CV of windowed QPS)")),
    ("gpu_mem_fluctuation", "gpu_mem_fluctuation", N_("GPU memory fluctuation ((max - min) / mean)")),
    ("latency_drift", "latency_drift", N_("soak latency drift (E2E p95, last vs first quarter)")),
)
CHECK_LABELS: dict[str, str] = {attr: label for attr, _, label in _CHECKS}
"""What each ``unstable`` check is called in its message (English; translated where rendered)."""


def unstable(
    variability: Variability,
    slo: SloThresholds,
    windows: pd.DataFrame,
    options: DiagnosisOptions,
    *,
    soak: bool = False,
) -> tuple[list[Finding], list[Skipped]]:
    """``unstable``: one finding per variability threshold of the SLOs that the run broke.

    Checked: E2E CV against ``rtv``, QPS CV against ``qps_cv``, GPU memory fluctuation against
    ``gpu_mem_fluctuation``, and for soaks the latency drift against ``latency_drift`` (values from the
    variability stage, steady state). Severity ``warning``, except a QPS CV within ``counting_noise_factor``
    of Poisson counting noise for the window length (``1 / sqrt(mean successful requests per steady
    window)``): that is ``info``, the windows are too short to measure fluctuation, and a longer ``--window``
    tells.
    """
    findings = []
    steady = windows[windows["steady"]] if windows["steady"].any() else windows
    start = float(steady["start_s"].min()) if len(steady) else None
    end = float(steady["end_s"].max()) if len(steady) else None
    for attr, slo_attr, label in _CHECKS:
        value = getattr(variability, attr)
        bound = getattr(slo, slo_attr)
        if value is None or bound is None or value <= bound or (attr == "latency_drift" and not soak):
            continue
        severity: Severity = "warning"
        evidence: dict[str, object] = {"metric": attr, "value": value, "threshold": bound}
        message = f"{label} was {100 * value:.0f} %, above the {100 * bound:.0f} % threshold."
        if attr == "qps_cv":
            per_window = float(steady["ok"].mean()) if len(steady) else 0.0
            noise = counting_noise_cv(per_window)
            evidence.update({"requests_per_window": per_window, "counting_noise_cv": noise})
            if value <= options.counting_noise_factor * noise:
                severity = "info"
                message = (
                    f"{label} was {100 * value:.0f} %, above the {100 * bound:.0f} % threshold, but with "
                    f"{per_window:.1f} requests per window counting noise alone gives "
                    f"{100 * noise:.0f} %: "
                    "use a longer window to judge it."
                )
        if attr == "e2e_cv":
            evidence.update({"ttft_cv": variability.ttft_cv, "tpot_cv": variability.tpot_cv})
        if attr == "gpu_mem_fluctuation" and variability.gpu_mem_fluctuation_stage is not None:
            evidence["stage"] = variability.gpu_mem_fluctuation_stage
            message = f"{message[:-1]} in the steady state of stage {variability.gpu_mem_fluctuation_stage}."
        findings.append(finding("unstable", severity, start, end, message, evidence, chart=_chart(attr)))
    return findings, []


def _chart(attr: str) -> str:
    return {"qps_cv": "qps", "gpu_mem_fluctuation": "gpu_mem_used_mib"}.get(attr, "e2e_p95_s")


def _pct(share: float) -> str:
    """A share as a percentage with one decimal below 10 %, none above."""
    return f"{100 * share:.1f} %" if share < 0.1 else f"{100 * share:.0f} %"


def error_bursts(sequence: SequenceResult) -> list[Finding]:
    """``error_burst``: one finding per error class with an onset (see :mod:`traceanalyzer.causal`).

    Time range: the onset to the end of the class's last episode (a trigger, see
    :func:`traceanalyzer.causal.error_sequence`, has no episode of its own: its range is its onset).
    Severity ``critical`` for ``oom``, ``server_5xx``, ``connection`` and ``stream_broken``, or any class
    that reached half of a window's requests; ``warning`` otherwise.
    """
    out = []
    for position, cls in enumerate(sequence.sequence):
        c = sequence.classes[cls]
        assert c.onset_s is not None
        severity: Severity = "critical" if cls in SEVERE_CLASSES or c.peak_share >= 0.5 else "warning"
        load = {k: v for k, v in c.load.items() if v is not None}
        at = ""
        if load.get("concurrency") is not None:
            at = f" with {load['concurrency']:.0f} requests open"
        elif load.get("users") is not None:
            at = f" at {load['users']:.0f} users"
        first = " (the first strike)" if position == 0 else ""
        if c.triggered is not None:
            message = (
                f"{cls} errors from {c.onset_s:.1f} s{at}{first} set off the {c.triggered} episode that "
                f"followed ({c.count} {cls} in all)."
            )
        else:
            message = (
                f"{cls} errors became persistent at {c.onset_s:.1f} s{at}{first}: "
                f"{_pct(c.share_at_onset or 0)} of requests at onset, up to {_pct(c.peak_share)} of a window."
            )
        evidence = {
            "class": cls,
            "position": position + 1,
            "onset_s": c.onset_s,
            "count": c.count,
            "persistent_count": c.persistent_count,
            "isolated_count": c.isolated_count,
            "triggered": c.triggered,
            "share_at_onset": c.share_at_onset,
            "peak_share": c.peak_share,
            "episodes": [list(e) for e in c.episodes],
            "load_at_onset": load,
            "leading_indicators": {
                i.name: {"value": i.value, "baseline": i.baseline, "change": i.change, "trend": i.trend}
                for i in c.indicators
            },
        }
        end = c.episodes[-1][1] if c.episodes else c.onset_s
        out.append(finding("error_burst", severity, c.onset_s, end, message, evidence, chart="errors"))
    return out
