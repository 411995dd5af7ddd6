"""Reading EvalScope perf's result database and summaries (see the package docstring)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from recorders.errors import classify
from recorders.importers.base import ImportContext, Record, json_file, need
from traceanalyzer.errors import BadInputError

SOURCE = "evalscope"
_COLUMNS = (
    "start_time", "completed_time", "latency", "first_chunk_latency", "inter_token_latencies", "success",
    "prompt_tokens", "completion_tokens", "time_per_output_token", "request_id", "is_stream",
)  # fmt: skip


def _rows(path: Path) -> list[dict[str, Any]]:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BadInputError(f"not a readable SQLite database: {exc}", path=str(path)) from None
    try:
        cur = con.execute(f"SELECT rowid, {', '.join(_COLUMNS)} FROM result ORDER BY rowid")
        return [dict(zip(("rowid", *_COLUMNS), row, strict=True)) for row in cur.fetchall()]
    except sqlite3.Error as exc:
        raise BadInputError(f"table 'result' of EvalScope perf not readable: {exc}", path=str(path)) from None
    finally:
        con.close()


def summary_metrics(summary: dict[str, Any], percentiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``benchmark_summary.json`` values (stat ``value``) and ``benchmark_percentile.json`` cells (stat = the
    row's ``Percentiles`` label, ``min``, ``50%``, ``max`` ...)."""
    out = [
        {"name": key, "stat": "value", "unit": "", "value": value}
        for key, value in summary.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    for row in percentiles:
        label = row.get("Percentiles") if isinstance(row, dict) else None
        if not isinstance(label, str):
            continue
        for key, value in row.items():
            if key != "Percentiles" and isinstance(value, int | float) and not isinstance(value, bool):
                out.append({"name": key, "stat": label, "unit": "", "value": value})
    return out


def read(files: list[Path], ctx: ImportContext) -> Iterator[Record]:
    """Trace records of one EvalScope perf output directory."""
    dbs = [f for f in files if f.name.endswith(".db")]
    if not dbs:
        raise BadInputError("an EvalScope perf output without benchmark_data.db", path=str(files[0]))
    path = dbs[0]
    rows = _rows(path)
    if not rows:
        raise BadInputError("no requests in table 'result'", path=str(path))
    for row in rows:
        need(row["start_time"], (int, float), f"result row {row['rowid']}: start_time", path)
    origin = min(float(r["start_time"]) for r in rows)
    ends = [float(r["completed_time"]) for r in rows if isinstance(r["completed_time"], int | float)]
    if ctx.start_ns is not None:
        anchor = ctx.start_ns
    else:
        anchor = path.stat().st_mtime_ns - round((max(ends) - origin) * 1e9)
        ctx.notes.append(
            f"{path.name}: times are on EvalScope's process clock; anchored so the last request ended at the "
            "file's modification time (pass --start to anchor them exactly)"
        )
    for row in rows:
        yield _request(row, path, anchor, origin)
    summary_path = next((f for f in files if f.name == "benchmark_summary.json"), None)
    percentile_path = next((f for f in files if f.name == "benchmark_percentile.json"), None)
    if summary_path is None:
        ctx.notes.append("no benchmark_summary.json: no parity table")
        return
    summary = json_file(summary_path)
    need(summary, dict, "(top level)", summary_path)
    percentiles = json_file(percentile_path) if percentile_path else []
    n_failed = int(summary.get("Failed Requests") or 0)
    yield {
        "type": "totals",
        "source": SOURCE,
        "name": "summary",
        "requests": int(summary.get("Total Requests") or len(rows)),
        "failures": n_failed,
        "detail": {
            "peer": {
                "tool": SOURCE,
                "version": "",
                "files": sorted({f.name for f in files}),
                "run": ctx.run,
                "stage": None,
                "requests": len(rows),
                "metrics": summary_metrics(summary, percentiles if isinstance(percentiles, list) else []),
                "context": {"wall_start_s": origin},
            }
        },
    }


def _request(row: dict[str, Any], path: Path, anchor: int, origin: float) -> Record:
    where = f"result row {row['rowid']}"
    start = float(row["start_time"])
    t_send = anchor + round((start - origin) * 1e9)
    success = bool(row["success"])
    completed = row["completed_time"]
    t_end = (
        anchor + round((float(completed) - origin) * 1e9)
        if isinstance(completed, int | float) and completed >= start
        else t_send
    )
    try:
        gaps = json.loads(row["inter_token_latencies"] or "[]")
    except ValueError:
        raise BadInputError(f"{where}: inter_token_latencies is not a JSON list", path=str(path)) from None
    need(gaps, list, f"{where}: inter_token_latencies", path)
    offsets: list[int] = []
    first = row["first_chunk_latency"]
    if success and isinstance(first, int | float):
        at = float(first)
        offsets.append(round(at * 1e6))
        for gap in gaps:
            at += float(need(gap, (int, float), f"{where}: inter_token_latencies[]", path))
            offsets.append(round(at * 1e6))
    error = None
    if not success:
        # EvalScope keeps neither the status nor the error text in its database.
        error = {
            "class": classify(None, ""),
            "status": None,
            "message": "failed (EvalScope does not record why)",
        }
    return {
        "type": "request",
        "id": str(row["request_id"] or f"evalscope-{row['rowid']}"),
        "prompt_tokens": row["prompt_tokens"],
        "t_send": t_send,
        "t_first": t_send + round(float(first) * 1e9) if success and isinstance(first, int | float) else None,
        "t_end": t_end,
        "chunks_us": offsets,
        "output_tokens": row["completion_tokens"],
        "tokens_source": "usage" if row["completion_tokens"] is not None else None,
        "status": 200 if success else None,
        "error": error,
        "peer": {
            "tool": SOURCE,
            "rowid": row["rowid"],
            "start_time": row["start_time"],
            "completed_time": completed,
            "latency": row["latency"],
            "first_chunk_latency": first,
            "time_per_output_token": row["time_per_output_token"],
            "is_stream": bool(row["is_stream"]),
        },
    }
