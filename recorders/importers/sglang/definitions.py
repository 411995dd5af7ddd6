"""SGLang bench_serving's own metric definitions, recomputed from imported requests (parity with its summary).

From SGLang 0.5.23 (``sglang/benchmark/serving.py``: ``async_request_openai_chat_completions``,
``async_request_openai_completions``, ``calculate_metrics``, ``benchmark``):

- a request succeeded when its ``errors`` entry is empty; only successes feed the statistics and totals (a
  success without text keeps TTFT 0.0 and counts so);
- TTFT = first chunk with non-empty text (``reasoning_content`` counts, empty role and usage-only chunks do
  not) - send; ITL = gaps between those chunks, pooled over requests; E2E latency = the last SSE line
  (``[DONE]`` included) - send; TPOT = (E2E - TTFT) / (``output_len`` - 1) for ``output_len`` > 1;
- ``output_len`` is the server's ``usage.completion_tokens`` when a chunk carried one, else the requested
  length; ``total_input_tokens`` sums the dataset's prompt lengths of the successes (``input_lens`` holds the
  server's ``usage.prompt_tokens`` instead when the server reported one);
- ``duration`` = dispatch start (after warmup and a 1 s sleep) to the end of ``asyncio.gather``, on
  ``time.perf_counter``; every throughput divides by it;
- statistics: ``np.mean``, ``np.median``, ``np.std`` (ddof 0), ``np.percentile`` (linear), s x 1000.

The export keeps TTFT and ITL per request, so their statistics, the counts, the token totals and the
throughputs (over the stored ``duration``) are rebuilt; E2E latency, TPOT and ``concurrency`` (sum of E2E /
duration) need the E2E latency the export does not keep, the peak rates need send times, the retokenized
counts need the tokenizer, and ``duration`` itself is stored, not derivable: none of those get a row. ITL
retokenized per token (an SGLang server reporting a speculative accept length) gets no row either.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from traceanalyzer.model import Analysis
from traceanalyzer.parity.methods import Values, clean, numpy_linear
from traceanalyzer.parity.requests import PeerRequests
from traceanalyzer.parity.results import MATCH_REL_DIFF
from traceanalyzer.parity.stage import Row

#: Chunk times are whole microseconds in a trace, so a gap rebuilt from them is within 1 us of the tool's.
CHUNK_RESOLUTION_MS = 0.001

#: bench_serving's statistics per latency (``BenchmarkMetrics``), key ``{stat}_{metric}_ms``.
STATS = ("mean", "median", "std", "p90", "p95", "p99")

WHY: dict[str, str] = {
    "ttft": "the same trigger as ours: the first chunk with text.",
    "itl": "the same pooled gaps between text chunks as our ITL.",
    "completed": "the same split of successful and failed requests.",
    "total_input_tokens": "the same sum of prompt tokens over successful requests.",
    "total_output_tokens": "the same sum of output tokens over successful requests.",
    "request_throughput": "SGLang divides successful requests by its dispatch-to-gather duration; ours "
    "averages per-window QPS.",
    "output_throughput": "SGLang divides output tokens by its dispatch-to-gather duration; ours averages "
    "per-window cluster TPS.",
    "input_throughput": "we do not rate prompt tokens.",
    "total_throughput": "we do not rate prompt tokens.",
}

#: Backends whose ITL SGLang spreads over retokenized tokens when the server reports an accept length.
_RETOKENIZED_ITL_BACKENDS = ("sglang-oai", "sglang-oai-chat")


def _stat(values: Values, stat: str) -> float:
    """bench_serving's statistic of ``values`` (seconds), in ms; ``values or 0`` for none, as it does."""
    data = values if values.size else np.zeros(1)
    if stat == "mean":
        return float(np.mean(data)) * 1000
    if stat == "median":
        return float(np.median(data)) * 1000
    if stat == "std":
        return float(np.std(data)) * 1000
    return numpy_linear(data, float(stat[1:])) * 1000


def _latency_rows(metric: str, tool_s: Values, ours_s: Values, floor_ms: float = 0.0) -> Iterable[Row]:
    mine = clean(ours_s)
    for stat in STATS:
        value = _stat(tool_s, stat)
        our = _stat(mine, stat) if mine.size else None
        tolerance = max(MATCH_REL_DIFF, floor_ms / abs(value)) if value else max(MATCH_REL_DIFF, floor_ms)
        yield Row(f"{stat}_{metric}_ms", "value", value, our, WHY[metric], tolerance)


def rows(peer: dict[str, Any], reqs: PeerRequests, analysis: Analysis) -> Iterable[Row]:
    """Every number of one bench_serving result line this import can rebuild, with ours."""
    ok = reqs.ok
    send = reqs.ns("t_send")
    # a success without a text chunk keeps the tool's initial TTFT of 0.0, and SGLang counts it
    ttft = np.nan_to_num((reqs.ns("t_first")[ok] - send[ok]) / 1e9, nan=0.0)
    gaps = reqs.chunk_gaps_ns(ok) / 1e9
    ours = reqs.ours
    yield from _latency_rows("ttft", ttft, ours["ttft_s"].to_numpy(float)[ok])
    values = {str(m["name"]): m.get("value") for m in peer.get("metrics") or []}
    accept = values.get("accept_length")
    retokenized = isinstance(accept, int | float) and accept > 0
    backend = str((peer.get("context") or {}).get("backend") or "")
    if not (retokenized and backend in _RETOKENIZED_ITL_BACKENDS):
        yield from _latency_rows("itl", gaps, gaps, CHUNK_RESOLUTION_MS)

    n_ok = float(ok.sum())
    in_sum = float(np.nansum(reqs.floats("prompt_tokens")[ok]))
    out_sum = float(np.nansum(reqs.floats("output_tokens")[ok]))
    yield Row("completed", "value", n_ok, float(ours["ok"].sum()), WHY["completed"])
    yield Row("total_input_tokens", "value", in_sum, in_sum, WHY["total_input_tokens"])
    yield Row("total_output_tokens", "value", out_sum, out_sum, WHY["total_output_tokens"])
    duration = (peer.get("context") or {}).get("duration_s")
    if not isinstance(duration, int | float) or duration <= 0:
        return
    cap = analysis.capacity
    yield Row("request_throughput", "value", n_ok / duration, cap.qps.mean, WHY["request_throughput"])
    yield Row("input_throughput", "value", in_sum / duration, None, WHY["input_throughput"])
    yield Row(
        "output_throughput", "value", out_sum / duration, cap.tps_cluster_mean, WHY["output_throughput"]
    )
    yield Row("total_throughput", "value", (in_sum + out_sum) / duration, None, WHY["total_throughput"])
