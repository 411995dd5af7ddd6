"""``analyze(capture, options) -> Analysis``: the one place the analysis stages are composed.

Every stage is a function ``(ctx: StageContext, analysis: Analysis) -> Analysis`` (see
:mod:`traceanalyzer.metrics.context`) that fills its part and may read what earlier stages filled. They run in
the order of :data:`STAGES`; to add a stage, write such a function and put it in the list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from traceanalyzer import progress
from traceanalyzer.causal import causal_stage
from traceanalyzer.consistency.stage import consistency_stage
from traceanalyzer.diagnosis.stage import diagnosis_stage
from traceanalyzer.distribution import installed_version
from traceanalyzer.errors import UsageError
from traceanalyzer.frames import keep_requests
from traceanalyzer.metrics.breakdown import breakdown_stage
from traceanalyzer.metrics.capacity import capacity_stage
from traceanalyzer.metrics.context import Stage, StageContext, prepare
from traceanalyzer.metrics.conversations import conversations_stage
from traceanalyzer.metrics.latency import latency_stage
from traceanalyzer.metrics.resources import resources_stage
from traceanalyzer.metrics.slo import slo_stage
from traceanalyzer.metrics.stability import stability_stage
from traceanalyzer.metrics.timeseries import requests_series_stage
from traceanalyzer.model import (
    Analysis,
    AnalysisOptions,
    CapacityResult,
    CaptureInfo,
    FileRecord,
    InventoryInfo,
    LatencyResult,
    QpsStats,
    RequestCounts,
    ResourceSummary,
    StabilityResult,
    Stats,
    Variability,
    WindowSeries,
)
from traceanalyzer.parity.stage import parity_stage

if TYPE_CHECKING:
    from traceanalyzer.loader import Capture


STAGES: list[Stage] = [
    latency_stage,  # layer 1: TTFT, TPOT, ITL, E2E, distributions, slowest requests
    requests_series_stage,  # per-window request series (QPS, TPS, errors, latency, in-flight)
    resources_stage,  # GPU / host / server / load samples as-of joined to the window grid
    capacity_stage,  # layer 2: QPS, TPS, goodput, load levels, knee, max sustainable load
    stability_stage,  # layer 3: error rates and classes, variability
    breakdown_stage,  # per model / scenario / host / stage
    causal_stage,  # onsets, error_sequence, first_strike, error_burst findings
    diagnosis_stage,  # resource findings (cpu_bound, gpu_saturated, memory_leak, queueing, ...)
    consistency_stage,  # output consistency of repeated prompts, robustness verdicts
    conversations_stage,  # multi-turn sessions: latency and tokens by turn, cache effect, session outcomes
    parity_stage,  # imported tools' own summaries recomputed under their definitions, ours beside them
    slo_stage,  # every SLO judged, last: it reads the results above
]


def _distinct(values: Sequence[Any]) -> tuple[str, ...]:
    return tuple(sorted({str(v) for v in values if v is not None and v == v}))


def inventory_info(capture: Capture) -> InventoryInfo:
    """The loader's inventory as part of the result (files, records, skipped lines and why)."""
    inv = getattr(capture, "inventory", None)
    if inv is None:
        return InventoryInfo()
    return InventoryInfo(
        files=tuple(
            FileRecord(
                path=str(f.path),
                records=int(f.records),
                skipped=int(f.skipped),
                problems=dict(getattr(f, "problems", {}) or {}),
                types=dict(getattr(f, "types", {}) or {}),
            )
            for f in inv.files
        ),
        skipped_lines=int(inv.skipped_lines),
        unknown_types=dict(getattr(inv, "unknown_types", {}) or {}),
        duplicate_request_ids=int(getattr(inv, "duplicate_request_ids", 0) or 0),
        warnings=tuple(str(w) for w in getattr(inv, "warnings", ()) or ()),
    )


def initial_analysis(ctx: StageContext) -> Analysis:
    """The analysis before any stage ran: capture facts and counts, every measured part empty."""
    frame, table = ctx.requests, ctx.request_table

    def column(name: str) -> list[Any]:
        return table.column(name).unique().to_pylist() if name in table.column_names else []

    total, ok = len(frame), int(frame["ok"].sum())
    runs = column("run") + (
        ctx.capture.meta.column("run").unique().to_pylist() if ctx.capture.meta.num_rows else []
    )
    hosts: list[Any] = []
    for name in ("requests", "gpu", "host", "server", "load"):
        t = getattr(ctx.capture, name)
        if t.num_rows and "host" in t.column_names:
            hosts += t.column("host").unique().to_pylist()
    empty_stats = Stats()
    return Analysis(
        capture=CaptureInfo(
            t0_ns=ctx.t0_ns,
            duration_s=ctx.grid.duration_s,
            runs=_distinct(runs),
            hosts=_distinct(hosts),
            models=_distinct(column("model")),
            scenarios=_distinct(column("scenario")),
            stages=ctx.stages,
            soak=ctx.soak,
            steady=ctx.steady_spans,
            events=ctx.events,
            clock_offsets_ns=dict(ctx.options.clock_offsets_ns),
        ),
        options=ctx.options,
        requests=RequestCounts(total=total, ok=ok, failed=total - ok),
        latency=LatencyResult(empty_stats, empty_stats, empty_stats, empty_stats),
        capacity=CapacityResult(
            qps=QpsStats(0.0, 0.0, None, None),
            offered_qps_mean=0.0,
            tps_cluster_mean=0.0,
            tps_cluster_peak=0.0,
            tps_per_request=empty_stats,
            decode_speed=empty_stats,
            goodput_rps=0.0,
            slo_attainment=None,
            good_requests=0,
        ),
        stability=StabilityResult(None, None, Variability()),
        resources=ResourceSummary(),
        timeseries=WindowSeries(window_s=ctx.grid.window_s),
        inventory=inventory_info(ctx.capture),
        tool_version=installed_version(),
    )


def analyze(
    capture: Capture, options: AnalysisOptions | None = None, stages: Sequence[Stage] | None = None
) -> Analysis:
    """Run every stage of :data:`STAGES` (or ``stages``) over a loaded capture. The result keeps the
    per-request data (``Analysis.requests_frame()``)."""
    opts = options or AnalysisOptions()
    if opts.window_s <= 0:
        raise UsageError(f"--window must be positive, not {opts.window_s:g}")
    ctx = prepare(capture, opts)
    chosen = STAGES if stages is None else stages
    try:
        analysis = initial_analysis(ctx)
        with progress.phase("stages", total=len(chosen)) as advance:
            for stage in chosen:
                analysis = stage(ctx, analysis)
                advance(1)
    finally:
        ctx.close()
    return keep_requests(dataclasses.replace(analysis, notes=tuple(ctx.notes)), ctx)
