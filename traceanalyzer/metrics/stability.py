"""Layer 3 basics (DESIGN section 4): error rates, per-class error statistics and variability.

- Error rate = failed / all requests, overall; per window (``WindowSeries.error_rate``) and per class
  (``ErrorClassStats.rate`` = class count / all requests). ``error_rate_steady`` = the same over requests sent
  in steady-state windows.
- Per error class: count, first seen and last seen (a failure's time is its ``t_end``, when the client saw
  it), HTTP statuses, and the first failed request. Aggregated failures of importers (``failures`` records,
  e.g. Locust's failures CSV) are added for hosts that have no per-request records, so nothing is counted
  twice. Onset, load at onset and leading indicators are the causal stage's.
- Variability: CV = population std / mean of E2E (RTV), TTFT and TPOT over successful requests; QPS
  fluctuation from the capacity stage; GPU memory fluctuation = (max - min) / mean and CV of ``mem_used_mib``
  per GPU over the samples in steady state (every sample when none is), the worst GPU. With load stages,
  each stage's steady state is judged on its own (each stage's whole span when none has a steady state) and
  the worst stage is reported, named: memory that rises because the load was raised on purpose is not
  fluctuation.
- Soak latency drift = E2E p95 of successful requests completed in the last quarter of the steady windows /
  E2E p95 of those in the first quarter - 1 (needs four or more steady windows).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa

from traceanalyzer.metrics.context import NS, StageContext
from traceanalyzer.metrics.stats import cv, cv_of, quantile_or_none
from traceanalyzer.model import Analysis, ErrorClassStats, StabilityResult, TimeSpan, Variability


def _status_counts(statuses: pd.Series) -> dict[str, int]:
    keys = statuses.map(lambda s: "none" if pd.isna(s) else str(int(s)))
    return {str(k): int(v) for k, v in keys.value_counts().sort_index().items()}


def error_classes(ctx: StageContext) -> dict[str, ErrorClassStats]:
    """Count, first / last seen, rate, statuses and first failure of every error class (module docstring)."""
    frame = ctx.requests
    total = len(frame)
    failed = frame.loc[~frame["ok"], ["row", "end_s", "status", "error_class"]]
    out: dict[str, ErrorClassStats] = {}
    for cls, group in failed.groupby("error_class", observed=True):
        first_row = int(group["row"].to_numpy()[int(np.argmin(group["end_s"].to_numpy()))])
        out[str(cls)] = ErrorClassStats(
            count=len(group),
            first_seen_s=float(group["end_s"].min()),
            last_seen_s=float(group["end_s"].max()),
            rate=len(group) / total if total else None,
            first_failure=ctx.request_ref(first_row),
            statuses=_status_counts(group["status"]),
        )
    for cls, agg in aggregated_failures(ctx).items():
        known = out.get(cls)
        if known is None:
            out[cls] = agg
            continue
        out[cls] = dataclasses.replace(
            known,
            count=known.count + agg.count,
            first_seen_s=min(known.first_seen_s, agg.first_seen_s),
            last_seen_s=max(known.last_seen_s, agg.last_seen_s),
        )
    return dict(sorted(out.items(), key=lambda item: (item[1].first_seen_s, item[0])))


def aggregated_failures(ctx: StageContext) -> dict[str, ErrorClassStats]:
    """Importers' aggregated failures, for hosts without per-request records, per class."""
    table: pa.Table = ctx.capture.failures
    if table.num_rows == 0:
        return {}
    frame = table.to_pandas()
    hosts_with_requests = set(ctx.requests["host"].dropna().astype(str))
    if "host" in frame:
        frame = frame[~frame["host"].astype(str).isin(hosts_with_requests)]
    if frame.empty:
        return {}
    t0 = ctx.t0_ns
    frame["first_s"] = (pd.to_numeric(frame.get("t_first"), errors="coerce") - t0) / NS
    frame["last_s"] = (pd.to_numeric(frame.get("t_last"), errors="coerce") - t0) / NS
    frame["last_s"] = frame["last_s"].fillna(frame["first_s"])
    frame["count"] = pd.to_numeric(frame.get("count"), errors="coerce").fillna(1).astype(int)
    out = {}
    for cls, group in frame.groupby("class"):
        out[str(cls)] = ErrorClassStats(
            count=int(group["count"].sum()),
            first_seen_s=float(group["first_s"].min()),
            last_seen_s=float(group["last_s"].max()),
            statuses=_status_counts(group["status"]) if "status" in group else {},
        )
    if out:
        ctx.note("errors", "aggregated failures from an importer are included in the per-class counts")
    return out


def gpu_memory_fluctuation(ctx: StageContext) -> tuple[float | None, float | None, str | None]:
    """(fluctuation, CV, stage) of GPU ``mem_used_mib`` in steady state, worst GPU and, with load stages,
    worst stage (module docstring); ``stage`` names the stage of the worst fluctuation, ``None`` without
    stages."""
    table: pa.Table = ctx.capture.gpu
    if table.num_rows == 0 or "mem_used_mib" not in table.column_names:
        return None, None, None
    cols = [c for c in ("host", "gpu", "uuid") if c in table.column_names]
    frame = table.select(["t", "mem_used_mib", *cols]).to_pandas()
    frame = frame.dropna(subset=["t", "mem_used_mib"])
    frame["t_s"] = (frame["t"].astype("int64") - ctx.t0_ns) / NS
    t_s = frame["t_s"].to_numpy()

    def within(spans: tuple[TimeSpan, ...]) -> list[tuple[str | None, np.ndarray]]:
        parts = [(span.stage, (t_s >= span.start_s) & (t_s <= span.end_s)) for span in spans]
        return [(stage, inside) for stage, inside in parts if inside.any()]

    if ctx.stages:
        steady_spans = tuple(span for span in ctx.steady_spans if span.stage is not None)
        parts = within(steady_spans) or within(ctx.stage_spans)
    else:
        in_steady = np.zeros(len(frame), dtype=bool)
        for _, inside in within(ctx.steady_spans):
            in_steady |= inside
        parts = [(None, in_steady)] if in_steady.any() else []
    if not parts:
        parts = [(None, np.ones(len(frame), dtype=bool))]
    worst_fluct: float | None = None
    worst_cv: float | None = None
    worst_stage: str | None = None
    for stage, inside in parts:
        part = frame[inside]
        keys = [part[c].astype("string").fillna("") for c in cols] or [np.zeros(len(part))]
        for _, group in part.groupby(keys, dropna=False):
            used = group["mem_used_mib"].to_numpy(dtype=float)
            mean = float(used.mean())
            if mean <= 0:
                continue
            fluct = float((used.max() - used.min()) / mean)
            if worst_fluct is None or fluct > worst_fluct:
                worst_fluct, worst_stage = fluct, stage
            value = cv(used)
            if value is not None:
                worst_cv = value if worst_cv is None else max(worst_cv, value)
    return worst_fluct, worst_cv, worst_stage


def latency_drift(ctx: StageContext) -> float | None:
    """E2E p95 of the last quarter of steady windows / that of the first quarter - 1 (module docstring)."""
    steady = np.flatnonzero(ctx.steady)
    if steady.size < 4:
        return None
    quarter = max(1, steady.size // 4)
    w_done = ctx.ok["w_done"].to_numpy()
    e2e = ctx.ok["e2e_s"].to_numpy(dtype=float)
    first = e2e[np.isin(w_done, steady[:quarter])]
    last = e2e[np.isin(w_done, steady[-quarter:])]
    early, late = quantile_or_none(first, 0.95), quantile_or_none(last, 0.95)
    if early is None or late is None or early <= 0:
        return None
    return late / early - 1


def stability_stage(ctx: StageContext, analysis: Analysis) -> Analysis:
    """Error rates, per-class error statistics and variability coefficients (module docstring)."""
    frame = ctx.requests
    total = len(frame)
    ok = frame["ok"].to_numpy(dtype=bool)
    failed = int((~ok).sum())
    steady_ok = ok[np.isin(frame["w_send"].to_numpy(), np.flatnonzero(ctx.steady))]
    fluctuation, mem_cv, mem_stage = gpu_memory_fluctuation(ctx)
    variability = Variability(
        e2e_cv=cv_of(analysis.latency.e2e_s),
        ttft_cv=cv_of(analysis.latency.ttft_s),
        tpot_cv=cv_of(analysis.latency.tpot_s),
        qps_cv=analysis.capacity.qps.cv,
        gpu_mem_fluctuation=fluctuation,
        gpu_mem_cv=mem_cv,
        gpu_mem_fluctuation_stage=mem_stage,
        latency_drift=latency_drift(ctx),
    )
    stability = StabilityResult(
        error_rate=failed / total if total else None,
        error_rate_steady=(float((~steady_ok).mean()) if len(steady_ok) else None),
        variability=variability,
    )
    return dataclasses.replace(analysis, stability=stability, errors=error_classes(ctx))
