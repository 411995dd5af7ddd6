"""The diagnosis analysis stage: every rule over the analysis' window grid, findings into ``Analysis``."""

from __future__ import annotations

import dataclasses

import numpy as np

from traceanalyzer.diagnosis import MemorySeries, diagnose, sort_findings
from traceanalyzer.diagnosis.frame import window_frame
from traceanalyzer.metrics.context import StageContext
from traceanalyzer.metrics.resources import samples_frame, window_join
from traceanalyzer.model import Analysis


def memory_series(ctx: StageContext, analysis: Analysis) -> list[MemorySeries]:
    """Per GPU (from the window series) and per host (host samples joined to the grid), memory used per window
    with its total; instants are window centres."""
    series = analysis.timeseries
    start = np.asarray(series.start_s, dtype=float)
    centres = start + np.asarray(series.length_s, dtype=float) / 2
    out = [
        MemorySeries(
            f"GPU {device.key}",
            centres,
            np.asarray([np.nan if v is None else v for v in device.mem_used_mib], dtype=float),
            device.mem_total_mib,
        )
        for device in series.gpus
        if len(device.mem_used_mib) == len(start)
    ]
    host = samples_frame(ctx.capture.host, ctx.t0_ns, ("host",), ("mem_used_mib", "mem_total_mib"))
    if len(host):
        used = window_join(host, "mem_used_mib", ctx.grid)
        for key, values in used.items():
            totals = host.loc[host["key"] == key, "mem_total_mib"].dropna()
            total = float(totals.max()) if len(totals) else None
            out.append(MemorySeries(f"host {key}", centres, values, total))
    return out


def diagnosis_stage(ctx: StageContext, analysis: Analysis) -> Analysis:
    """Resource findings (:func:`traceanalyzer.diagnosis.diagnose`) added to those already in the analysis
    (the causal stage's ``error_burst``), most severe first; rules that could not run are noted."""
    if not analysis.timeseries.start_s:
        ctx.note("diagnosis", "not measured: the capture has no time windows")
        return analysis
    result = diagnose(
        window_frame(analysis.timeseries),
        slo=analysis.options.slo,
        variability=analysis.stability.variability,
        memory=memory_series(ctx, analysis),
        requests=ctx.ok[["send_s", "ttft_s"]],
        soak=analysis.capture.soak,
    )
    for skipped in result.skipped:
        ctx.note("diagnosis", f"{skipped.rule} skipped: {skipped.reason}")
    findings = sort_findings([*analysis.findings, *result.findings])
    return dataclasses.replace(analysis, findings=tuple(findings))
