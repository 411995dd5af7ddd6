"""Resource diagnosis: findings with stable rule ids, each with severity, time range, message and evidence.

Rules (DESIGN section 7; docs/diagnosis.md says what each means and what to do):

========================  ============================================================================
``cpu_bound``             latency breaks its SLO while the GPU is mostly idle (:mod:`.resources`)
``gpu_saturated``         GPU busy, TPS flat while load grows (:mod:`.resources`)
``memory_leak``           GPU or host memory climbing (Theil-Sen + Mann-Kendall) (:mod:`.trends`)
``queueing``              TTFT tracks the engine's queue depth (lagged Spearman) (:mod:`.resources`)
``latency_shift``         a change point in latency, and what moved with it (:mod:`.trends`)
``unstable``              a variability threshold of the SLOs broken (:mod:`.stability`)
``error_burst``           an error class became persistent (:mod:`.stability`, onsets from ``causal``)
========================  ============================================================================

:func:`diagnose` runs them all on the window frame (:func:`.frame.window_frame`) and returns the findings,
most severe first, with the rules that could not run and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from traceanalyzer.diagnosis.common import RULES, DiagnosisOptions, MemorySeries, Skipped
from traceanalyzer.diagnosis.resources import cpu_bound, gpu_saturated, queueing
from traceanalyzer.diagnosis.stability import error_bursts, unstable
from traceanalyzer.diagnosis.trends import latency_shift, memory_leak
from traceanalyzer.model import Finding, SloThresholds, Variability

if TYPE_CHECKING:
    from traceanalyzer.causal import SequenceResult

__all__ = [
    "RULES",
    "DiagnosisOptions",
    "DiagnosisResult",
    "MemorySeries",
    "Skipped",
    "diagnose",
    "sort_findings",
]

_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class DiagnosisResult:
    findings: tuple[Finding, ...]
    """Most severe first, then by start."""
    skipped: tuple[Skipped, ...]
    """Rules (or parts of them) that did not run, with the reason (e.g. no GPU samples)."""


def diagnose(
    windows: pd.DataFrame,
    *,
    slo: SloThresholds,
    variability: Variability,
    sequence: SequenceResult | None = None,
    memory: Sequence[MemorySeries] = (),
    requests: pd.DataFrame | None = None,
    soak: bool = False,
    options: DiagnosisOptions | None = None,
) -> DiagnosisResult:
    """Every rule over one capture's window frame; see the module docstring.

    ``requests``: the successful requests' ``send_s`` and ``ttft_s`` (``queueing`` then meets each request's
    TTFT with the queue it found); ``soak``: judge the soak-only thresholds (latency drift) too.
    """
    opts = options or DiagnosisOptions()
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    for found, why in (
        cpu_bound(windows, slo, opts),
        gpu_saturated(windows, slo, opts),
        memory_leak(memory, windows, opts),
        queueing(windows, slo, opts, requests),
        latency_shift(windows, opts),
        unstable(variability, slo, windows, opts, soak=soak),
    ):
        findings += found
        skipped += why
    if sequence is not None:
        findings += error_bursts(sequence)
    return DiagnosisResult(tuple(sort_findings(findings)), tuple(skipped))


def sort_findings(findings: Sequence[Finding]) -> list[Finding]:
    """Most severe first, then by start (findings without a start last within their severity)."""
    return sorted(
        findings,
        key=lambda f: (_SEVERITY_ORDER[f.severity], f.start_s if f.start_s is not None else float("inf")),
    )
