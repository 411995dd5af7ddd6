"""EvalScope perf's own metric definitions, recomputed from imported requests (parity with its summaries).

From EvalScope 1.14 (``perf/utils/benchmark_util.py::MetricsAccumulator``, ``perf/utils/db_util.py``):

- every non-warmup request is stored; successful ones feed the averages; the wall time is max(completed) -
  min(start) over every request with a valid interval, failures included (``_update_wall_time``);
- TTFT (``first_chunk_latency``) = first SSE chunk with ``choices`` (an empty role delta counts) - start;
  latency = completed - start, completed being the last non-[DONE] chunk (a trailing usage chunk counts);
  ITL = gaps between those chunks, pooled; TPOT = (latency - TTFT) / (tokens - 1);
- summary (``create_message``): averages rounded to 4 decimals, TTFT / TPOT / ITL in ms rounded to 2; TTFT
  and TPOT averaged over streamed successes (TPOT only with more than one token);
- percentiles (``calculate_percentiles``): nearest rank, ``sorted[ceil(n * p / 100) - 1]``, rounded to 4
  decimals; ``min`` and ``max`` are p0 and p100.

Rounded values match when the recomputed value, rounded the same way, is within 0.1 % or half a unit of the
last printed digit; ITL percentiles also within 1 us, the resolution of chunk times in a trace.
"""

from __future__ import annotations

import math
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

WHY: dict[str, str] = {
    "TTFT": "EvalScope's TTFT stops at the first chunk with choices, often an empty role delta, so its "
    "chunks (and this import's) start there; ours would stop at the first text.",
    "ITL": "the same pooled chunk gaps, but EvalScope counts the role chunk and a trailing usage chunk (gaps "
    "rebuilt from whole-microsecond chunk times match within 1 us).",
    "TPOT": "the same formula as ours, with EvalScope's end (a trailing usage chunk included).",
    "Latency": "EvalScope's latency ends at the last non-[DONE] chunk (usage included); ours at the last "
    "text chunk.",
    "tokens": "the same server token counts.",
    "rate": "EvalScope divides by first start to last completion over all requests; ours averages windows.",
    "count": "the same split of successful and failed requests.",
    "per_request_rate": "we have no per-request token rate; ours shows per-request TPS (tokens / E2E).",
    "decode": "our per-request decode speed, 1 / TPOT.",
}


def _half_unit(decimals: int) -> float:
    return 0.5 * 10.0**-decimals


def _rounded_row(
    name: str, stat: str, value: float | None, ours: float | None, why: str, decimals: int, floor: float = 0.0
) -> Row:
    """A row whose tool value EvalScope rounded to ``decimals``: the recomputed value is rounded the same way
    and matches within 0.1 %, half a unit of the last digit, or ``floor`` (absolute, in the row's unit)."""
    if value is None or not math.isfinite(value):
        return Row(name, stat, None, ours, why)
    shown = round(value, decimals)
    slack = max(_half_unit(decimals), floor)
    tolerance = max(MATCH_REL_DIFF, slack / abs(shown)) if shown else slack
    return Row(name, stat, shown, ours, f"{why} EvalScope rounds to {decimals} decimals.", tolerance)


def nearest_rank(values: Values, p: float) -> float:
    """``sorted[max(0, ceil(n * p / 100) - 1)]``, p >= 100 the last (EvalScope ``calculate_percentiles``)."""
    data = np.sort(values)
    if p >= 100:
        return float(data[-1])
    return float(data[max(0, math.ceil(len(data) * p / 100) - 1)])


def _percentile_rows(
    name: str, tool: Values, ours: Values | None, why: str, labels: list[str], floor: float = 0.0
) -> Iterable[Row]:
    vals = clean(tool)
    mine = clean(ours) if ours is not None else np.empty(0)
    for label in labels:
        p = 0.0 if label == "min" else 100.0 if label == "max" else float(label.rstrip("%"))
        value = nearest_rank(vals, p) if vals.size else None
        our = numpy_linear(mine, p) if mine.size else None
        yield _rounded_row(name, label, value, our, why, 4, floor)


def rows(peer: dict[str, Any], reqs: PeerRequests, analysis: Analysis) -> Iterable[Row]:
    """Every number of EvalScope's summaries this import can rebuild, with ours."""
    ok = reqs.ok
    send, end = reqs.ns("t_send"), reqs.ns("t_end")
    latency = (end - send) / 1e9
    first = (reqs.ns("t_first") - send) / 1e9
    out_tok, in_tok = reqs.floats("output_tokens"), reqs.floats("prompt_tokens")
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(out_tok > 1, (latency - first) / (out_tok - 1), 0.0)
    gaps = reqs.chunk_gaps_ns(ok) / 1e9
    valid = end > send
    wall = (np.max(end[valid]) - np.min(send[valid])) / 1e9 if valid.any() else 0.0
    n_ok = int(ok.sum())
    ours = reqs.ours
    our_e2e = ours["e2e_s"].to_numpy(float)[ok]
    our_ttft = ours["ttft_s"].to_numpy(float)[ok]
    our_tpot = ours["tpot_s"].to_numpy(float)[ok]
    cap = analysis.capacity
    scalar: list[tuple[str, float | None, float | None, str, int]] = [
        ("Test Duration (s)", wall, analysis.capture.duration_s, WHY["rate"], 4),
        ("Total Requests", float(reqs.n), float(analysis.requests.total), WHY["count"], 0),
        ("Success Requests", float(n_ok), float(analysis.requests.ok), WHY["count"], 0),
        ("Failed Requests", float(reqs.n - n_ok), float(analysis.requests.failed), WHY["count"], 0),
        ("Req Throughput (req/s)", n_ok / wall if wall else None, cap.qps.mean, WHY["rate"], 4),
        ("Avg Latency (s)", float(np.mean(latency[ok])), float(np.nanmean(our_e2e)), WHY["Latency"], 4),
        ("Avg Input Tokens", float(np.nanmean(in_tok[ok])), float(np.nanmean(in_tok[ok])), WHY["tokens"], 4),
        (
            "Avg Output Tokens",
            float(np.nanmean(out_tok[ok])),
            float(np.nanmean(out_tok[ok])),
            WHY["tokens"],
            4,
        ),
        (
            "Output Throughput (tok/s)",
            np.nansum(out_tok[ok]) / wall if wall else None,
            cap.tps_cluster_mean,
            WHY["rate"],
            4,
        ),
        (
            "Total Throughput (tok/s)",
            (np.nansum(out_tok[ok]) + np.nansum(in_tok[ok])) / wall if wall else None,
            None,
            WHY["rate"],
            4,
        ),
        ("Avg TTFT (ms)", float(np.mean(first[ok])) * 1e3, float(np.nanmean(our_ttft)) * 1e3, WHY["TTFT"], 2),
        (
            "Avg TPOT (ms)",
            float(np.mean(tpot[ok & (out_tok > 1)])) * 1e3,
            float(np.nanmean(our_tpot)) * 1e3,
            WHY["TPOT"],
            2,
        ),
        (
            "Avg ITL (ms)",
            float(np.mean(gaps)) * 1e3 if gaps.size else 0.0,
            float(np.mean(gaps)) * 1e3 if gaps.size else None,
            WHY["ITL"],
            2,
        ),
    ]
    for name, value, mine, why, decimals in scalar:
        yield _rounded_row(name, "value", None if value is None else float(value), mine, why, decimals)

    labels = sorted({str(m["stat"]) for m in peer.get("metrics") or [] if m.get("stat") != "value"})
    if not labels:
        return
    with np.errstate(invalid="ignore", divide="ignore"):
        per_request: list[tuple[str, Values, Values | None, str]] = [
            ("TTFT (ms)", first[ok] * 1e3, our_ttft * 1e3, WHY["TTFT"]),
            ("ITL (ms)", gaps * 1e3, gaps * 1e3, WHY["ITL"]),
            ("TPOT (ms)", np.where(tpot[ok] > 0, tpot[ok] * 1e3, np.nan), our_tpot * 1e3, WHY["TPOT"]),
            ("Latency (s)", latency[ok], our_e2e, WHY["Latency"]),
            ("Input tokens", in_tok[ok], in_tok[ok], WHY["tokens"]),
            ("Output tokens", out_tok[ok], out_tok[ok], WHY["tokens"]),
            (
                "Output (tok/s)",
                np.where(latency[ok] > 0, out_tok[ok] / latency[ok], np.nan),
                out_tok[ok] / our_e2e,
                WHY["per_request_rate"],
            ),
            (
                "Total (tok/s)",
                np.where(latency[ok] > 0, (out_tok[ok] + in_tok[ok]) / latency[ok], np.nan),
                None,
                WHY["per_request_rate"],
            ),
            ("Decode (tok/s)", np.where(tpot[ok] > 0, 1.0 / tpot[ok], np.nan), 1.0 / our_tpot, WHY["decode"]),
        ]
    for name, tool_values, our_values, why in per_request:
        # Chunk gaps come from chunk times kept in whole microseconds (trace schema): 1 us of slack.
        floor = CHUNK_RESOLUTION_MS if name == "ITL (ms)" else 0.0
        yield from _percentile_rows(name, tool_values, our_values, why, labels, floor)
