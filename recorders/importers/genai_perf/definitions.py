"""GenAI-Perf's own metric definitions, recomputed from imported requests (parity with its summary).

From GenAI-Perf 0.0.16 (``profile_data_parser/llm_profile_data_parser.py::_parse_requests``,
``metrics/statistics.py``):

- only requests with at least one response with text count (the others are skipped); responses without text
  are dropped first, so every time below uses the import's ``chunks_us``;
- request latency = last text response - send; TTFT = first text response - send; time to second token =
  second - first text response (requests with two or more);
- output sequence length = tokens of the whole answer text, input sequence length = tokens of the prompt
  text, both counted by GenAI-Perf's tokenizer without special tokens (the import counts them the same way
  when that tokenizer is on this machine; else these numbers get no row);
- ITL = ``round((latency - TTFT) / (OSL - 1))`` ns, only with two or more text responses and OSL > 1; output
  token throughput per user = 1 / ITL (in s);
- duration = last text response - first send over the counted requests; request throughput = *every*
  request of the experiment / duration; output token throughput = sum of OSL / duration; request count =
  the counted requests;
- goodput (``goodput_calculator/llm_goodput_calculator.py``, ``--goodput NAME:VALUE``): a request is good when
  each of its time values is at most the SLO (ms) and its per-user throughput at least the SLO; the values are
  GenAI-Perf's per-request lists *zipped*, so when one list is shorter (time to second token, ITL: not every
  request has one) the requests are paired by list position, not by request, and the count stops at the
  shortest list; an unknown SLO name gives -1; request goodput = good / duration;
- statistics: ``np.mean``, ``np.percentile`` (linear) for p1 ... p99, min, max, ``np.std`` (ddof 0), in ns and
  then scaled to ms for the time metrics.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow.compute as pc

from traceanalyzer.model import Analysis
from traceanalyzer.parity.methods import TIME_UNITS_NS
from traceanalyzer.parity.requests import PeerRequests
from traceanalyzer.parity.rows import distribution_rows
from traceanalyzer.parity.stage import Row

STATS = ("avg", "min", "max", "std", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99")

WHY: dict[str, str] = {
    "time_to_first_token": "same definition as ours: first chunk with text minus request sent.",
    "time_to_second_token": "we have no time-to-second-token metric; ours shows the first gap between text "
    "chunks.",
    "request_latency": "same definition as ours (our E2E): last chunk with text minus request sent, not the "
    "[DONE] line.",
    "inter_token_latency": "GenAI-Perf's ITL is our TPOT: (last - first text chunk) / (output tokens - 1) "
    "per request, rounded to whole ns.",
    "output_token_throughput_per_user": "our per-request decode speed, 1 / TPOT: the same quantity.",
    "output_sequence_length": "the same token counts: GenAI-Perf's tokenizer counted the answer text.",
    "input_sequence_length": "the same token counts: GenAI-Perf's tokenizer counted the prompt text.",
    "request_count": "ours counts every successful request; GenAI-Perf counts requests with some text.",
    "request_throughput": "ours is the mean of windowed QPS (completions per window); GenAI-Perf divides "
    "every exported request by first send to last text chunk.",
    "output_token_throughput": "ours is the mean of windowed cluster TPS (tokens by chunk arrival); "
    "GenAI-Perf divides all output tokens by first send to last text chunk.",
    "request_goodput": "ours is the rate of successful requests meeting our SLOs; GenAI-Perf divides "
    "requests meeting its --goodput SLOs by first send to last text chunk.",
}
#: GenAI-Perf's goodput SLO names -> (per-request list, larger is better).
GOODPUT_SLOS: dict[str, tuple[str, bool]] = {
    "time_to_first_token": ("ttft", False),
    "time_to_second_token": ("ttst", False),
    "inter_token_latency": ("itl", False),
    "request_latency": ("latency", False),
    "output_token_throughput_per_user": ("per_user", True),
}
TOKEN_METRICS = (
    "output_sequence_length",
    "input_sequence_length",
    "inter_token_latency",
    "output_token_throughput_per_user",
    "output_token_throughput",
)


def _units(peer: dict[str, Any]) -> dict[str, str]:
    return {str(m["name"]): str(m.get("unit") or "") for m in peer.get("metrics") or []}


def _tokenizer_counts(reqs: PeerRequests, counted: np.ndarray) -> bool:
    """Whether every counted request's tokens were counted by GenAI-Perf's tokenizer."""
    if "tokens_source" not in reqs.table.column_names or not counted.any():
        return False
    source = reqs.table.column("tokens_source")
    is_tok = np.asarray(pc.fill_null(pc.equal(source, "tokenizer"), False).to_numpy(zero_copy_only=False))
    return bool(np.all(is_tok[counted]))


def rows(peer: dict[str, Any], reqs: PeerRequests, analysis: Analysis) -> Iterable[Row]:
    """Every number of GenAI-Perf's summary this import can rebuild, with ours."""
    units = _units(peer)
    send = reqs.ns("t_send")
    ttft = reqs.ns("t_first") - send
    lat = reqs.last_chunk_ns()
    whole = np.isnan(lat) & np.isfinite(ttft)  # an answer not streamed: one response, at t_first
    lat[whole] = ttft[whole]
    counted = np.isfinite(lat)
    ok = reqs.ok
    n_chunks = np.array([c.size for c in reqs.chunk_offsets_ns])
    osl = reqs.floats("output_tokens")
    isl = reqs.floats("prompt_tokens")
    tokens = _tokenizer_counts(reqs, counted)
    with np.errstate(invalid="ignore", divide="ignore"):
        itl = np.where((n_chunks > 1) & (osl > 1), np.round((lat - ttft) / (osl - 1)), np.nan)
        per_user = 1.0 / (itl / 1e9)
    ours_ttft, ours_e2e, ours_tpot = (reqs.ours_ns(c) for c in ("ttft_s", "e2e_s", "tpot_s"))
    with np.errstate(divide="ignore"):
        ours_speed = 1e9 / ours_tpot
    second = reqs.second_chunk_gap_ns()

    def dist(name: str, tool: np.ndarray, mine: np.ndarray | None) -> Iterable[Row]:
        if name not in units or (name in TOKEN_METRICS and not tokens):
            return ()
        scale = TIME_UNITS_NS.get(units[name], 1.0)
        return distribution_rows(
            name, STATS, tool[counted] / scale, None if mine is None else mine[ok] / scale, WHY[name]
        )

    yield from dist("time_to_first_token", ttft, ours_ttft)
    yield from dist("time_to_second_token", second, second)
    yield from dist("request_latency", lat, ours_e2e)
    yield from dist("inter_token_latency", itl, ours_tpot)
    yield from dist("output_token_throughput_per_user", per_user, ours_speed)
    yield from dist("output_sequence_length", osl, osl)
    yield from dist("input_sequence_length", isl, isl)

    n_counted = int(counted.sum())
    if not n_counted:
        return
    duration_s = float(np.max(send[counted] + lat[counted]) - np.min(send[counted])) / 1e9
    cap = analysis.capacity
    yield Row("request_count", "avg", float(n_counted), float(ok.sum()), WHY["request_count"])
    if duration_s > 0:
        yield Row("request_throughput", "avg", reqs.n / duration_s, cap.qps.mean, WHY["request_throughput"])
        slos = (peer.get("context") or {}).get("goodput") or {}
        if slos and (tokens or not {"inter_token_latency", "output_token_throughput_per_user"} & set(slos)):
            order = _export_order(reqs)
            order = order[counted[order]]
            lists = {
                "ttft": ttft[order],
                "ttst": second[order][np.isfinite(second[order])],
                "latency": lat[order],
                "itl": itl[order][np.isfinite(itl[order])],
                "per_user": per_user[order][np.isfinite(per_user[order])],
            }
            good = _good_requests(slos, lists)
            yield Row(
                "request_goodput",
                "avg",
                -1.0 if good is None else good / duration_s,
                cap.goodput_rps,
                WHY["request_goodput"],
            )
        if tokens:
            out_tokens = float(np.nansum(osl[counted]))
            yield Row(
                "output_token_throughput",
                "avg",
                out_tokens / duration_s,
                cap.tps_cluster_mean,
                WHY["output_token_throughput"],
            )


def _export_order(reqs: PeerRequests) -> np.ndarray:
    """Row positions in the order of perf_analyzer's export (the number ending each imported request id)."""
    ids = reqs.table.column("id").to_pylist()
    try:
        keys = [int(str(i).rsplit("-", 1)[1]) for i in ids]
    except (IndexError, ValueError):
        return np.arange(reqs.n)
    return np.argsort(np.asarray(keys), kind="stable")


def _good_requests(slos: dict[str, Any], lists: dict[str, np.ndarray]) -> int | None:
    """``LLMGoodputCalculator._count_good_reqs``: the per-request lists of the SLOs' metrics zipped by
    position (time values in ns against SLO ms x 1e6); None for an unknown SLO name (GenAI-Perf: -1)."""
    if any(name not in GOODPUT_SLOS for name in slos):
        return None
    time = [(lists[GOODPUT_SLOS[n][0]], float(v) * 1e6) for n, v in slos.items() if not GOODPUT_SLOS[n][1]]
    rate = [(lists[GOODPUT_SLOS[n][0]], float(v)) for n, v in slos.items() if GOODPUT_SLOS[n][1]]
    n_time = min((values.size for values, _ in time), default=0)
    n = min((values.size for values, _ in rate), default=0) if rate else n_time
    good = 0
    for idx in range(n):
        slow = idx < n_time and any(values[idx] > slo for values, slo in time)
        if not slow and not any(values[idx] < slo for values, slo in rate):
            good += 1
    return good
