"""SLO evaluation: each objective of ``AnalysisOptions.slo`` with its threshold, measured value and verdict.

| SLO | measured value | passes when |
| --- | --- | --- |
| ``ttft_p95`` | TTFT p95 (s) | <= ``ttft_p95_s`` |
| ``tpot_p95`` | TPOT p95 (s) | <= ``tpot_p95_s`` |
| ``e2e_p95`` | E2E p95 (s), only when ``e2e_p95_s`` is set | <= ``e2e_p95_s`` |
| ``rtv`` | CV of E2E | <= ``rtv`` |
| ``qps_cv`` | QPS fluctuation (CV of windowed QPS in steady state) | <= ``qps_cv`` |
| ``error_rate`` | failed / all requests | <= ``error_rate`` (``error_rate_soak`` for a soak) |
| ``latency_drift`` | soak latency drift, soaks only | <= ``latency_drift`` |
| ``gpu_mem_fluctuation`` | (max - min) / mean of mem_used, worst GPU and stage | <= ``gpu_mem_fluctuation`` |
| ``cpu_pct`` | mean host CPU (%) | <= ``cpu_pct`` |
| ``consistency_cosine`` | mean pairwise cosine of answers to one prompt | >= ``consistency_cosine`` |

An objective whose value could not be measured has ``value`` and ``passed`` ``None`` (and a note); it is left
out of the summary's ``slo`` list, which holds judged objectives only.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from traceanalyzer.metrics.context import StageContext
from traceanalyzer.model import Analysis, SloResult


def judge(
    name: str,
    threshold: float,
    value: float | None,
    *,
    unit: str,
    comparison: Literal["<=", ">="] = "<=",
    missing: str = "",
) -> SloResult:
    """One SLO result: ``passed`` is ``value <= threshold`` (or ``>=``), ``None`` when not measured."""
    if value is None:
        return SloResult(name, threshold, None, None, comparison, unit, f"not measured: {missing}")
    passed = value <= threshold if comparison == "<=" else value >= threshold
    return SloResult(name, threshold, value, passed, comparison, unit)


def slo_stage(ctx: StageContext, analysis: Analysis) -> Analysis:
    """Evaluate every switched-on SLO (module docstring)."""
    slo = ctx.options.slo
    lat, var = analysis.latency, analysis.stability.variability
    results: list[SloResult] = []
    no_requests = "no successful request"
    if slo.ttft_p95_s is not None:
        results.append(judge("ttft_p95", slo.ttft_p95_s, lat.ttft_s.p95, unit="s", missing=no_requests))
    if slo.tpot_p95_s is not None:
        missing = "no successful request with two or more output tokens"
        results.append(judge("tpot_p95", slo.tpot_p95_s, lat.tpot_s.p95, unit="s", missing=missing))
    if slo.e2e_p95_s is not None:
        results.append(judge("e2e_p95", slo.e2e_p95_s, lat.e2e_s.p95, unit="s", missing=no_requests))
    if slo.rtv is not None:
        results.append(judge("rtv", slo.rtv, var.e2e_cv, unit="fraction", missing=no_requests))
    if slo.qps_cv is not None:
        missing = "fewer than two steady-state windows in every stage"
        results.append(judge("qps_cv", slo.qps_cv, var.qps_cv, unit="fraction", missing=missing))
    bound = slo.error_rate_soak if ctx.soak else slo.error_rate
    if bound is not None:
        value = analysis.stability.error_rate
        results.append(judge("error_rate", bound, value, unit="fraction", missing="no requests"))
    if ctx.soak and slo.latency_drift is not None:
        missing = "fewer than four steady-state windows"
        results.append(
            judge("latency_drift", slo.latency_drift, var.latency_drift, unit="fraction", missing=missing)
        )
    if slo.gpu_mem_fluctuation is not None:
        value, missing = var.gpu_mem_fluctuation, "no GPU memory samples"
        result = judge(
            "gpu_mem_fluctuation", slo.gpu_mem_fluctuation, value, unit="fraction", missing=missing
        )
        if value is not None and var.gpu_mem_fluctuation_stage is not None:
            result = dataclasses.replace(result, note=f"worst stage: {var.gpu_mem_fluctuation_stage}")
        results.append(result)
    if slo.cpu_pct is not None:
        value, missing = analysis.resources.cpu_pct_mean, "no host CPU samples"
        results.append(judge("cpu_pct", slo.cpu_pct, value, unit="%", missing=missing))
    if slo.consistency_cosine is not None:
        cons = analysis.consistency
        value = cons.mean_cosine if cons is not None else None
        missing = "no answers to compare (see consistency notes)"
        results.append(
            judge(
                "consistency_cosine",
                slo.consistency_cosine,
                value,
                unit="cosine",
                comparison=">=",
                missing=missing,
            )
        )
    return dataclasses.replace(analysis, slo=tuple(results))
