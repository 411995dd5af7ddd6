"""``Analysis -> summary@1``: the JSON that ``traceanalyzer analyze --json`` writes (DESIGN section 7).

Key names and meanings are a contract (``docs/summary.schema.json`` checks the shape): durations in seconds,
instants in seconds since the capture's first ``t_send``, rates per second, shares as fractions. Values that
were not measured are ``null``. Keys beyond the contract (``stages``, ``notes``, ...) are additions only.
This module formats; it computes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from traceanalyzer.model import Analysis, BreakdownRow, ErrorClassStats, LoadPoint, Stats

SUMMARY_SCHEMA = "traceanalyzer/summary@1"
BREAKDOWN_DIMENSIONS: tuple[str, ...] = ("model", "scenario", "host")
"""The dimensions of the contract's ``breakdown`` (stages are under ``stages``)."""


def stats_dict(stats: Stats) -> dict[str, Any]:
    return {
        "count": stats.count,
        "mean": stats.mean,
        "std": stats.std,
        "min": stats.min,
        "p50": stats.p50,
        "p90": stats.p90,
        "p95": stats.p95,
        "p99": stats.p99,
        "p99_9": stats.p99_9,
        "max": stats.max,
    }


def _point(point: LoadPoint | None) -> dict[str, Any] | None:
    if point is None:
        return None
    return {
        "stage": point.stage,
        "in_flight": point.in_flight,
        "qps": point.qps,
        "users": point.users,
        "offered_qps": point.offered_qps,
    }


def _error(stats: ErrorClassStats) -> dict[str, Any]:
    first = stats.first_failure
    return {
        "count": stats.count,
        "first_seen": stats.first_seen_s,
        "last_seen": stats.last_seen_s,
        "onset": stats.onset_s,
        "rate": stats.rate,
        "load_at_onset": _point(stats.load_at_onset),
        "statuses": dict(stats.statuses),
        "first_request": None if first is None else {"id": first.id, "response_id": first.response_id},
    }


def _breakdown_row(row: BreakdownRow) -> dict[str, Any]:
    return {
        "requests": row.requests,
        "ttft_p50": row.ttft_p50_s,
        "ttft_p95": row.ttft_p95_s,
        "e2e_p95": row.e2e_p95_s,
        "error_rate": row.error_rate,
        "ok": row.ok,
        "failed": row.failed,
        "tpot_p95": row.tpot_p95_s,
        "e2e_p50": row.e2e_p50_s,
    }


def _breakdown(breakdown: Mapping[str, Mapping[str, BreakdownRow]]) -> dict[str, Any]:
    out = {
        dim: {value: _breakdown_row(row) for value, row in breakdown.get(dim, {}).items()}
        for dim in BREAKDOWN_DIMENSIONS
    }
    if "stream" in breakdown:  # only when some requests were not streamed
        out["stream"] = {value: _breakdown_row(row) for value, row in breakdown["stream"].items()}
    return out


def summary(analysis: Analysis) -> dict[str, Any]:
    """The summary@1 dict of an analysis."""
    lat, cap, stab, res = analysis.latency, analysis.capacity, analysis.stability, analysis.resources
    var = stab.variability
    cons = analysis.consistency
    inv = analysis.inventory
    return {
        "schema": SUMMARY_SCHEMA,
        "tool_version": analysis.tool_version,
        "requests": {
            "total": analysis.requests.total,
            "ok": analysis.requests.ok,
            "failed": analysis.requests.failed,
        },
        "duration_s": analysis.capture.duration_s,
        "window_s": analysis.timeseries.window_s,
        "soak": analysis.capture.soak,
        "ttft": stats_dict(lat.ttft_s),
        "tpot": stats_dict(lat.tpot_s),
        "itl": stats_dict(lat.itl_s),
        "e2e": stats_dict(lat.e2e_s),
        "qps": {"mean": cap.qps.mean, "peak": cap.qps.peak, "stable": cap.qps.stable, "cv": cap.qps.cv},
        "offered_qps": {"mean": cap.offered_qps_mean},
        "tps": {
            "cluster_mean": cap.tps_cluster_mean,
            "cluster_peak": cap.tps_cluster_peak,
            "per_request": stats_dict(cap.tps_per_request),
            "decode_speed": stats_dict(cap.decode_speed),
        },
        "goodput_rps": cap.goodput_rps,
        "slo_attainment": cap.slo_attainment,
        "error_rate": stab.error_rate,
        "capacity": {
            "knee": _point(cap.knee),
            "max_sustainable": _point(cap.max_sustainable),
            "level_kind": cap.level_kind,
        },
        "stages": [
            {
                "name": lv.name,
                "kind": lv.kind,
                "start": lv.start_s,
                "end": lv.end_s,
                "in_flight": lv.in_flight,
                "users": lv.users,
                "requests": lv.requests,
                "error_rate": lv.error_rate,
                "offered_qps": lv.offered_qps,
                "qps": lv.qps,
                "tps": lv.tps,
                "ttft_p95": lv.ttft_p95_s,
                "tpot_p95": lv.tpot_p95_s,
                "e2e_p95": lv.e2e_p95_s,
                "slo_held": lv.slo_held,
            }
            for lv in cap.levels
        ],
        "errors": {cls: _error(stats) for cls, stats in analysis.errors.items()},
        "error_sequence": list(analysis.error_sequence),
        "first_strike": analysis.first_strike.error_class if analysis.first_strike else None,
        "first_strike_explanation": analysis.first_strike.explanation if analysis.first_strike else None,
        "variability": {
            "e2e_cv": var.e2e_cv,
            "ttft_cv": var.ttft_cv,
            "tpot_cv": var.tpot_cv,
            "qps_cv": var.qps_cv,
            "gpu_mem_fluctuation": var.gpu_mem_fluctuation,
            "gpu_mem_cv": var.gpu_mem_cv,
            "gpu_mem_fluctuation_stage": var.gpu_mem_fluctuation_stage,
            "latency_drift": var.latency_drift,
        },
        "resources": {
            "gpu_util_mean": res.gpu_util_mean,
            "gpu_mem_used_max_mib": res.gpu_mem_used_max_mib,
            "cpu_pct_mean": res.cpu_pct_mean,
            "host_mem_used_max_mib": res.host_mem_used_max_mib,
            "queue_waiting_max": res.queue_waiting_max,
            "kv_cache_pct_max": res.kv_cache_pct_max,
        },
        "findings": [
            {
                "rule": f.rule,
                "severity": f.severity,
                "start": f.start_s,
                "end": f.end_s,
                "message": f.message,
                "evidence": dict(f.evidence),
            }
            for f in analysis.findings
        ],
        "consistency": None if cons is None else cons.to_summary(),
        "robustness": {scenario: r.to_summary() for scenario, r in analysis.robustness.items()},
        "slo": [
            {
                "name": s.name,
                "threshold": s.threshold,
                "value": s.value,
                "pass": s.passed,
                "comparison": s.comparison,
            }
            for s in analysis.slo
            if s.passed is not None
        ],
        "breakdown": _breakdown(analysis.breakdown),
        "conversations": None if analysis.conversations is None else analysis.conversations.to_summary(),
        "inventory": {
            "files": [{"path": f.path, "records": f.records, "skipped": f.skipped} for f in inv.files],
            "skipped_lines": inv.skipped_lines,
            "unknown_types": dict(inv.unknown_types),
            "duplicate_request_ids": inv.duplicate_request_ids,
        },
        "notes": [{"section": n.section, "reason": n.reason} for n in analysis.notes],
        "parity": analysis.parity.to_summary(),
    }


def summary_json(analysis: Analysis, *, indent: int | None = 2) -> str:
    """The summary as JSON text (strict: no NaN)."""
    return json.dumps(summary(analysis), indent=indent, allow_nan=False, ensure_ascii=False) + "\n"
