"""Reading inference-perf's lifecycle reports (see the package docstring)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from recorders.errors import classify
from recorders.importers.base import ImportContext, Record, json_file, need, sub_object
from traceanalyzer.errors import BadInputError

SOURCE = "inference-perf"
_HTTP = re.compile(r"\b(\d{3})\b")


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def summary_metrics(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The summary's numbers as ``{name, stat, unit, value}`` rows (latencies in seconds)."""
    out: list[dict[str, Any]] = []
    if _num(summary.get("benchmark_time_seconds")) is not None:
        out.append(
            {
                "name": "benchmark_time_seconds",
                "stat": "value",
                "unit": "s",
                "value": summary["benchmark_time_seconds"],
            }
        )
    successes = sub_object(summary, "successes")
    failures = sub_object(summary, "failures")
    for part, data in (("successes", successes), ("failures", failures)):
        if _num(data.get("count")) is not None:
            out.append({"name": f"{part}.count", "stat": "value", "unit": "requests", "value": data["count"]})
    for name, dist in (successes.get("latency") or {}).items():
        for stat, value in (dist or {}).items():
            if _num(value) is not None:
                out.append({"name": f"successes.latency.{name}", "stat": stat, "unit": "s", "value": value})
    for name, value in (successes.get("throughput") or {}).items():
        if _num(value) is not None:
            unit = "requests/s" if name == "requests_per_sec" else "tokens/s" if "tokens" in name else "1/s"
            out.append(
                {"name": f"successes.throughput.{name}", "stat": "value", "unit": unit, "value": value}
            )
    return out


def _chunks(times: list[float], start: float) -> tuple[list[int], list[int]]:
    """Chunk offsets (us) and tokens per chunk from per-token stamps (one stamp per token, chunk time)."""
    offsets: list[int] = []
    tokens: list[int] = []
    last: float | None = None
    for t in times:
        if last is not None and t == last:
            tokens[-1] += 1
            continue
        offsets.append(round((t - start) * 1e6))
        tokens.append(1)
        last = t
    return offsets, tokens


def _request(entry: Any, index: int, path: Path, anchor_ns: int, origin: float) -> Record:
    where = f"[{index}]"
    need(entry, dict, where, path)
    start = need(entry.get("start_time"), (int, float), f"{where}.start_time", path)
    end = need(entry.get("end_time"), (int, float), f"{where}.end_time", path)
    info = sub_object(entry, "info")
    resp = sub_object(info, "response_metrics")
    req = sub_object(info, "request_metrics")
    text_metrics = sub_object(req, "text")
    token_times = [float(t) for t in resp.get("output_token_times") or [] if _num(t) is not None]
    offsets, per_chunk = _chunks(token_times, float(start))
    t_send = anchor_ns + round((float(start) - origin) * 1e9)
    err = entry.get("error")
    error = None
    status: int | None = 200
    if isinstance(err, dict):
        kind, message = str(err.get("error_type") or ""), str(err.get("error_msg") or "")
        found = _HTTP.search(kind)
        status = int(found.group(1)) if found and "HTTP" in kind else None
        cls = classify(status, f"{kind} {message}", timed_out="Timeout" in kind)
        error = {"class": cls, "status": status, "message": f"{kind}: {message}"[:2000]}
    output_tokens = resp.get("output_tokens")
    record: Record = {
        "type": "request",
        "id": f"{path.stem}-{index}",
        "prompt_tokens": text_metrics.get("input_tokens"),
        "t_send": t_send,
        "t_first": t_send + offsets[0] * 1000 if offsets else None,
        "t_end": anchor_ns + round((float(end) - origin) * 1e9),
        "chunks_us": offsets,
        "output_tokens": output_tokens if isinstance(output_tokens, int) else None,
        "tokens_source": "tokenizer" if isinstance(output_tokens, int) else None,
        "status": status,
        "error": error,
        "peer": {
            "tool": SOURCE,
            "start_time": start,
            "end_time": end,
            "server_usage": resp.get("server_usage"),
            "lora_adapter": info.get("lora_adapter"),
        },
    }
    if per_chunk and any(n != 1 for n in per_chunk):
        record["chunk_tokens"] = per_chunk
    return record


def read(files: list[Path], ctx: ImportContext) -> Iterator[Record]:
    """Trace records of one inference-perf report directory."""
    per_request = [f for f in files if "per_request_lifecycle_metrics" in f.name]
    summaries = [f for f in files if f.name.startswith("summary_lifecycle_metrics")]
    if not per_request:
        raise BadInputError(
            "an inference-perf report without per_request_lifecycle_metrics.json (turn on "
            "report.request_lifecycle.per_request)",
            path=str(files[0]),
        )
    path = per_request[0]
    entries = json_file(path)
    need(entries, list, "(top level)", path)
    if not entries:
        raise BadInputError("no requests", path=str(path))
    starts = [
        need(e.get("start_time") if isinstance(e, dict) else None, (int, float), f"[{i}].start_time", path)
        for i, e in enumerate(entries)
    ]
    ends = [need(e.get("end_time"), (int, float), f"[{i}].end_time", path) for i, e in enumerate(entries)]
    origin = float(min(starts))
    if ctx.start_ns is not None:
        anchor = ctx.start_ns
    else:
        anchor = path.stat().st_mtime_ns - round((float(max(ends)) - origin) * 1e9)
        ctx.notes.append(
            f"{path.name}: times are on inference-perf's process clock; anchored so the last request "
            "ended at "
            "the file's modification time (pass --start to anchor them exactly)"
        )
    for index, entry in enumerate(entries):
        yield _request(entry, index, path, anchor, origin)
    if summaries:
        summary = json_file(summaries[0])
        need(summary, dict, "(top level)", summaries[0])
        successes = sub_object(summary, "successes")
        failures = sub_object(summary, "failures")
        n_ok = int(successes.get("count") or 0)
        n_failed = int(failures.get("count") or 0)
        yield {
            "type": "totals",
            "source": SOURCE,
            "name": "summary",
            "requests": n_ok + n_failed,
            "failures": n_failed,
            "detail": {
                "peer": {
                    "tool": SOURCE,
                    "version": ctx.config.get("tool_version", ""),
                    "files": sorted({f.name for f in files}),
                    "run": ctx.run,
                    "stage": None,
                    "requests": len(entries),
                    "metrics": summary_metrics(summary),
                }
            },
        }
    else:
        ctx.notes.append("no summary_lifecycle_metrics.json: no parity table")
