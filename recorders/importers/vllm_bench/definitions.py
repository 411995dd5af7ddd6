"""vLLM bench serve's own metric definitions, recomputed from imported requests (parity with its summary).

From vLLM 0.34 (``benchmarks/serve.py::calculate_metrics`` and ``benchmark``,
``benchmarks/lib/endpoint_request_func.py``):

- a request succeeded when its ``errors`` entry is empty; only successful requests enter ``completed``, the
  token totals and every latency statistic; ``failed`` counts the others;
- TTFT = first SSE chunk carrying a token (content, reasoning or tool call; the role-only opening chunk does
  not count) - start; E2EL (``latencies``) = last such chunk - start (the usage chunk does not advance it);
  ITL = every gap between those chunks, pooled over requests; TPOT per request = (E2EL - TTFT) /
  (output tokens - 1), only for requests with more than one token;
- statistics: ``np.mean``, ``np.median``, ``np.std`` (ddof 0) and ``np.percentile`` (linear), x 1000 for
  ms; an empty list counts as ``[0]``;
- throughputs divide by ``duration``: from just before the dispatch loop to the last response (pacing and
  client-side queueing included), which the requests cannot rebuild, so it is taken from the file;
- ``max_output_tokens_per_s``: chunks (one per token as vLLM counts them) in 1-second buckets from the first
  successful start; ``max_concurrent_requests``: the most successful requests active in one such second.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from traceanalyzer.model import Analysis
from traceanalyzer.parity.methods import Values, clean
from traceanalyzer.parity.requests import PeerRequests
from traceanalyzer.parity.stage import Row

_STAT_KEY = re.compile(r"^(mean|median|std|p(\d+(?:\.\d+)?))_(ttft|tpot|itl|e2el)_ms$")

WHY: dict[str, str] = {
    "ttft": "the same trigger as ours: the first chunk carrying a token (the role-only opening chunk does "
    "not count).",
    "tpot": "the same as our TPOT: (last chunk - first chunk) / (output tokens - 1), with the server's "
    "token count.",
    "itl": "the same pooled gaps between token chunks as our ITL.",
    "e2el": "the same end as ours: the last token chunk (vLLM's usage chunk does not advance it).",
    "count": "the same split of successful and failed requests.",
    "tokens": "we keep token counts per request, not run totals.",
    "rate": "vLLM divides by its benchmark duration (dispatch loop start to the last response, pacing "
    "included); ours averages per-window rates.",
    "total_rate": "we do not rate prompt tokens.",
    "peak": "vLLM counts chunks in 1-second buckets from the first start; ours is the highest windowed "
    "cluster TPS in tokens.",
    "concurrency": "we report in-flight requests per window, not this per-second peak.",
}


def _stat(values: Values, stat: str, p: str | None) -> float:
    """vLLM's statistic: an empty list counts as ``[0]`` (``np.mean(x or 0)``)."""
    data = values if values.size else np.zeros(1)
    if stat == "mean":
        return float(np.mean(data))
    if stat == "median":
        return float(np.median(data))
    if stat == "std":
        return float(np.std(data))
    return float(np.percentile(data, float(p or 0)))


def _our_stat(values: Values, stat: str, p: str | None) -> float | None:
    return _stat(values, stat, p) if values.size else None


def peaks(reqs: PeerRequests) -> tuple[float, float]:
    """``max_output_tokens_per_s`` and ``max_concurrent_requests`` as vLLM buckets them (seconds since the
    first successful start, chunk times from the imported offsets)."""
    ok = reqs.ok
    if not ok.any():
        return 0.0, 0.0
    send = reqs.ns("t_send") / 1e9
    end = reqs.ns("t_end") / 1e9
    first = float(np.min(send[ok]))
    span = math.ceil(float(np.max(end[ok])) - first) + 1
    tokens = np.zeros(span)
    active = np.zeros(span)
    for i in np.flatnonzero(ok):
        times = send[i] + reqs.chunk_offsets_ns[i] / 1e9 - first
        buckets = times.astype(np.int64)
        buckets = buckets[(buckets >= 0) & (buckets < span)]
        np.add.at(tokens, buckets, 1)
        active[int(send[i] - first) : int(end[i] - first) + 1] += 1
    return float(np.max(tokens)), float(np.max(active))


def rows(peer: dict[str, Any], reqs: PeerRequests, analysis: Analysis) -> Iterable[Row]:
    """Every number of vLLM's summary this import can rebuild, with ours."""
    ok = reqs.ok
    send, end, first = reqs.ns("t_send"), reqs.ns("t_end"), reqs.ns("t_first")
    latency = (end - send)[ok] / 1e9
    ttft = (first - send)[ok] / 1e9
    out_tok = reqs.floats("output_tokens")[ok]
    in_tok = reqs.floats("prompt_tokens")[ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(out_tok > 1, (latency - ttft) / (out_tok - 1), np.nan)
    gaps = reqs.chunk_gaps_ns(ok) / 1e9
    ours = reqs.ours
    tool_series: dict[str, Values] = {
        "ttft": clean(ttft),
        "tpot": clean(tpot),
        "itl": gaps,
        "e2el": clean(latency),
    }
    our_series: dict[str, Values] = {
        "ttft": clean(ours["ttft_s"].to_numpy(float)[ok]),
        "tpot": clean(ours["tpot_s"].to_numpy(float)[ok]),
        "itl": gaps,
        "e2el": clean(ours["e2e_s"].to_numpy(float)[ok]),
    }
    for m in peer.get("metrics") or []:
        found = _STAT_KEY.match(str(m.get("name")))
        if found is None:
            continue
        stat, p, metric = found.group(1), found.group(2), found.group(3)
        stat = "p" if p is not None else stat
        value = _stat(tool_series[metric], stat, p) * 1e3
        mine = _our_stat(our_series[metric], stat, p)
        yield Row(found.group(0), "value", value, None if mine is None else mine * 1e3, WHY[metric])

    n_ok = float(ok.sum())
    out_sum = float(np.nansum(out_tok))
    in_sum = float(np.nansum(in_tok))
    requests = analysis.requests
    yield Row("completed", "value", n_ok, float(requests.ok), WHY["count"])
    yield Row("failed", "value", float(reqs.n) - n_ok, float(requests.failed), WHY["count"])
    yield Row("total_input_tokens", "value", in_sum, None, WHY["tokens"])
    yield Row("total_output_tokens", "value", out_sum, None, WHY["tokens"])
    peak_tokens, peak_active = peaks(reqs)
    cap = analysis.capacity
    yield Row("max_output_tokens_per_s", "value", peak_tokens, cap.tps_cluster_peak, WHY["peak"])
    yield Row("max_concurrent_requests", "value", peak_active, None, WHY["concurrency"])
    duration = (peer.get("context") or {}).get("duration_s")
    if isinstance(duration, int | float) and duration > 0:
        yield Row("request_throughput", "value", n_ok / duration, cap.qps.mean, WHY["rate"])
        yield Row("output_throughput", "value", out_sum / duration, cap.tps_cluster_mean, WHY["rate"])
        yield Row("total_token_throughput", "value", (in_sum + out_sum) / duration, None, WHY["total_rate"])
