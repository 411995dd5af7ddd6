"""GuideLLM's own metric definitions, recomputed from imported requests (parity with its report).

From GuideLLM 0.8.1:

- which requests (``benchmark/schemas/metrics.py::GenerativeMetrics.compile``, ``accumulator.py::
  get_within_range``): those overlapping the measurement window ``[measure_start_time, measure_end_time]``
  (``request_end >= start and request_start <= end``); TTFT uses requests whose *first token* falls after the
  window start, ITL those whose first token falls before its end;
- per request (``schemas/base/request_stats.py``): ``request_latency = request_end - request_start`` (s);
  ``time_to_first_token_ms = first_token_iteration - request_start`` (a missing value counts as 0);
  ``time_per_output_token_ms = (last_token_iteration - request_start) / output_tokens``, weighted by
  output tokens (it includes TTFT); ``inter_token_latency_ms = (last_token - first_token) / (output_tokens -
  1)``, weighted by ``output_tokens - 1``;
- statistics (``schemas/base/statistics.py::DistributionSummary.from_values``): values sorted, equal values
  merged (weights summed), zero weights dropped, mean and population std weighted, percentiles
  ``values[searchsorted(cumsum(p), q, side="left")]`` (no interpolation), median = p50;
- ``requests_per_second`` mean: successful requests ending inside the window / window length
  (``rate_distribution_from_timings``: duration-weighted rates between the inserted window bounds).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from traceanalyzer.model import Analysis
from traceanalyzer.parity.methods import (
    Values,
    numpy_linear,
    percentile_of,
    weighted_distribution,
    weighted_inverse_cdf,
)
from traceanalyzer.parity.requests import PeerRequests
from traceanalyzer.parity.stage import Row

PERCENTILES = ("p001", "p01", "p05", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "p999")

WHY: dict[str, str] = {
    "request_totals": "the same requests: GuideLLM counts those overlapping its measurement window.",
    "request_latency": "GuideLLM's latency runs to the end of the stream ([DONE] included); ours ends at the "
    "last text chunk, which this export does not record, so ours uses the same end.",
    "time_to_first_token_ms": "same trigger (first content or reasoning delta); GuideLLM counts a missing "
    "TTFT as 0 and takes percentiles without interpolation, ours interpolates.",
    "time_per_output_token_ms": "GuideLLM's TPOT includes TTFT ((last token - start) / tokens, "
    "token-weighted); ours is (last - first token) / (tokens - 1), per request.",
    "inter_token_latency_ms": "GuideLLM's ITL is our TPOT, but weighted by tokens - 1 and read without "
    "interpolation; our ITL (chunk gaps) cannot be measured from this export.",
    "prompt_token_count": "the same token counts (server usage).",
    "output_token_count": "the same token counts (server usage).",
    "requests_per_second": "GuideLLM divides requests ending in its measurement window by the window; ours "
    "averages per-window QPS over the run.",
}


def _weighted_stats(name: str, values: Values, weights: Values, ours: Values | None) -> Iterable[Row]:
    uniq, probs = weighted_distribution(values, weights)
    if uniq.size == 0:
        return
    mean = float(np.sum(uniq * probs))
    tool = {
        "mean": mean,
        "std_dev": float(np.sqrt(np.sum((uniq - mean) ** 2 * probs))),
        "min": float(uniq[0]),
        "max": float(uniq[-1]),
        "median": weighted_inverse_cdf(uniq, probs, 50.0),
    }
    tool.update({p: weighted_inverse_cdf(uniq, probs, percentile_of(p)) for p in PERCENTILES})
    mine = ours[np.isfinite(ours)] if ours is not None else np.empty(0)
    for stat, value in tool.items():
        our_value: float | None = None
        if mine.size:
            if stat == "mean":
                our_value = float(np.mean(mine))
            elif stat == "std_dev":
                our_value = float(np.std(mine))
            elif stat in ("min", "max"):
                our_value = float(np.min(mine) if stat == "min" else np.max(mine))
            else:
                our_value = numpy_linear(mine, 50.0 if stat == "median" else percentile_of(stat))
        yield Row(name, stat, value, our_value, WHY[name])


def rows(peer: dict[str, Any], reqs: PeerRequests, analysis: Analysis) -> Iterable[Row]:
    """Every number of GuideLLM's benchmark this import can rebuild, with ours."""
    ctx = peer.get("context") or {}
    window = ctx.get("window") or {}
    if not isinstance(window.get("start_ns"), int) or not isinstance(window.get("end_ns"), int):
        return
    ws, we = window["start_ns"] - reqs.t0_ns, window["end_ns"] - reqs.t0_ns
    per = ctx.get("per_request") or {}
    last_by_id = dict(zip(per.get("id") or [], per.get("last_token_ns") or [], strict=False))
    ids = reqs.table.column("id").to_pylist()
    last = np.array(
        [np.nan if last_by_id.get(i) is None else last_by_id[i] - reqs.t0_ns for i in ids], dtype=float
    )
    start, first, end = reqs.ns("t_send"), reqs.ns("t_first"), reqs.ns("t_end")
    out_tok = reqs.floats("output_tokens")
    prompt = reqs.floats("prompt_tokens")
    ok = reqs.ok
    errors = reqs.table.column("error_class").to_pylist()
    incomplete = np.array([e == "aborted" for e in errors])
    errored = ~ok & ~incomplete
    overlap = (end >= ws) & (start <= we)
    succ = ok & overlap
    ttft_sel = ok & np.isfinite(first) & (first >= ws) & (start <= we)
    itl_sel = ok & (end >= ws) & (np.where(np.isfinite(first), first, end) <= we)

    counts = {"successful": succ, "errored": errored & overlap, "incomplete": incomplete & overlap}
    for status, mask in counts.items():
        yield Row("request_totals", status, float(mask.sum()), None, WHY["request_totals"])
    yield Row(
        "request_totals",
        "total",
        float(sum(m.sum() for m in counts.values())),
        float(reqs.n),
        WHY["request_totals"],
    )

    ours = reqs.ours
    one = np.ones(reqs.n)
    latency = np.nan_to_num((end - start) / 1e9)
    yield from _weighted_stats("request_latency", latency[succ], one[succ], ours["e2e_s"].to_numpy(float)[ok])
    ttft = np.nan_to_num((first - start) / 1e6)
    yield from _weighted_stats(
        "time_to_first_token_ms", ttft[ttft_sel], one[ttft_sel], ours["ttft_s"].to_numpy(float)[ok] * 1e3
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(out_tok > 0, (np.where(np.isfinite(last), last, end) - start) / 1e6 / out_tok, np.nan)
        itl = np.where(out_tok > 1, (last - first) / 1e6 / (out_tok - 1), np.nan)
    our_tpot = itl[ok]  # ours: (last token - first token) / (tokens - 1), the quantity GuideLLM calls ITL
    yield from _weighted_stats(
        "time_per_output_token_ms", np.nan_to_num(tpot[succ]), np.nan_to_num(out_tok[succ]), our_tpot
    )
    itl_w = np.nan_to_num(out_tok, nan=1.0) - 1.0
    yield from _weighted_stats(
        "inter_token_latency_ms", np.nan_to_num(itl[itl_sel]), itl_w[itl_sel], our_tpot
    )
    yield from _weighted_stats("prompt_token_count", np.nan_to_num(prompt[succ]), one[succ], prompt[ok])
    yield from _weighted_stats("output_token_count", np.nan_to_num(out_tok[succ]), one[succ], out_tok[ok])
    in_window = succ & (end >= ws) & (end <= we)
    rate = float(in_window.sum()) / ((we - ws) / 1e9) if we > ws else None
    yield Row("requests_per_second", "mean", rate, analysis.capacity.qps.mean, WHY["requests_per_second"])
