"""Reading SGLang bench_serving's result lines (see the package docstring)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any

from recorders.errors import classify
from recorders.importers.base import ImportContext, Record, json_lines, need, sub_object
from traceanalyzer.errors import BadInputError

SOURCE = "sglang"

#: The per-request arrays of ``--output-details`` (``benchmark()``'s ``result_details``).
DETAIL_ARRAYS = ("input_lens", "output_lens", "ttfts", "itls", "errors")

#: The run's arguments written at the start of each line; they go into ``meta.config``.
ARGUMENT_KEYS = (
    "tag", "backend", "dataset_name", "request_rate", "max_concurrency", "sharegpt_output_len",
    "random_input_len", "random_output_len", "random_range_ratio",
)  # fmt: skip

#: HTTP reason phrase -> status (``errors[i]`` starts with aiohttp's ``response.reason``).
_REASONS = {s.phrase: s.value for s in HTTPStatus}


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _unit(key: str) -> str:
    if key.endswith("_ms"):
        return "ms"
    if key == "duration":
        return "s"
    if key == "request_throughput":
        return "requests/s"
    if key.endswith("_throughput") or key == "max_output_tokens_per_s":
        return "tokens/s"
    if key.endswith("tokens") or key.endswith("tokens_retokenized"):
        return "tokens"
    if key in ("completed", "concurrency", "max_concurrent_requests"):
        return "requests"
    return ""


def summary_metrics(line: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every summary number of one result line as ``{name, stat: "value", unit, value}`` (arguments and
    per-request arrays left out)."""
    return [
        {"name": key, "stat": "value", "unit": _unit(key), "value": value}
        for key, value in line.items()
        if key not in ARGUMENT_KEYS and _num(value)
    ]


def status_of(error: str) -> int | None:
    """The HTTP status of a failed request: bench_serving writes ``"{reason}: {body}"`` for a non-200
    response and a traceback for an exception (no response: ``None``)."""
    reason = error.split(":", 1)[0].strip()
    return _REASONS.get(reason)


def send_offsets(rate: Any, concurrency: Any, busy_s: list[float]) -> list[float]:
    """Send times (s after the dispatch start) under bench_serving's dispatch rule, an estimate.

    Request ``i`` is released at ``i / request_rate`` (the mean of its exponential gaps; all at 0 for an
    infinite rate or trace replay) and, with ``max_concurrency``, waits for the first free slot; a request
    holds its slot for ``busy_s[i]`` (its last text chunk; the tool keeps no end time).
    """
    spacing = 1.0 / rate if _num(rate) and rate > 0 else 0.0
    slots: list[float] | None = (
        [0.0] * concurrency if isinstance(concurrency, int) and concurrency > 0 else None
    )
    out: list[float] = []
    for i, busy in enumerate(busy_s):
        at = i * spacing
        if slots is not None:
            at = max(at, heapq.heappop(slots))
            heapq.heappush(slots, at + busy)
        out.append(at)
    return out


class _Run:
    """One result line, checked: its summary and its per-request arrays."""

    def __init__(self, path: Path, line: int, data: dict[str, Any]) -> None:
        self.path, self.line, self.data = path, line, data
        need(data.get("duration"), (int, float), "duration", path, line)
        need(data.get("completed"), int, "completed", path, line)
        if not all(key in data for key in DETAIL_ARRAYS):
            raise BadInputError(
                "no per-request arrays (input_lens, ttfts, itls, errors): run bench_serving with "
                "--output-details",
                path=str(path),
                line=line,
            )
        arrays = [need(data[key], list, key, path, line) for key in DETAIL_ARRAYS]
        n = len(arrays[0])
        for key, values in zip(DETAIL_ARRAYS, arrays, strict=True):
            if len(values) != n:
                raise BadInputError(
                    f"field {key!r} has {len(values)} entries, input_lens {n}", path=str(path), line=line
                )
        self.n = n
        self.errors: list[str] = [
            str(need(e, str, f"errors[{i}]", path, line)) for i, e in enumerate(data["errors"])
        ]
        self.ttfts = [
            float(need(t, (int, float), f"ttfts[{i}]", path, line)) for i, t in enumerate(data["ttfts"])
        ]
        self.itls = [
            [
                float(need(g, (int, float), f"itls[{i}][]", path, line))
                for g in need(gaps, list, f"itls[{i}]", path, line)
            ]
            for i, gaps in enumerate(data["itls"])
        ]
        for key in ("input_lens", "output_lens"):
            for i, value in enumerate(data[key]):
                need(value, int, f"{key}[{i}]", path, line)
        texts = data.get("generated_texts")
        self.texts: list[Any] = texts if isinstance(texts, list) and len(texts) == n else [None] * n

    @property
    def duration(self) -> float:
        return float(self.data["duration"])

    def ok(self, i: int) -> bool:
        return self.errors[i] == ""

    def chunk_offsets_s(self, i: int) -> list[float]:
        """Text chunk times after the send (s): the first at TTFT, the others ITL gaps later (a stream
        broken by an exception keeps those that came); none without text (TTFT stays 0.0 in the tool)."""
        if self.ttfts[i] == 0.0 and not self.itls[i]:
            return []
        at = self.ttfts[i]
        out = [at]
        for gap in self.itls[i]:
            at += gap
            out.append(at)
        return out


def _runs(files: list[Path]) -> list[_Run]:
    runs = [_Run(path, number, data) for path in files for number, data in json_lines(path)]
    if not runs:
        raise BadInputError("no result lines", path=str(files[0]))
    return runs


def _anchors(runs: list[_Run], ctx: ImportContext) -> list[int]:
    """Dispatch start (epoch ns) of each run: back to back, from ``--start`` or ending at each file's
    modification time."""
    if ctx.start_ns is not None:
        starts, at = [], ctx.start_ns
        for run in runs:
            starts.append(at)
            at += round(run.duration * 1e9)
        return starts
    starts = [0] * len(runs)
    for path in dict.fromkeys(r.path for r in runs):
        at = path.stat().st_mtime_ns
        for k in reversed([k for k, r in enumerate(runs) if r.path == path]):
            at -= round(runs[k].duration * 1e9)
            starts[k] = at
        ctx.notes.append(
            f"{path.name}: bench_serving keeps no clock times; the last run is taken to end at the file's "
            "modification time (pass --start to anchor the first run's start)"
        )
    return starts


def read(files: list[Path], ctx: ImportContext) -> Iterator[Record]:
    """Trace records of bench_serving result files (every line of each)."""
    runs = _runs(files)
    anchors = _anchors(runs, ctx)
    ctx.notes.append(
        "bench_serving keeps no send times: sends are laid out by its request rate and concurrency limit "
        "(an estimate) and requests end at their last text chunk"
    )
    several = len(runs) > 1
    for k, (run, anchor) in enumerate(zip(runs, anchors, strict=True)):
        arguments = {key: _json_safe(run.data.get(key)) for key in ARGUMENT_KEYS if key in run.data}
        ctx.config.setdefault("runs", []).append(arguments)
        yield from _run_records(run, k, anchor, f"r{k}" if several else None, ctx)


def _json_safe(value: Any) -> Any:
    """``request_rate`` is ``Infinity`` for a burst (Python's JSON); a trace's meta line is strict JSON."""
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def _label(run: _Run, k: int) -> str:
    rate = _json_safe(run.data.get("request_rate"))
    return f"run {k}: rate {rate}, concurrency {run.data.get('max_concurrency')}"


def _run_records(run: _Run, k: int, anchor: int, stage: str | None, ctx: ImportContext) -> Iterator[Record]:
    chunks = [run.chunk_offsets_s(i) for i in range(run.n)]
    sends = send_offsets(
        run.data.get("request_rate"), run.data.get("max_concurrency"), [c[-1] if c else 0.0 for c in chunks]
    )
    model = sub_object(run.data, "server_info").get("served_model_name")
    for i in range(run.n):
        t_send = anchor + round(sends[i] * 1e9)
        ok = run.ok(i)
        offsets = chunks[i]
        error = None
        status: int | None = 200
        if not ok:
            # a traceback: no status; its text tells a timeout or a refused connection (``classify``)
            status = status_of(run.errors[i])
            cls = classify(status, run.errors[i], mid_stream=bool(offsets))
            error = {"class": cls, "status": status, "message": run.errors[i][:2000]}
        record: Record = {
            "type": "request",
            "id": f"{run.path.stem}-{k}-{i}",
            "prompt_tokens": run.data["input_lens"][i],
            "t_send": t_send,
            "t_first": t_send + round(offsets[0] * 1e9) if offsets else None,
            "t_end": t_send + round(offsets[-1] * 1e9) if offsets else t_send,
            "chunks_us": [round(t * 1e6) for t in offsets],
            "output_tokens": run.data["output_lens"][i] if ok else None,
            "tokens_source": None,
            "status": status,
            "error": error,
            "peer": {
                "tool": SOURCE,
                "index": i,
                "ttft": run.ttfts[i],
                "output_len": run.data["output_lens"][i],
            },
        }
        if stage is not None:
            record["stage"] = stage
        if isinstance(model, str):
            record["model"] = model
        if isinstance(run.texts[i], str) and ok:
            record["text"] = run.texts[i]
        yield record
    yield {
        "type": "totals",
        "source": SOURCE,
        "name": _label(run, k) if stage else "summary",
        "requests": run.n,
        "failures": run.n - int(run.data["completed"]),
        "detail": {
            "peer": {
                "tool": SOURCE,
                "version": "",  # bench_serving writes no version of its own (server_info is the server's)
                "files": [run.path.name],
                "run": ctx.run,
                "stage": stage,
                **({"label": _label(run, k)} if stage else {}),
                "requests": run.n,
                "metrics": summary_metrics(run.data),
                "context": {"duration_s": run.duration, "backend": run.data.get("backend"), "line": run.line},
            }
        },
    }
