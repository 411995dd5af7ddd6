"""Layer 1, user-perceived latency (DESIGN section 4): TTFT, TPOT, ITL and E2E over successful requests.

- TTFT (s) = ``t_first - t_send``.
- E2E latency (s) = time of the last text chunk - ``t_send`` (``t_send + chunks_us[-1]``; ``t_end - t_send``
  when no chunk offsets were recorded). ``t_end`` is kept separately.
- TPOT (s, per request) = ``(last chunk - t_first) / (output_tokens - 1)``, requests with >= 2 output tokens.
- ITL (s) = gaps between consecutive text chunks (``chunks_us[i + 1] - chunks_us[i]``), pooled over all
  successful requests (vLLM's ITL, AIPerf's inter-chunk latency). Counted per distinct gap in microseconds
  in one numpy pass over the Arrow list buffers (:mod:`traceanalyzer.metrics.chunks`), so the percentiles of
  ~100 million gaps are exact without sorting them.
- Statistics: p50 p90 p95 p99 p99.9 with linear interpolation, min, max, mean, population std, count.
  Failures are counted by the error metrics, not here.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from traceanalyzer.metrics.context import StageContext
from traceanalyzer.metrics.stats import describe, describe_counts, quantile_grid, quantile_grid_from_counts
from traceanalyzer.model import Analysis, Distributions, LatencyResult, RequestRef, Stats


def itl(ctx: StageContext) -> tuple[Stats, tuple[float, ...]]:
    """ITL statistics (seconds) and its downsampled quantile function: pooled gaps between consecutive text
    chunks of successful requests, exact (linear-interpolation percentiles over every gap)."""
    result = ctx.chunks()
    gaps_us, counts = result.gap_values_us, result.gap_counts
    return (
        describe_counts(gaps_us, counts, scale=1e-6),
        quantile_grid_from_counts(gaps_us, counts, ctx.options.distribution_points, scale=1e-6),
    )


def ttft_s(ok: pd.DataFrame) -> np.ndarray:
    """TTFT = t_first - t_send of each successful request that received text (seconds)."""
    return ok["ttft_s"].to_numpy(dtype=float)


def e2e_s(ok: pd.DataFrame) -> np.ndarray:
    """E2E = last text chunk - t_send of each successful request (seconds)."""
    return ok["e2e_s"].to_numpy(dtype=float)


def tpot_s(ok: pd.DataFrame) -> np.ndarray:
    """TPOT = (last chunk - t_first) / (output_tokens - 1) of each successful request with >= 2 output tokens
    (seconds per token)."""
    return ok["tpot_s"].to_numpy(dtype=float)


def tps_per_request(ok: pd.DataFrame) -> np.ndarray:
    """Per-request TPS = output_tokens / E2E (tokens/s), successful requests with E2E > 0."""
    e2e = ok["e2e_s"].to_numpy(dtype=float)
    tokens = ok["output_tokens"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(e2e > 0, tokens / e2e, np.nan)


def decode_speed(ok: pd.DataFrame) -> np.ndarray:
    """Per-request decode speed = 1 / TPOT (tokens/s), requests with a TPOT > 0."""
    tpot = ok["tpot_s"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tpot > 0, 1.0 / tpot, np.nan)


def slowest(ctx: StageContext, ok: pd.DataFrame) -> tuple[RequestRef, ...]:
    """The ``top_n`` successful requests with the longest E2E, slowest first."""
    top = ok.dropna(subset=["e2e_s"]).nlargest(ctx.options.top_n, "e2e_s")
    return tuple(ctx.request_ref(int(row)) for row in top["row"])


def latency_stage(ctx: StageContext, analysis: Analysis) -> Analysis:
    """TTFT, TPOT, ITL, E2E statistics and distributions; slowest requests; share of slow TTFTs."""
    ok = ctx.ok
    points = ctx.options.distribution_points
    ttft, e2e, tpot = ttft_s(ok), e2e_s(ok), tpot_s(ok)
    itl_stats, itl_grid = itl(ctx)
    ttft_stats = describe(ttft)
    slow_share = None
    slow_bound = ctx.options.slo.ttft_slow_s
    if slow_bound is not None and ttft_stats.count:
        known = ttft[np.isfinite(ttft)]
        slow_share = float((known > slow_bound).mean())
    if len(ok) and not ttft_stats.count:
        ctx.note("latency", "not measured: TTFT, no successful request recorded a first text chunk")
    tpot_stats = describe(tpot)
    if ttft_stats.count and not tpot_stats.count:
        ctx.note("latency", "not measured: TPOT, no successful request produced two or more output tokens")
    if ttft_stats.count and not itl_stats.count:
        ctx.note("latency", "not measured: ITL, no successful request recorded two or more chunk offsets")
    latency = LatencyResult(
        ttft_s=ttft_stats, tpot_s=tpot_stats, itl_s=itl_stats, e2e_s=describe(e2e), slow_ttft_share=slow_share
    )
    distributions = Distributions(
        ttft_s=quantile_grid(ttft, points),
        tpot_s=quantile_grid(tpot, points),
        itl_s=itl_grid,
        e2e_s=quantile_grid(e2e, points),
        tps_per_request=quantile_grid(tps_per_request(ok), points),
    )
    return dataclasses.replace(
        analysis, latency=latency, distributions=distributions, slowest=slowest(ctx, ok)
    )
