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
    ours = reqs.ours
    ours_ttft = ours["ttft_s"].to_numpy(dtype=float) * 1e9
    ours_e2e = ours["e2e_s"].to_numpy(dtype=float) * 1e9
    ours_tpot = ours["tpot_s"].to_numpy(dtype=float) * 1e9
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
        if tokens:
            out_tokens = float(np.nansum(osl[counted]))
            yield Row(
                "output_token_throughput",
                "avg",
                out_tokens / duration_s,
                cap.tps_cluster_mean,
                WHY["output_token_throughput"],
            )
