"""Reading AIPerf's files (see the package docstring for which file holds what)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recorders.errors import ABORTED, classify
from recorders.importers.base import (
    ImportContext,
    Record,
    first_line,
    head,
    json_file,
    json_lines,
    need,
    sub_object,
)
from recorders.importers.server_samples import server_record
from traceanalyzer.errors import BadInputError

SOURCE = "aiperf"
NS_PER_MS = 1_000_000

#: Stats of a ``JsonMetricResult`` (``common/models/export_models.py``).
STATS = ("avg", "min", "max", "std", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99")


def detect_kind(path: Path) -> str | None:
    """``records``, ``raw``, ``summary``, ``manifest``, ``gpu`` or ``server`` for an AIPerf export file, else
    None."""
    name = path.name
    if name.endswith(".json"):
        text = head(path)
        if '"phases"' in text and '"phase_kind"' in text:
            return "manifest"
        if '"aiperf_version"' in text or ("aiperf" in name and '"schema_version"' in text):
            return "summary"
        return None
    if not name.endswith(".jsonl"):
        return None
    line = first_line(path)
    try:
        obj = json.loads(line)
    except ValueError:
        # A first line too long or cut short: decide by the keys it starts with.
        obj = None
    if obj is None:
        if line.startswith('{"metadata":') and "profile_export" in name:
            return "raw" if name.endswith("_raw.jsonl") else "records"
        return None
    if not isinstance(obj, dict):
        return None
    if "metadata" in obj and "metrics" in obj:
        return "records"
    if "metadata" in obj and ("responses" in obj or "start_perf_ns" in obj):
        return "raw"
    if "telemetry_data" in obj and "timestamp_ns" in obj:
        return "gpu"
    if "endpoint_url" in obj and "metrics" in obj and "timestamp_ns" in obj:
        return "server"
    return None


def _value(metrics: Mapping[str, Any], tag: str) -> Any:
    entry = metrics.get(tag)
    return entry.get("value") if isinstance(entry, dict) else None


@dataclass
class _RawTiming:
    """Exact content-chunk offsets (ns after the request started) from the raw export."""

    chunks_ns: list[int]
    response_id: str | None = None
    finish_reason: str | None = None
    text: str | None = None


@dataclass
class _Files:
    records: list[Path] = field(default_factory=list)
    raw: list[Path] = field(default_factory=list)
    summary: list[Path] = field(default_factory=list)
    gpu: list[Path] = field(default_factory=list)
    server: list[Path] = field(default_factory=list)
    manifest: list[Path] = field(default_factory=list)


def _sort(files: list[Path]) -> _Files:
    out = _Files()
    for f in files:
        kind = detect_kind(f)
        if kind is not None:
            getattr(out, kind).append(f)
    return out


def _chunk_text(obj: Any) -> tuple[str, str | None, str | None]:
    """(content text, response id, finish reason) of one parsed SSE data object. Content follows AIPerf's
    ``extract_chat_response_data`` / completions parser: delta content, reasoning or tool-call text."""
    if not isinstance(obj, dict):
        return "", None, None
    rid = obj.get("id") if isinstance(obj.get("id"), str) else None
    choices = obj.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return "", rid, None
    choice = choices[0]
    finish = choice.get("finish_reason") if isinstance(choice.get("finish_reason"), str) else None
    if isinstance(choice.get("text"), str):
        return choice["text"], rid, finish
    data = choice.get("delta") or choice.get("message") or {}
    if not isinstance(data, dict):
        return "", rid, finish
    parts = [data.get("reasoning_content") or data.get("reasoning") or "", data.get("content") or ""]
    for call in data.get("tool_calls") or []:
        func = call.get("function", {}) if isinstance(call, dict) else {}
        parts += [func.get("name") or "", func.get("arguments") or ""]
    return "".join(p for p in parts if isinstance(p, str)), rid, finish


def _raw_timing(obj: dict[str, Any], path: Path, line: int) -> _RawTiming:
    start = need(obj.get("start_perf_ns"), int, "start_perf_ns", path, line)
    chunks: list[int] = []
    texts: list[str] = []
    rid = finish = None
    for resp in need(obj.get("responses") or [], list, "responses", path, line):
        perf = need(
            resp.get("perf_ns") if isinstance(resp, dict) else None, int, "responses[].perf_ns", path, line
        )
        payloads: list[str] = []
        if isinstance(resp.get("packets"), list):
            payloads = [
                p.get("value") or ""
                for p in resp["packets"]
                if isinstance(p, dict) and p.get("name") == "data"
            ]
        elif isinstance(resp.get("text"), str):
            payloads = [resp["text"]]
        content = ""
        for payload in payloads:
            if not payload or payload.strip() == "[DONE]":
                continue
            try:
                parsed = json.loads(payload)
            except ValueError:
                continue
            text, chunk_rid, chunk_finish = _chunk_text(parsed)
            content += text
            rid = rid or chunk_rid
            finish = chunk_finish or finish
        if content:
            chunks.append(perf - start)
            texts.append(content)
    return _RawTiming(chunks, rid, finish, "".join(texts) if texts else None)


def _error(err: Any, cancelled: bool) -> tuple[int | None, dict[str, Any] | None]:
    if not isinstance(err, dict):
        return (
            (None, {"class": ABORTED, "status": None, "message": "cancelled by aiperf"})
            if cancelled
            else (200, None)
        )
    code = err.get("code") if isinstance(err.get("code"), int) else None
    message = " ".join(str(err.get(k)) for k in ("type", "message") if err.get(k))
    status = code if code is not None and 100 <= code < 600 else None
    if cancelled:
        cls = ABORTED
    else:
        timed_out = "timeout" in str(err.get("type", "")).lower()
        connection = status is None and "connect" in message.lower()
        cls = classify(status, message, timed_out=timed_out, connection_failed=connection)
    return status, {"class": cls, "status": status, "message": message[:2000]}


def _request(
    obj: dict[str, Any],
    path: Path,
    line: int,
    raw: Mapping[str, _RawTiming],
    token_source: str,
    model: str | None,
    api: str | None,
) -> Record:
    md = need(obj.get("metadata"), dict, "metadata", path, line)
    metrics = obj.get("metrics") or {}
    need(metrics, dict, "metrics", path, line)
    t_send = need(md.get("request_start_ns"), int, "metadata.request_start_ns", path, line)
    t_end = md.get("request_end_ns")
    t_end = t_end if isinstance(t_end, int) else md.get("cancellation_time_ns") or t_send
    session = md.get("session_num")
    rid = md.get("x_request_id") or f"{session}-{md.get('turn_index') or 0}"
    ttft = _value(metrics, "time_to_first_token")
    icl = _value(metrics, "inter_chunk_latency")
    timing = raw.get(str(rid))
    if timing is not None and timing.chunks_ns:
        chunks_ns = [float(c) for c in timing.chunks_ns]
    elif isinstance(ttft, int | float):
        gaps = [need(g, (int, float), "metrics.inter_chunk_latency", path, line) for g in (icl or [])]
        offsets_ms = [float(ttft)]
        for gap in gaps:
            offsets_ms.append(offsets_ms[-1] + float(gap))
        chunks_ns = [o * NS_PER_MS for o in offsets_ms]
    else:
        chunks_ns = []
    status, error = _error(obj.get("error"), bool(md.get("was_cancelled")))
    osl = _value(metrics, "output_sequence_length")
    isl = _value(metrics, "input_sequence_length")
    if isl is None:
        isl = _value(metrics, "error_isl")
    record: Record = {
        "type": "request",
        "id": str(rid),
        "response_id": timing.response_id if timing else None,
        "model": model,
        "api": api,
        "scenario": None,
        "prompt_id": md.get("conversation_id"),
        "prompt_tokens": int(isl) if isinstance(isl, int | float) else None,
        "t_send": t_send,
        "t_headers": md.get("request_ack_ns") if isinstance(md.get("request_ack_ns"), int) else None,
        "t_first": t_send + round(chunks_ns[0]) if chunks_ns else None,
        "t_end": int(t_end),
        "chunks_us": [round(c / 1000) for c in chunks_ns],
        "output_tokens": int(osl) if isinstance(osl, int | float) else None,
        "tokens_source": token_source if isinstance(osl, int | float) else None,
        "status": status,
        "finish_reason": timing.finish_reason if timing else None,
        "error": error,
        "warmup": False,
        "conversation_id": md.get("conversation_id"),
        "turn_index": md.get("turn_index"),
        "peer": {
            "tool": SOURCE,
            "session_num": session,
            "worker_id": md.get("worker_id"),
            "benchmark_phase": md.get("benchmark_phase"),
            "metrics": {k: _value(metrics, k) for k in metrics},
        },
    }
    if timing is not None and timing.text is not None:
        record["text"] = timing.text
    return record


def summary_metrics(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every ``{tag: {unit, avg, p50, ...}}`` number of the summary as ``{name, stat, unit, value}``."""
    out: list[dict[str, Any]] = []
    for tag, result in data.items():
        if not isinstance(result, dict) or "unit" not in result:
            continue
        for stat, value in result.items():
            if stat != "unit" and isinstance(value, int | float) and not isinstance(value, bool):
                out.append({"name": tag, "stat": stat, "unit": str(result["unit"]), "value": value})
    return out


def _input_config(summary: Mapping[str, Any]) -> dict[str, Any]:
    cfg = summary.get("input_config")
    return cfg if isinstance(cfg, dict) else {}


def _endpoint(cfg: Mapping[str, Any]) -> tuple[str | None, str | None, bool]:
    """(model, api, server token counts) from the summary's ``input_config``."""
    endpoint: Mapping[str, Any] = sub_object(cfg, "endpoint")
    names = endpoint.get("model_names") or cfg.get("model_names") or []
    model = names[0] if isinstance(names, list) and names else None
    kind = str(endpoint.get("type") or "")
    api = "chat" if kind == "chat" else "completions" if kind == "completions" else kind or None
    server_tokens = bool(endpoint.get("use_server_token_count") or cfg.get("use_server_token_count"))
    return model, api, server_tokens


#: gpu record field -> AIPerf telemetry keys (0.13 ``nvidia_*`` names, older unprefixed aliases), scale.
_GPU_FIELDS: dict[str, tuple[tuple[str, ...], float]] = {
    "util_pct": (("nvidia_gpu_utilization", "gpu_utilization"), 1.0),
    "mem_util_pct": (("nvidia_memory_utilization", "mem_utilization"), 1.0),
    # AIPerf reports memory in GB: DCGM's MiB x 1.048576e-3 (gpu_telemetry/dcgm_collector.py).
    "mem_used_mib": (("nvidia_memory_used", "gpu_memory_used"), 1 / 1.048576e-3),
    "mem_total_mib": (("nvidia_memory_total", "gpu_memory_total"), 1 / 1.048576e-3),
    "power_w": (("nvidia_power_usage", "gpu_power_usage"), 1.0),
    "temp_c": (("nvidia_temperature", "gpu_temperature"), 1.0),
    "sm_clock_mhz": (("nvidia_sm_clock", "sm_clock"), 1.0),
}


def _gpu(obj: dict[str, Any], path: Path, line: int) -> Record:
    data = obj.get("telemetry_data") or {}
    need(data, dict, "telemetry_data", path, line)

    def num(keys: tuple[str, ...], scale: float) -> float | None:
        for key in keys:
            value = data.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value) * scale
        return None

    url = str(obj.get("telemetry_source_url") or obj.get("dcgm_url") or "")
    record: Record = {
        "type": "gpu",
        "host": obj.get("hostname") or None,
        "t": need(obj.get("timestamp_ns"), int, "timestamp_ns", path, line),
        "gpu": need(obj.get("gpu_index"), int, "gpu_index", path, line),
        "uuid": obj.get("gpu_uuid"),
        "name": obj.get("gpu_model_name"),
    }
    record.update({name: num(keys, scale) for name, (keys, scale) in _GPU_FIELDS.items()})
    record["source"] = "nvml" if url.startswith("pynvml") else "dcgm"
    record["peer"] = {"tool": SOURCE, "telemetry_source_url": url, "telemetry_data": data}
    return record


def _server(obj: dict[str, Any], path: Path, line: int) -> Record:
    t = need(obj.get("timestamp_ns"), int, "timestamp_ns", path, line)
    families = need(obj.get("metrics"), dict, "metrics", path, line)
    samples: list[tuple[str, Mapping[str, Any] | None, float]] = []
    for name, items in families.items():
        for s in items if isinstance(items, list) else []:
            if not isinstance(s, dict):
                continue
            labels = s.get("labels") if isinstance(s.get("labels"), dict) else None
            if "value" in s:
                samples.append((name, labels, s["value"]))
            else:
                for part in ("sum", "count"):
                    if part in s:
                        samples.append((f"{name}_{part}", labels, s[part]))
    record = server_record(t, samples)
    record["host"] = None
    record["peer"] = {"tool": SOURCE, "endpoint_url": obj.get("endpoint_url")}
    return record


def _multi_turn(paths: list[Path]) -> bool:
    """Whether the run sent conversations (a record with ``turn_index`` above 0)."""
    for path in paths:
        for _, obj in json_lines(path):
            md = obj.get("metadata")
            turn = md.get("turn_index") if isinstance(md, dict) else None
            if isinstance(turn, int) and turn > 0:
                return True
    return False


def _session_ids(record: Record, md: dict[str, Any]) -> None:
    """A multi-turn run's chat ids in the schema's conversation fields: ``session_id`` is AIPerf's
    ``x_correlation_id`` (one conversation as it was run; ``conversation_id`` names the dataset entry, which
    several sessions can replay), ``turn`` its ``turn_index``."""
    session = md.get("x_correlation_id") or (
        f"{md.get('conversation_id')}#{md.get('session_num')}" if md.get("conversation_id") else None
    )
    turn = md.get("turn_index")
    if session is not None and isinstance(turn, int):
        record["session_id"] = str(session)
        record["turn"] = turn


def read(files: list[Path], ctx: ImportContext) -> Iterator[Record]:
    """Trace records of a set of AIPerf export files (one run)."""
    found = _sort(files)
    if not found.records and not found.raw:
        where = ", ".join(str(f) for f in files[:3])
        raise BadInputError("an AIPerf export without profile_export.jsonl or its _raw.jsonl", path=where)
    summary: dict[str, Any] = {}
    if found.summary:
        summary = json_file(found.summary[0])
        if not isinstance(summary, dict):
            raise BadInputError("not a JSON object", path=str(found.summary[0]))
    cfg = _input_config(summary)
    ctx.config.update(cfg)
    model, api, server_tokens = _endpoint(cfg)
    token_source = "usage" if server_tokens else "tokenizer"

    raw: dict[str, _RawTiming] = {}
    raw_records: list[tuple[Path, int, dict[str, Any]]] = []
    warmup = 0
    for path in found.raw:
        for line, obj in json_lines(path):
            md = need(obj.get("metadata"), dict, "metadata", path, line)
            if md.get("benchmark_phase") not in (None, "profiling"):
                warmup += 1
                continue
            rid = md.get("x_request_id") or f"{md.get('session_num')}-{md.get('turn_index') or 0}"
            raw[str(rid)] = _raw_timing(obj, path, line)
            raw_records.append((path, line, obj))
    if warmup:
        ctx.notes.append(f"{warmup} warmup record(s) of the raw export left out (AIPerf leaves them out too)")

    requests = 0
    if found.records:
        multi_turn = _multi_turn(found.records)
        for path in found.records:
            for line, obj in json_lines(path):
                md = need(obj.get("metadata"), dict, "metadata", path, line)
                if md.get("benchmark_phase") not in (None, "profiling"):
                    continue  # AIPerf 0.13 writes warmup records here too; its summary leaves them out
                requests += 1
                record = _request(obj, path, line, raw, token_source, model, api)
                if multi_turn:
                    _session_ids(record, md)
                yield record
    else:
        ctx.notes.append("no profile_export.jsonl: requests rebuilt from the raw export alone")
        for path, line, obj in raw_records:
            requests += 1
            yield _raw_only_request(obj, path, line, raw, token_source, model, api)
    for path in found.gpu:
        for line, obj in json_lines(path):
            yield _gpu(obj, path, line)
    for path in found.server:
        for line, obj in json_lines(path):
            yield _server(obj, path, line)
    if summary:
        window = _window(summary, found.manifest[0] if found.manifest else None)
        yield _totals(summary, files, ctx, requests, window)
    else:
        ctx.notes.append("no profile_export_aiperf.json: AIPerf's own summary is missing, so no parity table")


def _raw_only_request(
    obj: dict[str, Any],
    path: Path,
    line: int,
    raw: Mapping[str, _RawTiming],
    token_source: str,
    model: str | None,
    api: str | None,
) -> Record:
    """A request from a raw record alone: times exact, token counts unknown (AIPerf counts them later)."""
    record = _request(
        {"metadata": obj["metadata"], "metrics": {}, "error": obj.get("error")},
        path,
        line,
        raw,
        token_source,
        model,
        api,
    )
    record["status"] = obj.get("status") if isinstance(obj.get("status"), int) else record["status"]
    return record


def _window(summary: Mapping[str, Any], manifest: Path | None) -> dict[str, Any] | None:
    """The profiling phase's bounds, which AIPerf 0.13 divides its throughputs by
    (``MetricResultsDict.observation_duration``): exact from ``phase_manifest.json``, else from the
    summary's ``start_time`` / ``end_time`` (microseconds)."""
    if manifest is not None:
        data = json_file(manifest)
        for phase in data.get("phases", []) if isinstance(data, dict) else []:
            if isinstance(phase, dict) and phase.get("phase_kind") == "profiling":
                start, end = phase.get("start_ns"), phase.get("end_ns")
                if isinstance(start, int) and isinstance(end, int):
                    return {"start_ns": start, "end_ns": end, "source": manifest.name}
    start, end = summary.get("start_time"), summary.get("end_time")
    if isinstance(start, str) and isinstance(end, str):
        from datetime import datetime

        try:
            span = datetime.fromisoformat(end) - datetime.fromisoformat(start)
        except ValueError:
            return None
        micros = (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds
        return {"length_ns": micros * 1000, "source": "start_time/end_time"}
    return None


def _totals(
    summary: dict[str, Any],
    files: list[Path],
    ctx: ImportContext,
    imported: int,
    window: dict[str, Any] | None,
) -> Record:
    metrics = summary_metrics(summary)

    def scalar(tag: str) -> int | None:
        value = summary.get(tag, {}).get("avg") if isinstance(summary.get(tag), dict) else None
        return int(value) if isinstance(value, int | float) else None

    count = scalar("request_count")
    errors = scalar("error_request_count") or 0
    return {
        "type": "totals",
        "source": SOURCE,
        "name": "summary",
        "requests": (count or 0) + errors,
        "failures": errors,
        "detail": {
            "peer": {
                "tool": SOURCE,
                "version": str(summary.get("aiperf_version") or ""),
                "files": sorted({f.name for f in files}),
                "run": ctx.run,
                "stage": None,
                "requests": (count or 0) + errors,
                "metrics": metrics,
                "context": {"window": window},
                "start_time": summary.get("start_time"),
                "end_time": summary.get("end_time"),
                "error_summary": summary.get("error_summary"),
            }
        },
    }
