"""Reading GuideLLM's ``benchmarks.json`` (see the package docstring)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from recorders.errors import ABORTED, classify
from recorders.importers.base import ImportContext, Record, json_file, need, sub_object
from traceanalyzer.errors import BadInputError

SOURCE = "guidellm"
_STATUS = re.compile(r"'(\d{3}) [A-Za-z]")
#: Statistics of a ``DistributionSummary`` kept as parity rows (``percentiles`` flattened).
STATS = ("mean", "median", "std_dev", "min", "max")


def _ns(seconds: Any) -> int | None:
    return (
        round(float(seconds) * 1e9)
        if isinstance(seconds, int | float) and not isinstance(seconds, bool)
        else None
    )


def summary_metrics(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``metrics.<name>.successful`` distributions as ``{name, stat, unit, value}`` rows, plus request
    totals."""
    out: list[dict[str, Any]] = []
    totals = metrics.get("request_totals")
    if isinstance(totals, dict):
        for status in ("successful", "errored", "incomplete", "total"):
            if isinstance(totals.get(status), int):
                out.append(
                    {"name": "request_totals", "stat": status, "unit": "requests", "value": totals[status]}
                )
    for name, dist in metrics.items():
        part = dist.get("successful") if isinstance(dist, dict) else None
        if not isinstance(part, dict) or "mean" not in part:
            continue
        unit = "ms" if name.endswith("_ms") else "s" if name == "request_latency" else ""
        for stat in STATS:
            if isinstance(part.get(stat), int | float):
                out.append({"name": name, "stat": stat, "unit": unit, "value": part[stat]})
        for stat, value in (part.get("percentiles") or {}).items():
            if isinstance(value, int | float):
                out.append({"name": name, "stat": stat, "unit": unit, "value": value})
    return out


def _request(row: dict[str, Any], status: str, where: str, path: Path, stage: str, label: str) -> Record:
    info = need(row.get("info"), dict, f"{where}.info", path)
    timings = need(info.get("timings"), dict, f"{where}.info.timings", path)
    start = _ns(row.get("request_start_time") or timings.get("request_start"))
    end = _ns(row.get("request_end_time") or timings.get("request_end"))
    if end is None:
        raise BadInputError(f"field '{where}.request_end_time' must be a number, got nothing", path=str(path))
    first = _ns(timings.get("first_token_iteration"))
    error = None
    http_status: int | None = 200 if status == "successful" else None
    if status != "successful":
        message = str(info.get("error") or status)
        found = _STATUS.search(message)
        http_status = int(found.group(1)) if found else None
        cls = ABORTED if status == "incomplete" else classify(http_status, message)
        error = {"class": cls, "status": http_status, "message": message[:2000]}
    output = row.get("output")
    return {
        "type": "request",
        "id": str(need(row.get("request_id"), str, f"{where}.request_id", path)),
        "response_id": row.get("response_id"),
        "api": "chat",
        "stage": stage,
        "prompt_id": info.get("conversation_id"),
        "prompt_tokens": row.get("prompt_tokens"),
        "t_send": start if start is not None else end,
        "t_first": first,
        "t_end": end,
        "chunks_us": [],
        "output_tokens": row.get("output_tokens"),
        "tokens_source": "usage" if row.get("output_tokens") is not None else None,
        "status": http_status,
        "error": error,
        "text": output if isinstance(output, str) else None,
        "warmup": None,
        "conversation_id": info.get("conversation_id"),
        "turn_index": info.get("turn_index"),
        "peer": {
            "tool": SOURCE,
            "benchmark": label,
            "status": info.get("status"),
            "last_token_iteration": timings.get("last_token_iteration"),
            "first_output_token_iteration": timings.get("first_output_token_iteration"),
            "token_iterations": timings.get("token_iterations"),
            "time_to_first_token_ms": row.get("time_to_first_token_ms"),
            "inter_token_latency_ms": row.get("inter_token_latency_ms"),
            "time_per_output_token_ms": row.get("time_per_output_token_ms"),
            "request_latency": row.get("request_latency"),
        },
    }


def read(files: list[Path], ctx: ImportContext) -> Iterator[Record]:
    """Trace records of GuideLLM reports (every benchmark of each)."""
    for path in files:
        report = json_file(path)
        if not isinstance(report, dict):
            raise BadInputError("not a JSON object", path=str(path))
        meta = need(report.get("metadata"), dict, "metadata", path)
        if meta.get("version") != 2:
            raise BadInputError(
                f"field 'metadata.version' is {meta.get('version')!r}; this importer reads report schema 2",
                path=str(path),
            )
        version = str(meta.get("guidellm_version") or "")
        config = report.get("config")
        if isinstance(config, dict):
            ctx.config.update(config)
        benchmarks = need(report.get("benchmarks"), list, "benchmarks", path)
        for index, bench in enumerate(benchmarks):
            yield from _benchmark(bench, index, path, version, ctx)


def _label(bench: Mapping[str, Any], index: int) -> str:
    strategy = (bench.get("config") or {}).get("strategy") if isinstance(bench.get("config"), dict) else None
    if isinstance(strategy, dict):
        kind = strategy.get("type_") or strategy.get("kind") or ""
        rate = strategy.get("rate") or strategy.get("streams")
        return f"{kind}@{rate:.2f}" if isinstance(rate, int | float) else str(kind or f"benchmark {index}")
    return f"benchmark {index}"


def _benchmark(bench: Any, index: int, path: Path, version: str, ctx: ImportContext) -> Iterator[Record]:
    where = f"benchmarks[{index}]"
    need(bench, dict, where, path)
    stage = f"b{index}"
    label = _label(bench, index)
    requests = need(bench.get("requests"), dict, f"{where}.requests", path)
    metrics = need(bench.get("metrics"), dict, f"{where}.metrics", path)
    sched = sub_object(bench, "scheduler_metrics")
    ids: list[str] = []
    last_tokens: list[int | None] = []
    for status in ("successful", "incomplete", "errored"):
        for i, row in enumerate(requests.get(status) or []):
            at = f"{where}.requests.{status}[{i}]"
            rec = _request(need(row, dict, at, path), status, at, path, stage, label)
            ids.append(rec["id"])
            last_tokens.append(_ns(rec["peer"]["last_token_iteration"]))
            yield rec
    totals = sub_object(metrics, "request_totals")
    kept = sum(len(requests.get(s) or []) for s in ("successful", "incomplete", "errored"))
    made = (
        (sched.get("requests_made") or {}).get("total")
        if isinstance(sched.get("requests_made"), dict)
        else None
    )
    notes = []
    if isinstance(made, int) and made != kept:
        notes.append(
            f"the report keeps {kept} of {made} requests (sampled): percentiles cannot be rebuilt exactly"
        )
    yield {
        "type": "totals",
        "source": SOURCE,
        "name": label,
        "requests": made if isinstance(made, int) else kept,
        "failures": int(totals.get("errored") or 0),
        "detail": {
            "peer": {
                "tool": SOURCE,
                "version": version,
                "files": [path.name],
                "run": ctx.run,
                "stage": stage,
                "label": label,
                "requests": kept,
                "metrics": summary_metrics(metrics),
                "notes": notes,
                "context": {
                    "window": {
                        "start_ns": _ns(sched.get("measure_start_time")),
                        "end_ns": _ns(sched.get("measure_end_time")),
                    },
                    # Not in the trace schema, needed by GuideLLM's ITL and TPOT: the last token's time.
                    "per_request": {"id": ids, "last_token_ns": last_tokens},
                },
            }
        },
    }
