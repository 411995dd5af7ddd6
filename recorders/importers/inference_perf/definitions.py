"""inference-perf's own metric definitions, recomputed from imported requests (parity with its summary).

From inference-perf 0.7.0 (``reportgen/base.py``):

- successful requests are those without ``error``; failures only count toward ``failures`` and the duration;
- ``compute_request_latency_metrics``: ``request_latency = end_time - start_time`` (end taken after the body
  was read and tokenized); TTFT = first output-token stamp - start; TPOT = (last - first token stamp) /
  (output tokens - 1); NTPOT = latency / output tokens; inter-token latency = every consecutive difference of
  the per-token stamps (one stamp per token at its chunk's arrival, so gaps inside a chunk are 0), pooled;
  TTFT and TPOT only when there are at least two token stamps;
- ``summarize``: mean, min, max and ``np.percentile`` (linear), ``median`` for p50, ``p{p:g}`` otherwise;
  no std;
- ``benchmark_time_seconds`` = max(end) - min(start) over *all* requests, failures included; throughputs
  divide successful requests and their tokens by it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from traceanalyzer.model import Analysis
from traceanalyzer.parity.methods import basic_stat, clean, numpy_linear
from traceanalyzer.parity.requests import PeerRequests
from traceanalyzer.parity.stage import Row

WHY: dict[str, str] = {
    "request_latency": "inference-perf's latency ends after the body was read and tokenized; ours at the "
    "last text chunk.",
    "time_to_first_token": "same trigger (first content token); inference-perf reports seconds.",
    "time_per_output_token": "the same as our TPOT: (last - first token) / (tokens - 1).",
    "normalized_time_per_output_token": "we have no NTPOT (latency / output tokens); ours shows our TPOT.",
    "inter_token_latency": "inference-perf's ITL is per token (0 inside a chunk); ours is per chunk gap.",
    "benchmark_time_seconds": "ours spans first send to last end as well, failures included.",
    "count": "the same split of successful and failed requests.",
    "requests_per_sec": "inference-perf divides successful requests by first start to last end; ours "
    "averages "
    "per-window QPS.",
    "output_tokens_per_sec": "inference-perf divides output tokens by first start to last end; ours averages "
    "per-window cluster TPS.",
    "input_tokens_per_sec": "we do not rate prompt tokens.",
    "total_tokens_per_sec": "we do not rate prompt tokens.",
}
STATS = (
    "mean",
    "min",
    "max",
    "median",
    "p0.1",
    "p1",
    "p5",
    "p10",
    "p25",
    "p75",
    "p90",
    "p95",
    "p99",
    "p99.9",
)


def _token_stamps(offsets: np.ndarray, tokens: list[int] | None) -> np.ndarray:
    return np.repeat(offsets, tokens) if tokens is not None and len(tokens) == offsets.size else offsets


def rows(peer: dict[str, Any], reqs: PeerRequests, analysis: Analysis) -> Iterable[Row]:
    """Every number of inference-perf's summary this import can rebuild, with ours."""
    ok = reqs.ok
    send, end = reqs.ns("t_send"), reqs.ns("t_end")
    latency = (end - send) / 1e9
    out_tok = reqs.floats("output_tokens")
    per_chunk = reqs.table.column("chunk_tokens").to_pylist()
    ttft: list[float] = []
    tpot: list[float] = []
    ntpot: list[float] = []
    gaps: list[float] = []
    for i in np.flatnonzero(ok):
        stamps = _token_stamps(reqs.chunk_offsets_ns[i], per_chunk[i]) / 1e9
        n = out_tok[i] if np.isfinite(out_tok[i]) else 0.0
        ntpot.append(latency[i] / n if n > 0 else 0.0)
        if stamps.size > 1:
            ttft.append(stamps[0])
            if n > 1:
                tpot.append((stamps[-1] - stamps[0]) / (n - 1))
            gaps.extend(np.diff(stamps))
    ours = reqs.ours
    series = {
        "request_latency": (latency[ok], ours["e2e_s"].to_numpy(float)[ok]),
        "time_to_first_token": (np.array(ttft), ours["ttft_s"].to_numpy(float)[ok]),
        "time_per_output_token": (np.array(tpot), ours["tpot_s"].to_numpy(float)[ok]),
        "normalized_time_per_output_token": (np.array(ntpot), ours["tpot_s"].to_numpy(float)[ok]),
        "inter_token_latency": (np.array(gaps), reqs.chunk_gaps_ns(ok) / 1e9),
    }
    for name, (tool, mine) in series.items():
        tool_vals, our_vals = clean(tool), clean(mine)
        for stat in STATS:
            key = "p50" if stat == "median" else stat
            value = basic_stat(tool_vals, key, numpy_linear)
            our = basic_stat(our_vals, key, numpy_linear)
            yield Row(f"successes.latency.{name}", stat, value, our, WHY[name])
    total_s = (np.nanmax(end) - np.nanmin(send)) / 1e9 if reqs.n else 0.0
    n_ok = float(ok.sum())
    yield Row(
        "benchmark_time_seconds", "value", total_s, analysis.capture.duration_s, WHY["benchmark_time_seconds"]
    )
    yield Row("successes.count", "value", n_ok, float(analysis.requests.ok), WHY["count"])
    yield Row("failures.count", "value", float(reqs.n - n_ok), float(analysis.requests.failed), WHY["count"])
    if total_s > 0:
        out_sum = float(np.nansum(out_tok[ok]))
        in_sum = float(np.nansum(reqs.floats("prompt_tokens")[ok]))
        cap = analysis.capacity
        yield Row(
            "successes.throughput.requests_per_sec",
            "value",
            n_ok / total_s,
            cap.qps.mean,
            WHY["requests_per_sec"],
        )
        yield Row(
            "successes.throughput.output_tokens_per_sec",
            "value",
            out_sum / total_s,
            cap.tps_cluster_mean,
            WHY["output_tokens_per_sec"],
        )
        yield Row(
            "successes.throughput.input_tokens_per_sec",
            "value",
            in_sum / total_s,
            None,
            WHY["input_tokens_per_sec"],
        )
        yield Row(
            "successes.throughput.total_tokens_per_sec",
            "value",
            (in_sum + out_sum) / total_s,
            None,
            WHY["total_tokens_per_sec"],
        )
