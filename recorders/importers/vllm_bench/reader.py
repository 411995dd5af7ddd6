"""Reading a ``vllm bench serve`` result file (see the package docstring)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any

from recorders.errors import classify
from recorders.importers.base import ImportContext, Record, need
from traceanalyzer.errors import BadInputError

SOURCE = "vllm-bench"

#: The per-request arrays ``--save-detailed`` keeps (``latencies`` and ``queue_times`` are always kept).
ARRAYS = (
    "start_times",
    "ttfts",
    "latencies",
    "itls",
    "input_lens",
    "output_lens",
    "errors",
)
#: Other per-request arrays, read when present.
OPTIONAL_ARRAYS = ("queue_times", "generated_texts", "server_queue_times", "server_ttfts")
_PER_REQUEST = frozenset(ARRAYS + OPTIONAL_ARRAYS)
#: vLLM's summary numbers: ``{mean,median,std,pNN}_{metric}_ms`` and the run totals.
_STAT_KEY = re.compile(r"^(mean|median|std|p\d+(?:\.\d+)?)_([a-z0-9_]+)_ms$")
_UNITS = {
    "duration": "s",
    "completed": "requests",
    "failed": "requests",
    "total_input_tokens": "tokens",
    "total_output_tokens": "tokens",
    "request_throughput": "requests/s",
    "request_goodput": "requests/s",
    "output_throughput": "tokens/s",
    "total_token_throughput": "tokens/s",
    "max_output_tokens_per_s": "tokens/s",
    "max_concurrent_requests": "requests",
}
#: Run configuration keys written before the results (``main_async``), into ``meta.config``.
_SETUP = (
    "date",
    "endpoint_type",
    "backend",
    "label",
    "model_id",
    "tokenizer_id",
    "num_prompts",
    "request_rate",
    "burstiness",
    "max_concurrency",
    "ramp_up_strategy",
    "ramp_up_start_rps",
    "ramp_up_end_rps",
)
_REASONS = {status.phrase: int(status) for status in HTTPStatus}
_NO_CHUNK = "Never received a valid chunk"
_CHAT_BACKENDS = frozenset({"openai-chat"})
_COMPLETION_BACKENDS = frozenset({"openai", "vllm"})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def summary_metrics(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """vLLM's summary numbers as ``{name, stat: "value", unit, value}`` rows, ``name`` the file's key."""
    out: list[dict[str, Any]] = []
    for key, value in result.items():
        if key in _PER_REQUEST or key in _SETUP or not _is_number(value):
            continue
        unit = "ms" if _STAT_KEY.match(key) else _UNITS.get(key, "")
        out.append({"name": key, "stat": "value", "unit": unit, "value": value})
    return out


def error_from_text(message: str) -> tuple[int | None, dict[str, Any]]:
    """Status and error object of a failed request from vLLM's ``errors[i]`` text.

    vLLM keeps no status code: a non-200 answer is stored as its reason phrase (``Bad Request``), which names
    the status exactly; a stream that ended in an error event or without a token chunk was a 200; anything
    else is a client-side exception (traceback), with no response.
    """
    text = message.strip()
    if text in _REASONS:
        status = _REASONS[text]
        return status, {"class": classify(status, text), "status": status, "message": text}
    if text.startswith(_NO_CHUNK) or text.startswith("{"):
        cls = classify(200, text, mid_stream=True)
        return 200, {"class": cls, "status": 200, "message": text[:2000]}
    last = text.rsplit("\n", 1)[-1] if text else "failed (vLLM recorded no reason)"
    timed_out = "Timeout" in last
    connection = "Connect" in last or "Disconnected" in last
    cls = classify(None, last, timed_out=timed_out, connection_failed=connection)
    return None, {"class": cls, "status": None, "message": text[-2000:] or last}


def _arrays(result: Mapping[str, Any], path: Path) -> tuple[int, dict[str, list[Any]]]:
    missing = [name for name in ARRAYS if name not in result]
    if missing and "total_input_sequences" in result:
        raise BadInputError(
            f"a pooling (embedding) benchmark of {result.get('backend')!r}: no token timings to import",
            path=str(path),
        )
    if missing:
        detail = (
            "saved without --save-detailed"
            if "ttfts" in missing
            else "written by a version of vllm bench serve that does not save them"
        )
        raise BadInputError(
            f"no per-request {', '.join(missing)} ({detail}); re-run with --save-result --save-detailed",
            path=str(path),
        )
    arrays = {name: need(result[name], list, name, path) for name in ARRAYS}
    arrays.update(
        {
            name: need(result[name], list, name, path)
            for name in OPTIONAL_ARRAYS
            if result.get(name) is not None
        }
    )
    n = len(arrays["start_times"])
    for name, values in arrays.items():
        if len(values) != n:
            raise BadInputError(
                f"field {name!r} has {len(values)} entries, 'start_times' {n}: the arrays must be parallel",
                path=str(path),
            )
    return n, arrays


def _request(
    i: int, arrays: Mapping[str, list[Any]], path: Path, anchor: int, origin: float, meta: Mapping[str, Any]
) -> Record:
    start = float(need(arrays["start_times"][i], (int, float), f"start_times[{i}]", path))
    ttft = float(need(arrays["ttfts"][i], (int, float), f"ttfts[{i}]", path))
    latency = float(need(arrays["latencies"][i], (int, float), f"latencies[{i}]", path))
    gaps = need(arrays["itls"][i], list, f"itls[{i}]", path)
    message = need(arrays["errors"][i], str, f"errors[{i}]", path)
    output_len = need(arrays["output_lens"][i], int, f"output_lens[{i}]", path)
    input_len = arrays["input_lens"][i]
    # A non-200 answer with an empty reason phrase leaves an empty error too, but never a timing.
    success = message == "" and (ttft > 0 or latency > 0)
    t_send = anchor + round((start - origin) * 1e9)
    # A chunk arrived when vLLM took a TTFT (it stays 0.0 otherwise); the others follow by the gaps.
    offsets: list[int] = []
    if ttft > 0 or gaps:
        at = ttft
        offsets.append(round(at * 1e6))
        for k, gap in enumerate(gaps):
            at += float(need(gap, (int, float), f"itls[{i}][{k}]", path))
            offsets.append(round(at * 1e6))
    status: int | None = 200
    error = None
    if not success:
        status, error = error_from_text(message)
    text = arrays["generated_texts"][i] if "generated_texts" in arrays else None
    record: Record = {
        "type": "request",
        "id": f"{path.stem}-{i}",
        "model": meta.get("model_id"),
        "api": meta.get("api"),
        "prompt_tokens": input_len
        if isinstance(input_len, int) and not isinstance(input_len, bool)
        else None,
        "t_send": t_send,
        "t_first": t_send + round(ttft * 1e9) if offsets else None,
        # A request refused before any token has no end time in vLLM's file (latency stays 0.0).
        "t_end": t_send + round(latency * 1e9) if latency > 0 else t_send,
        "chunks_us": offsets,
        # vLLM writes 0 for a failed request: not a count.
        "output_tokens": output_len if success else None,
        "tokens_source": "usage" if success else None,
        "status": status,
        "error": error,
        "warmup": False,
        "peer": {
            "tool": SOURCE,
            "index": i,
            "start_time": start,
            "ttft": ttft,
            "latency": latency,
            "output_len": output_len,
            "input_len": input_len,
            "queue_time": arrays["queue_times"][i] if "queue_times" in arrays else None,
            "server_queue_time": arrays["server_queue_times"][i] if "server_queue_times" in arrays else None,
            "server_ttft": arrays["server_ttfts"][i] if "server_ttfts" in arrays else None,
        },
    }
    if isinstance(text, str) and text:
        record["text"] = text
    return record


def _load(path: Path) -> dict[str, Any]:
    """The file's one JSON object; several appended ones (``--append-result``) are refused by line."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise BadInputError(f"not UTF-8 text: {exc.reason}", path=str(path)) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            raise BadInputError(
                "several results in one file (--append-result): split them into one file each",
                path=str(path),
                line=exc.lineno,
            ) from None
        cut = "" if text.rstrip().endswith("}") else " (the file is cut short: a truncated file)"
        raise BadInputError(
            f"not JSON: {exc.msg} (column {exc.colno}){cut}", path=str(path), line=exc.lineno
        ) from None
    need(value, dict, "(top level)", path)
    return value


def read(files: list[Path], ctx: ImportContext) -> Iterator[Record]:
    """Trace records of one ``vllm bench serve`` result file."""
    if len(files) > 1:
        raise BadInputError(
            f"{len(files)} vllm bench serve results ({', '.join(f.name for f in files[:4])}); import one "
            "result file at a time",
            path=str(files[0].parent),
        )
    path = files[0]
    result = _load(path)
    n, arrays = _arrays(result, path)
    if n == 0:
        raise BadInputError("no requests", path=str(path))
    starts = [
        float(need(s, (int, float), f"start_times[{i}]", path)) for i, s in enumerate(arrays["start_times"])
    ]
    origin = min(starts)
    setup = {key: result[key] for key in _SETUP if key in result}
    extra = {
        k: v for k, v in result.items() if k not in _PER_REQUEST and k not in setup and isinstance(v, str)
    }
    ctx.config.update({**setup, **extra})
    backend = str(result.get("backend") or "")
    api = "chat" if backend in _CHAT_BACKENDS else "completions" if backend in _COMPLETION_BACKENDS else None
    meta = {"model_id": result.get("model_id"), "api": api}
    if ctx.start_ns is not None:
        anchor = ctx.start_ns
    else:
        ends = [s + float(lat) for s, lat in zip(starts, arrays["latencies"], strict=True) if _is_number(lat)]
        anchor = path.stat().st_mtime_ns - round((max(ends) - origin) * 1e9)
        ctx.notes.append(
            f"{path.name}: times are on vllm bench serve's process clock; anchored so the last request ended "
            f"at the file's modification time (its 'date' {result.get('date')!r} is local time without a "
            "zone; pass --start to anchor them exactly)"
        )
    for i in range(n):
        yield _request(i, arrays, path, anchor, origin, meta)
    yield {
        "type": "totals",
        "source": SOURCE,
        "name": "summary",
        "requests": int(result.get("completed") or 0) + int(result.get("failed") or 0),
        "failures": int(result.get("failed") or 0),
        "detail": {
            "peer": {
                "tool": SOURCE,
                "version": "",
                "files": [path.name],
                "run": ctx.run,
                "stage": None,
                "requests": n,
                "metrics": summary_metrics(result),
                "context": {"duration_s": result.get("duration"), "first_start_s": origin},
            }
        },
    }
