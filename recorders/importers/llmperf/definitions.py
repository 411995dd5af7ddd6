"""llmperf's own metric definitions, recomputed from imported requests (parity with its summary).

From llmperf at commit ``f1d6bed4`` (``token_benchmark_ray.py``,
``ray_clients/openai_chat_completions_client.py``):

- per request: ``ttft_s`` = first chunk with non-empty ``delta.content`` - start (0 when none came);
  ``end_to_end_latency_s`` = stream closed ([DONE] read) - start; ``inter_token_latency_s`` = (TTFT + the gaps
  between content chunks) / the SSE data lines received (every non-[DONE] line, role and empty ones
  included), i.e. about (last content chunk - start) / chunks, TTFT included;
  ``number_output_tokens`` = ``len(tokenizer.encode(text))`` (BOS included);
  ``request_output_throughput_token_per_s`` = output tokens / E2E;
- ``metrics_summary``: the requests with a null ``error_code``; per metric ``pd.Series.quantile`` at 0.25 ...
  0.99 (linear, as NumPy), ``mean``, ``min``, ``max`` and ``std()`` (ddof 1);
  ``num_requests_started`` = every request, ``number_errors`` those with an ``error_code``, ``error_rate`` =
  errors / started; ``mean_output_throughput_token_per_s`` = output tokens of the successes / test duration
  (threads started to joined, not stored: back from ``num_completed_requests_per_min``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from traceanalyzer.model import Analysis
from traceanalyzer.parity.methods import Values, basic_stat, clean, numpy_linear
from traceanalyzer.parity.requests import PeerRequests
from traceanalyzer.parity.stage import Row

STATS = (
    "quantiles_p25",
    "quantiles_p50",
    "quantiles_p75",
    "quantiles_p90",
    "quantiles_p95",
    "quantiles_p99",
    "mean",
    "min",
    "max",
    "stddev",
)

WHY: dict[str, str] = {
    "ttft_s": "the same trigger (first non-empty content); llmperf's std is ddof 1, ours ddof 0.",
    "end_to_end_latency_s": "llmperf's E2E ends when the stream closes, after [DONE]; ours at the last text "
    "chunk, which this export does not record, so ours uses the same end.",
    "inter_token_latency_s": "llmperf's ITL divides TTFT plus the content-chunk gaps by every SSE line "
    "received; ours shows our TPOT, (E2E - TTFT) / (tokens - 1), as the export has no chunk times.",
    "request_output_throughput_token_per_s": "the same per-request output tokens / E2E (llmperf's tokenizer "
    "count, BOS included); we report it as per-request TPS.",
    "number_input_tokens": "the same counts (llmperf's tokenizer).",
    "number_output_tokens": "the same counts (llmperf's tokenizer, BOS included).",
    "counts": "the same split of requests with and without an error.",
    "error_rate": "the same: requests with an error / requests in the export.",
    "throughput": "llmperf divides the successes' output tokens by its whole test (threads started to "
    "joined, taken from its completed requests per minute); our cluster TPS counts tokens at chunk "
    "arrivals, which this export does not record.",
}


def _distribution(name: str, tool: Values, ours: Values | None) -> Iterable[Row]:
    tool_vals = clean(tool)
    our_vals = clean(ours) if ours is not None else None
    for stat in STATS:
        key = stat.removeprefix("quantiles_")
        value = basic_stat(tool_vals, key, numpy_linear, ddof=1)
        mine = basic_stat(our_vals, key, numpy_linear) if our_vals is not None else None
        yield Row(f"results_{name}", stat, value, mine, WHY[name])


def _peer_itl(peer: dict[str, Any], reqs: PeerRequests) -> Values:
    """llmperf's own per-request ITL (kept by the importer), in the rows' order; NaN where missing."""
    per = (peer.get("context") or {}).get("per_request") or {}
    by_id = dict(zip(per.get("id") or [], per.get("inter_token_latency_s") or [], strict=False))
    ids = reqs.table.column("id").to_pylist()
    return np.array([np.nan if by_id.get(i) is None else float(by_id[i]) for i in ids], dtype=np.float64)


def rows(peer: dict[str, Any], reqs: PeerRequests, analysis: Analysis) -> Iterable[Row]:
    """Every number of llmperf's summary this import can rebuild, with ours."""
    ok = reqs.ok
    send, first, end = reqs.ns("t_send"), reqs.ns("t_first"), reqs.ns("t_end")
    e2e = (end - send) / 1e9
    ttft = np.where(np.isfinite(first), (first - send) / 1e9, 0.0)  # llmperf keeps 0 when no text came
    out_tok, in_tok = reqs.floats("output_tokens"), reqs.floats("prompt_tokens")
    with np.errstate(invalid="ignore", divide="ignore"):
        per_request_tps = out_tok / e2e
    ours = reqs.ours
    our_e2e = ours["e2e_s"].to_numpy(float)[ok]
    yield from _distribution(
        "inter_token_latency_s", _peer_itl(peer, reqs)[ok], ours["tpot_s"].to_numpy(float)[ok]
    )
    yield from _distribution("ttft_s", ttft[ok], ours["ttft_s"].to_numpy(float)[ok])
    yield from _distribution("end_to_end_latency_s", e2e[ok], our_e2e)
    yield from _distribution(
        "request_output_throughput_token_per_s", per_request_tps[ok], out_tok[ok] / our_e2e
    )
    yield from _distribution("number_input_tokens", in_tok[ok], in_tok[ok])
    yield from _distribution("number_output_tokens", out_tok[ok], out_tok[ok])

    n_ok = float(ok.sum())
    counts = analysis.requests
    yield Row("results_num_requests_started", "value", float(reqs.n), float(counts.total), WHY["counts"])
    yield Row("results_num_completed_requests", "value", n_ok, float(counts.ok), WHY["counts"])
    yield Row("results_number_errors", "value", reqs.n - n_ok, float(counts.failed), WHY["counts"])
    yield Row(
        "results_error_rate",
        "value",
        (reqs.n - n_ok) / reqs.n if reqs.n else 0.0,
        counts.failed / counts.total if counts.total else None,
        WHY["error_rate"],
    )
    duration = (peer.get("context") or {}).get("duration_s")
    if isinstance(duration, int | float) and duration > 0:
        yield Row(
            "results_mean_output_throughput_token_per_s",
            "value",
            float(np.nansum(out_tok[ok])) / float(duration),
            None,
            WHY["throughput"],
        )
