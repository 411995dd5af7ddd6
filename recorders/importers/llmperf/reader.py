"""Reading llmperf's results files (see the package docstring)."""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from recorders.errors import classify
from recorders.importers.base import ImportContext, Record, json_file, need
from traceanalyzer.errors import BadInputError, UsageError

SOURCE = "llmperf"
RESPONSES = "_individual_responses.json"
SUMMARY = "_summary.json"

#: ``results_{metric}_{stat}`` of the summary's distributions (``metrics_summary``).
_DISTRIBUTION = re.compile(r"^(results_\w+?)_(quantiles_p\d+|mean|min|max|stddev)$")
_UNITS = (
    ("token_per_s", "tokens/s"),
    ("_per_min", "requests/min"),
    ("tokens", "tokens"),
    ("_s", "s"),
    ("error_rate", ""),
)


def _number(value: Any) -> float | None:
    """A finite number, also from the text llmperf writes for NumPy integers (``json.dump(default=str)``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _unit(name: str) -> str:
    return next((unit for end, unit in _UNITS if name.endswith(end)), "requests")


def summary_metrics(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The summary's ``results_*`` numbers as ``{name, stat, unit, value}`` rows: a distribution key
    ``results_ttft_s_quantiles_p50`` is name ``results_ttft_s``, stat ``quantiles_p50``; any other is stat
    ``value``."""
    out: list[dict[str, Any]] = []
    for key, raw in summary.items():
        value = _number(raw)
        if not key.startswith("results_") or value is None:
            continue
        found = _DISTRIBUTION.match(key)
        name, stat = (found.group(1), found.group(2)) if found else (key, "value")
        out.append({"name": name, "stat": stat, "unit": _unit(name), "value": value})
    return out


def _entry(entry: Any, index: int, path: Path) -> dict[str, Any]:
    """One response, its fields checked (file and field named on a wrong one)."""
    where = f"[{index}]"
    need(entry, dict, where, path)
    code = entry.get("error_code")
    if code is not None:
        need(code, (int, str), f"{where}.error_code", path)
    for key in (
        "ttft_s",
        "end_to_end_latency_s",
        "inter_token_latency_s",
        "request_output_throughput_token_per_s",
    ):
        need(entry.get(key), (int, float), f"{where}.{key}", path)
    for key in ("number_input_tokens", "number_output_tokens"):
        need(entry.get(key), int, f"{where}.{key}", path)
    return entry


def _status(code: Any) -> int | None:
    """The HTTP status in llmperf's ``error_code`` (200 for none); ``None`` for -1 (an exception without a
    response) or anything else."""
    if code is None:
        return 200
    number = _number(code)
    return int(number) if number is not None and number.is_integer() and 100 <= number <= 599 else None


def _busy_ns(entry: Mapping[str, Any]) -> int:
    """How long the request held its thread, as far as llmperf measured it (a failure has no end: 0, or its
    first text)."""
    return max(round(float(entry["end_to_end_latency_s"]) * 1e9), round(float(entry["ttft_s"]) * 1e9), 0)


def closed_loop(busy_ns: list[int], threads: int) -> list[int]:
    """Send offsets (ns from the first send) of requests replayed, in order, on ``threads`` closed loops
    without gaps: each is sent when the first thread frees (llmperf's own loop, less its overheads)."""
    free = [0] * max(1, threads)
    sends: list[int] = []
    for busy in busy_ns:
        at = heapq.heappop(free)
        sends.append(at)
        heapq.heappush(free, at + busy)
    return sends


def _request(entry: Mapping[str, Any], index: int, path: Path, t_send: int, model: str | None) -> Record:
    code = entry.get("error_code")
    status = _status(code)
    ttft_ns = round(float(entry["ttft_s"]) * 1e9)
    t_first = t_send + ttft_ns if ttft_ns > 0 else None
    error = None
    if code is not None:
        message = str(entry.get("error_msg") or "")
        error = {
            "class": classify(status, message, mid_stream=t_first is not None),
            "status": status,
            "message": f"error_code {code}: {message}"[:2000],
        }
    return {
        "type": "request",
        "id": f"{path.name.removesuffix(RESPONSES)}-{index}",
        "model": model,
        "prompt_tokens": entry["number_input_tokens"],
        "t_send": t_send,
        "t_first": t_first,
        "t_end": t_send + _busy_ns(entry),
        "chunks_us": [],
        "output_tokens": entry["number_output_tokens"],
        "tokens_source": "tokenizer",
        "status": status,
        "error": error,
        "peer": {
            "tool": SOURCE,
            "index": index,
            "send_time": "laid out",
            **{
                key: entry.get(key)
                for key in (
                    "error_code",
                    "ttft_s",
                    "end_to_end_latency_s",
                    "inter_token_latency_s",
                    "request_output_throughput_token_per_s",
                    "number_total_tokens",
                )
            },
        },
    }


def _pick(files: list[Path]) -> tuple[Path, Path | None]:
    """The one run's responses file and its summary (same name prefix), if any."""
    responses = [f for f in files if f.name.endswith(RESPONSES)]
    if not responses:
        raise BadInputError(
            f"an llmperf results directory without *{RESPONSES} (the per-request file)", path=str(files[0])
        )
    if len(responses) > 1:
        names = ", ".join(f.name for f in responses[:4])
        raise UsageError(
            f"{len(responses)} llmperf runs ({names}): import one run at a time (name its two files)"
        )
    path = responses[0]
    prefix = path.name.removesuffix(RESPONSES)
    summary = next((f for f in files if f.name == f"{prefix}{SUMMARY}"), None)
    return path, summary


def _duration_s(summary: Mapping[str, Any]) -> float | None:
    """llmperf's test duration (threads started to joined), which it does not store: back from
    ``num_completed_requests_per_min = completed / duration * 60``."""
    done = _number(summary.get("results_num_completed_requests"))
    per_min = _number(summary.get("results_num_completed_requests_per_min"))
    return done / per_min * 60.0 if done and per_min else None


def read(files: list[Path], ctx: ImportContext) -> Iterator[Record]:
    """Trace records of one llmperf run (its two results files)."""
    path, summary_path = _pick(files)
    entries = json_file(path)
    need(entries, list, "(top level)", path)
    if not entries:
        raise BadInputError("no requests", path=str(path))
    checked = [_entry(e, i, path) for i, e in enumerate(entries)]
    summary: dict[str, Any] = {}
    if summary_path is not None:
        summary = need(json_file(summary_path), dict, "(top level)", summary_path)
        ctx.config.update({k: v for k, v in summary.items() if not k.startswith("results_")})
    threads = summary.get("num_concurrent_requests")
    threads = threads if isinstance(threads, int) and threads > 0 else 1
    busy = [_busy_ns(e) for e in checked]
    sends = closed_loop(busy, threads)
    span_ns = max(s + b for s, b in zip(sends, busy, strict=True))
    stamp = summary.get("timestamp")
    if ctx.start_ns is not None:
        anchor, origin = ctx.start_ns, "the first send at --start"
    elif isinstance(stamp, int) and not isinstance(stamp, bool):
        anchor, origin = stamp * 10**9 - span_ns, "the last end at the summary's timestamp (whole seconds)"
    else:
        anchor, origin = path.stat().st_mtime_ns - span_ns, "the last end at the file's modification time"
    duration = _duration_s(summary)
    took = f" (llmperf's own test took {duration:.3f} s)" if duration is not None else ""
    ctx.notes.append(
        f"{path.name}: llmperf records durations only, no send times: the requests are laid out as its "
        f"{threads} closed loop(s) would send them without gaps, in the file's order, over "
        f"{span_ns / 1e9:.3f} s{took}, with {origin} (pass --start to place the first send); rates and "
        "in-flight counts over time follow from that layout, not from the run"
    )
    model = summary.get("model") if isinstance(summary.get("model"), str) else None
    ids: list[str] = []
    for index, entry in enumerate(checked):
        record = _request(entry, index, path, anchor + sends[index], model)
        ids.append(record["id"])
        yield record
    if summary_path is None:
        ctx.notes.append(f"no {path.name.removesuffix(RESPONSES)}{SUMMARY}: no parity table")
        return
    started = _number(summary.get("results_num_requests_started"))
    errors = _number(summary.get("results_number_errors"))
    yield {
        "type": "totals",
        "source": SOURCE,
        "name": "summary",
        "requests": int(started) if started is not None else len(entries),
        "failures": int(errors or 0),
        "detail": {
            "peer": {
                "tool": SOURCE,
                "version": str(summary.get("version") or ""),
                "files": sorted({path.name, summary_path.name}),
                "run": ctx.run,
                "stage": None,
                "requests": len(entries),
                "metrics": summary_metrics(summary),
                "context": {
                    "threads": threads,
                    "duration_s": duration,
                    # Not in the trace schema, needed by llmperf's "inter token latency": its own value.
                    "per_request": {
                        "id": ids,
                        "inter_token_latency_s": [float(e["inter_token_latency_s"]) for e in checked],
                    },
                },
            }
        },
    }
