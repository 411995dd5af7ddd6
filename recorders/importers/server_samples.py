"""``server`` records from Prometheus samples another tool already parsed (AIPerf's server-metrics export).

The four named fields follow ``record server`` (docs/schema.md, ``server``): running and waiting requests and
preemptions summed over series, the KV-cache use the fullest series, x 100 for vLLM's and SGLang's
fractions; every other sample goes into ``metrics`` under ``name{label="value",...}``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

#: field -> (engine, metric names in order of preference, how series combine, scale)
_FIELDS: dict[str, tuple[tuple[str, tuple[str, ...], str, float], ...]] = {
    "running": (
        ("vllm", ("vllm:num_requests_running",), "sum", 1.0),
        ("sglang", ("sglang:num_running_reqs",), "sum", 1.0),
    ),
    "waiting": (
        ("vllm", ("vllm:num_requests_waiting",), "sum", 1.0),
        ("sglang", ("sglang:num_queue_reqs",), "sum", 1.0),
    ),
    "kv_cache_pct": (
        ("vllm", ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"), "max", 100.0),
        ("sglang", ("sglang:token_usage",), "max", 100.0),
    ),
    "preemptions": (
        ("vllm", ("vllm:num_preemptions_total", "vllm:num_preemptions"), "sum", 1.0),
        ("sglang", ("sglang:num_retracted_requests_total",), "sum", 1.0),
    ),
}


def _key(name: str, labels: Mapping[str, Any] | None) -> str:
    if not labels:
        return name
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def server_record(t: int, samples: Iterable[tuple[str, Mapping[str, Any] | None, float]]) -> dict[str, Any]:
    """One ``server`` record from ``(name, labels, value)`` samples (non-finite values left out)."""
    by_name: dict[str, list[float]] = {}
    metrics: dict[str, float] = {}
    for name, labels, value in samples:
        if not isinstance(value, int | float) or not math.isfinite(value):
            continue
        by_name.setdefault(name, []).append(float(value))
        metrics[_key(name, labels)] = float(value)
    engine = next((e for e in ("vllm", "sglang") if any(n.startswith(f"{e}:") for n in by_name)), None)
    record: dict[str, Any] = {"type": "server", "t": t, "engine": engine}
    used: set[str] = set()
    for field, options in _FIELDS.items():
        record[field] = None
        for eng, names, how, scale in options:
            found = next((n for n in names if n in by_name), None) if eng == engine else None
            if found is not None:
                values = by_name[found]
                record[field] = (max(values) if how == "max" else math.fsum(values)) * scale
                used.add(found)
                break
    record["metrics"] = {k: v for k, v in metrics.items() if k.partition("{")[0] not in used}
    return record
