"""AIPerf's own metric definitions, recomputed from imported requests (parity with its summary).

From AIPerf 0.13 (``aiperf/metrics/types/``, ``aiperf/metrics/metric_dicts.py``):

- valid records only (no error, at least one content response; ``ParsedResponseRecord.valid``) feed every
  latency statistic, ``request_count`` and the duration; invalid ones count in ``error_request_count``;
- TTFT (``ttft_metric.py``): first content response - request start; TTST (``ttst_metric.py``): second -
  first content response; request latency (``request_latency_metric.py``): *last content* response - start
  (not ``[DONE]`` nor the usage chunk); inter-chunk latency: gaps between content responses, pooled;
- ITL (``inter_token_latency_metric.py``): ``(request_latency - TTFT) / (OSL - 1)`` for OSL >= 2, where OSL
  (``output_sequence_length_metric.py``) is output + reasoning tokens from AIPerf's client tokenizer (server
  usage with ``--use-server-token-count``); per-user throughput = 1 / ITL;
- duration (``benchmark_duration_metric.py``): ``max(start + request_latency) - min(start)`` over valid
  records, wall clock; the throughputs divide by the profiling phase's window instead when there is one
  (``MetricResultsDict.observation_duration``; 0.13 always sets it: phase start to phase end, read from
  ``phase_manifest.json`` or the summary's ``start_time``/``end_time``), else by the duration;
- statistics (``metric_result_from_array``): linear interpolation between closest ranks (NumPy's default),
  population std (ddof 0), in ns and then scaled to the display unit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from traceanalyzer.model import Analysis
from traceanalyzer.parity.methods import TIME_UNITS_NS
from traceanalyzer.parity.requests import PeerRequests
from traceanalyzer.parity.rows import distribution_rows
from traceanalyzer.parity.stage import Row

STATS = ("avg", "min", "max", "std", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99")

SAME = "same definition as ours"
WHY: dict[str, str] = {
    "time_to_first_token": f"{SAME}: first content chunk minus request start, linear percentiles.",
    "time_to_second_token": "we have no time-to-second-token metric; ours shows the first inter-chunk gap.",
    "request_latency": f"{SAME} (our E2E): last content chunk minus request start, not the [DONE] line.",
    "inter_token_latency": "AIPerf's ITL is our TPOT: (last chunk - first chunk) / (output tokens - 1), "
    "one value per request.",
    "inter_chunk_latency": "AIPerf's inter-chunk latency is our ITL: every gap between content chunks.",
    "output_token_throughput_per_user": "our per-request decode speed, 1 / TPOT: the same quantity.",
    "output_sequence_length": "the same token counts: the import keeps AIPerf's output sequence length.",
    "input_sequence_length": "the same token counts: the import keeps AIPerf's input sequence length.",
    "request_count": "ours counts every successful request; AIPerf counts valid records (no error, some "
    "content).",
    "error_request_count": "ours counts every failed request; AIPerf counts invalid records.",
    "benchmark_duration": "ours spans first send to last end of any request (failures and the [DONE] line "
    "included); AIPerf spans first valid start to last valid content chunk.",
    "request_throughput": "ours is the mean of windowed QPS (completions per window); AIPerf divides valid "
    "requests by its profiling phase's length (first credit to phase end).",
    "output_token_throughput": "ours is the mean of windowed cluster TPS (tokens by chunk arrival); AIPerf "
    "divides all valid output tokens by its profiling phase's length.",
    "total_token_throughput": "we do not count prompt tokens into throughput; AIPerf adds input and output "
    "tokens over its profiling phase's length.",
    "total_output_tokens": "the same sum of output tokens over successful requests.",
    "total_osl": "the same sum of output tokens over successful requests.",
    "total_isl": "the same sum of prompt tokens over successful requests.",
}


def _scale(unit: str) -> float:
    """ns per ``unit`` for time units, 1 for counts and rates."""
    return TIME_UNITS_NS.get(unit, 1.0)


def _units(peer: dict[str, Any]) -> dict[str, str]:
    return {str(m["name"]): str(m.get("unit") or "") for m in peer.get("metrics") or []}


def rows(peer: dict[str, Any], reqs: PeerRequests, analysis: Analysis) -> Iterable[Row]:
    """Every number of AIPerf's summary this import can rebuild, with ours."""
    units = _units(peer)
    lat = reqs.last_chunk_ns()
    valid = reqs.ok & np.isfinite(lat)
    ok = reqs.ours["ok"].to_numpy(dtype=bool)
    send = reqs.ns("t_send")
    ttft = reqs.ns("t_first") - send
    osl = reqs.floats("output_tokens")
    isl = reqs.floats("prompt_tokens")
    with np.errstate(invalid="ignore", divide="ignore"):
        itl = np.where(osl >= 2, (lat - ttft) / (osl - 1), np.nan)
        per_user = 1e9 / itl
    ours_ttft, ours_e2e, ours_tpot = (reqs.ours_ns(c) for c in ("ttft_s", "e2e_s", "tpot_s"))
    with np.errstate(divide="ignore"):
        ours_speed = 1e9 / ours_tpot

    def dist(name: str, tool_ns: np.ndarray, our_ns: np.ndarray | None) -> Iterable[Row]:
        if name not in units:
            return ()
        scale = _scale(units[name])
        return distribution_rows(
            name,
            STATS,
            tool_ns[valid] / scale if tool_ns.size == valid.size else tool_ns / scale,
            None if our_ns is None else (our_ns[ok] if our_ns.size == ok.size else our_ns) / scale,
            WHY[name],
        )

    yield from dist("time_to_first_token", ttft, ours_ttft)
    yield from dist("time_to_second_token", reqs.second_chunk_gap_ns(), reqs.second_chunk_gap_ns())
    yield from dist("request_latency", lat, ours_e2e)
    yield from dist("inter_token_latency", itl, ours_tpot)
    yield from dist("inter_chunk_latency", reqs.chunk_gaps_ns(valid), reqs.chunk_gaps_ns(ok))
    yield from dist("output_token_throughput_per_user", per_user, ours_speed)
    yield from dist("output_sequence_length", osl, osl)
    yield from dist("input_sequence_length", isl, isl)

    n_valid = int(valid.sum())
    if n_valid:
        duration_ns = float(np.max(send[valid] + lat[valid]) - np.min(send[valid]))
        dur_s = duration_ns / 1e9
        out_tokens = float(np.nansum(osl[valid]))
        in_tokens = float(np.nansum(isl[valid]))
        window = (peer.get("context") or {}).get("window") or {}
        if isinstance(window.get("start_ns"), int) and isinstance(window.get("end_ns"), int):
            rate_s = (window["end_ns"] - window["start_ns"]) / 1e9
        elif isinstance(window.get("length_ns"), int):
            rate_s = window["length_ns"] / 1e9
        else:
            rate_s = dur_s
        cap = analysis.capacity
        our_out = float(np.nansum(osl[ok]))
        scalars: list[tuple[str, float | None, float | None]] = [
            ("request_count", float(n_valid), float(ok.sum())),
            ("error_request_count", float(reqs.n - n_valid), float(reqs.n - ok.sum())),
            (
                "benchmark_duration",
                duration_ns / _scale(units.get("benchmark_duration", "sec")),
                analysis.capture.duration_s * 1e9 / _scale(units.get("benchmark_duration", "sec")),
            ),
            ("request_throughput", n_valid / rate_s, cap.qps.mean),
            ("output_token_throughput", out_tokens / rate_s, cap.tps_cluster_mean),
            ("total_token_throughput", (in_tokens + out_tokens) / rate_s, None),
            ("total_osl", out_tokens, our_out),
            ("total_output_tokens", out_tokens, our_out),
            ("total_isl", in_tokens, float(np.nansum(isl[ok]))),
        ]
        for name, recomputed, mine in scalars:
            yield Row(name, "avg", recomputed, mine, WHY[name])
