"""An analysis as JSON and back (``Analysis.to_json()`` / ``Analysis.from_json()``).

Two documents are read back:

- ``to_json(full=True)``: the summary@1 keys plus ``analysis``, every field of the result
  (``traceanalyzer/analysis@1``, :meth:`Analysis.to_dict`); rebuilt generically from the dataclass type hints
  (:func:`traceanalyzer.model.analysis_from_dict`), so the copy equals the original and renders the same.
  A bare analysis@1 document is read the same way.
- a plain summary@1 (``traceanalyzer analyze --json``): :func:`analysis_from_summary` restores every field the
  summary holds, so ``to_json()`` of the copy is the summary read, and two copies can be compared. What the
  summary does not hold stays empty: per-window series (only ``window_s``), distributions, slowest requests,
  the capture's start time, runs, events and steady-state spans, options other than ``window_s``, GPU
  summaries, leading indicators and episodes of error classes, the first-strike category and evidence, SLOs
  that were not measured, and the inventory's per-file problems and warnings. Derived exactly from what it
  holds: models, scenarios and hosts (breakdown keys), stages (stage levels), each level's ok / failed
  (requests x error rate), the good requests (attainment x total). A class's first failed request keeps its
  ids only (its times are the class's ``first_seen``).

Neither keeps per-request data: ``requests_frame()`` needs an analysis made from the capture.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from traceanalyzer.conversation_results import conversations_from_summary
from traceanalyzer.errors import BadInputError
from traceanalyzer.model import (
    ANALYSIS_SCHEMA,
    Analysis,
    AnalysisOptions,
    BreakdownRow,
    CapacityResult,
    CaptureInfo,
    ErrorClassStats,
    FileRecord,
    Finding,
    FirstStrike,
    InventoryInfo,
    LatencyResult,
    LoadLevel,
    LoadPoint,
    Note,
    QpsStats,
    RequestCounts,
    RequestRef,
    ResourceSummary,
    SloResult,
    StabilityResult,
    Stats,
    Variability,
    WindowSeries,
    analysis_from_dict,
)
from traceanalyzer.parity.results import parity_from_summary
from traceanalyzer.summary import SUMMARY_SCHEMA, summary

FULL_KEY = "analysis"
"""The key ``to_json(full=True)`` adds to the summary: the whole analysis@1 document."""


def to_json(analysis: Analysis, *, full: bool = False, indent: int | None = 2) -> str:
    """summary@1 text; with ``full``, plus the analysis@1 document under :data:`FULL_KEY`."""
    data = summary(analysis)
    if full:
        data[FULL_KEY] = analysis.to_dict()
    return json.dumps(data, indent=indent, allow_nan=False, ensure_ascii=False) + "\n"


def from_json(source: str | bytes | os.PathLike[str]) -> Analysis:
    """An analysis from JSON text or a file: a full document exactly, a summary@1 as far as it goes."""
    where = "JSON text"
    if isinstance(source, bytes):
        text = source.decode("utf-8")
    elif isinstance(source, str) and source.lstrip().startswith("{"):
        text = source
    else:
        where = os.fspath(source)
        try:
            text = Path(where).read_text(encoding="utf-8")
        except OSError as exc:
            raise BadInputError(f"cannot read it: {exc.strerror or exc}", path=where) from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BadInputError(f"not JSON: {exc}", path=where) from exc
    if not isinstance(data, dict):
        raise BadInputError("not a traceanalyzer summary or analysis (not a JSON object)", path=where)
    try:
        if data.get("schema") == ANALYSIS_SCHEMA:
            return analysis_from_dict(data)
        if isinstance(data.get(FULL_KEY), dict) and data[FULL_KEY].get("schema") == ANALYSIS_SCHEMA:
            return analysis_from_dict(data[FULL_KEY])
        if data.get("schema") == SUMMARY_SCHEMA:
            return analysis_from_summary(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadInputError(
            f"a {data.get('schema')} document with a missing or bad key: {exc}", path=where
        ) from exc
    raise BadInputError(
        f"schema {data.get('schema')!r}: expected {SUMMARY_SCHEMA} or {ANALYSIS_SCHEMA}", path=where
    )


# -- summary@1 -> Analysis ---------------------------------------------------------------------------------
def _stats(data: Mapping[str, Any]) -> Stats:
    return Stats(**data)


def _point(data: Mapping[str, Any] | None) -> LoadPoint | None:
    return None if data is None else LoadPoint(**data)


def _level(data: Mapping[str, Any]) -> LoadLevel:
    requests, rate = int(data["requests"]), data["error_rate"]
    failed = 0 if rate is None else round(rate * requests)
    return LoadLevel(
        name=data["name"],
        kind=data["kind"],
        start_s=data["start"],
        end_s=data["end"],
        in_flight=data["in_flight"],
        users=data["users"],
        requests=requests,
        ok=requests - failed,
        failed=failed,
        error_rate=rate,
        offered_qps=data["offered_qps"],
        qps=data["qps"],
        tps=data["tps"],
        ttft_p95_s=data["ttft_p95"],
        tpot_p95_s=data["tpot_p95"],
        e2e_p95_s=data["e2e_p95"],
        slo_held=data["slo_held"],
    )


def _error(cls: str, data: Mapping[str, Any]) -> ErrorClassStats:
    first = data["first_request"]
    ref = None
    if first is not None:
        ref = RequestRef(
            id=first["id"],
            response_id=first["response_id"],
            host=None,
            model=None,
            scenario=None,
            stage=None,
            t_send_s=data["first_seen"],
            t_end_s=data["first_seen"],
            ttft_s=None,
            e2e_s=None,
            output_tokens=None,
            status=None,
            error_class=cls,
        )
    return ErrorClassStats(
        count=data["count"],
        first_seen_s=data["first_seen"],
        last_seen_s=data["last_seen"],
        rate=data["rate"],
        onset_s=data["onset"],
        load_at_onset=_point(data["load_at_onset"]),
        first_failure=ref,
        statuses=dict(data["statuses"]),
    )


def _breakdown_row(data: Mapping[str, Any]) -> BreakdownRow:
    return BreakdownRow(
        requests=data["requests"],
        ok=data["ok"],
        failed=data["failed"],
        error_rate=data["error_rate"],
        ttft_p50_s=data["ttft_p50"],
        ttft_p95_s=data["ttft_p95"],
        tpot_p95_s=data["tpot_p95"],
        e2e_p50_s=data["e2e_p50"],
        e2e_p95_s=data["e2e_p95"],
    )


def analysis_from_summary(data: Mapping[str, Any]) -> Analysis:
    """An :class:`Analysis` holding what a summary@1 holds (module docstring); ``to_json()`` gives it back."""
    from traceanalyzer.consistency.summary_read import consistency_from_summary, robustness_from_summary

    total = int(data["requests"]["total"])
    capacity, qps, tps = data["capacity"], data["qps"], data["tps"]
    attainment = data["slo_attainment"]
    breakdown = {
        dim: {value: _breakdown_row(row) for value, row in rows.items()}
        for dim, rows in data["breakdown"].items()
    }
    errors = {cls: _error(cls, stats) for cls, stats in data["errors"].items()}
    strike = data["first_strike"]
    levels = tuple(_level(level) for level in data["stages"])
    inventory = data["inventory"]
    return Analysis(
        capture=CaptureInfo(
            t0_ns=0,
            duration_s=data["duration_s"],
            runs=(),
            hosts=tuple(sorted(breakdown.get("host", {}))),
            models=tuple(sorted(breakdown.get("model", {}))),
            scenarios=tuple(sorted(breakdown.get("scenario", {}))),
            stages=tuple(level.name for level in levels if level.kind == "stage"),
            soak=data["soak"],
            steady=(),
        ),
        options=AnalysisOptions(window_s=data["window_s"]),
        requests=RequestCounts(**data["requests"]),
        latency=LatencyResult(
            ttft_s=_stats(data["ttft"]),
            tpot_s=_stats(data["tpot"]),
            itl_s=_stats(data["itl"]),
            e2e_s=_stats(data["e2e"]),
        ),
        capacity=CapacityResult(
            qps=QpsStats(**qps),
            offered_qps_mean=data["offered_qps"]["mean"],
            tps_cluster_mean=tps["cluster_mean"],
            tps_cluster_peak=tps["cluster_peak"],
            tps_per_request=_stats(tps["per_request"]),
            decode_speed=_stats(tps["decode_speed"]),
            goodput_rps=data["goodput_rps"],
            slo_attainment=attainment,
            good_requests=0 if attainment is None else round(attainment * total),
            levels=levels,
            level_kind=capacity["level_kind"],
            knee=_point(capacity["knee"]),
            max_sustainable=_point(capacity["max_sustainable"]),
        ),
        stability=StabilityResult(
            error_rate=data["error_rate"],
            error_rate_steady=None,
            variability=Variability(**data["variability"]),
        ),
        resources=ResourceSummary(**data["resources"]),
        timeseries=WindowSeries(window_s=data["window_s"]),
        breakdown=breakdown,
        errors=errors,
        error_sequence=tuple(data["error_sequence"]),
        first_strike=None
        if strike is None
        else FirstStrike(
            error_class=strike,
            onset_s=errors[strike].onset_s if strike in errors else None,
            category="",
            explanation=data["first_strike_explanation"] or "",
        ),
        findings=tuple(
            Finding(
                rule=f["rule"],
                severity=f["severity"],
                start_s=f["start"],
                end_s=f["end"],
                message=f["message"],
                evidence=dict(f["evidence"]),
            )
            for f in data["findings"]
        ),
        consistency=consistency_from_summary(data["consistency"]),
        conversations=conversations_from_summary(data.get("conversations")),
        parity=parity_from_summary(data.get("parity") or {}),
        robustness=robustness_from_summary(data["robustness"]),
        slo=tuple(
            SloResult(
                name=s["name"],
                threshold=s["threshold"],
                value=s["value"],
                passed=s["pass"],
                comparison=s["comparison"],
            )
            for s in data["slo"]
        ),
        inventory=InventoryInfo(
            files=tuple(
                FileRecord(path=f["path"], records=f["records"], skipped=f["skipped"])
                for f in inventory["files"]
            ),
            skipped_lines=inventory["skipped_lines"],
            unknown_types=dict(inventory["unknown_types"]),
            duplicate_request_ids=inventory["duplicate_request_ids"],
        ),
        notes=tuple(Note(n["section"], n["reason"]) for n in data.get("notes", [])),
        tool_version=data.get("tool_version", ""),
    )
