"""The metric definitions printed in the report's appendix: DESIGN section 4 in the reader's words.

Text only; the formulas are computed (and documented next to their code) in ``traceanalyzer/metrics/``.
"""

from __future__ import annotations

DEFINITIONS: tuple[tuple[str, str], ...] = (
    (
        "TTFT",
        "Time to first token: t_first - t_send, where t_first is the arrival of the first chunk carrying "
        "output text.",
    ),
    (
        "E2E latency",
        "Time of the last text chunk - t_send. The time the stream closed (t_end) is kept separately.",
    ),
    (
        "TPOT",
        "Time per output token, per request: (last chunk - t_first) / (output_tokens - 1), for requests "
        "with two or more output tokens.",
    ),
    (
        "ITL",
        "Inter-token latency: the gaps between consecutive text chunks, pooled over all successful "
        "requests (vLLM's ITL, AIPerf's inter-chunk latency).",
    ),
    (
        "Decode speed, per-request TPS",
        "Decode speed = 1 / TPOT; per-request TPS = output_tokens / E2E (tokens/s).",
    ),
    ("Cluster TPS", "Output tokens whose chunk arrived in a window / the window's length (tokens/s)."),
    (
        "QPS, offered QPS",
        "QPS = successful requests completed in a window / its length; offered QPS = "
        "requests sent / length. Stable QPS is the median over steady-state windows.",
    ),
    (
        "Goodput, SLO attainment",
        "Goodput = successful requests meeting every per-request SLO (TTFT, TPOT, "
        "E2E bounds), per second; SLO attainment = their share of all requests.",
    ),
    (
        "Error rate",
        "Failed requests / all requests, overall, per window and per error class. A failure's time "
        "is its t_end (when the client saw it).",
    ),
    (
        "Variability",
        "CV = std / mean. RTV is the CV of E2E; QPS fluctuation is the CV of windowed QPS in "
        "steady state; GPU memory fluctuation = (max - min) / mean of memory used.",
    ),
    ("Latency drift", "Soaks: E2E p95 of the last quarter of steady state / that of the first quarter - 1."),
    (
        "Percentiles",
        "p50, p90, p95, p99, p99.9 with linear interpolation between order statistics; std is "
        "the population standard deviation. Latency statistics cover successful requests only.",
    ),
    (
        "Steady state",
        "Per load stage, after its first warm-up seconds; without stages, the run minus warm-up "
        "and cool-down.",
    ),
    (
        "Onset, first strike",
        "An error class's onset is the start of the first window from which it stays "
        "persistently at or above a threshold share of requests. Classes are ordered by onset; the first is "
        "the first strike, usually the real bottleneck.",
    ),
    ("Saturation knee", "The load level past which throughput (TPS) stops rising while latency grows."),
    (
        "Maximum sustainable load",
        "The highest load level with an error rate within the SLO and every latency SLO held.",
    ),
    (
        "Exact-match rate",
        "Per prompt group, the share of answers equal (after whitespace normalisation) to "
        "the group's most common answer; overall, the same share over every group with two or more answers.",
    ),
    (
        "Cosine similarity",
        "Pairwise cosine similarity of sentence embeddings of answers to the same prompt; "
        "the share of pairs at or above the threshold counts as consistent.",
    ),
    (
        "Output tokens",
        "The server's usage count when present, else the number of text chunks; the source is "
        "recorded with every request.",
    ),
)
"""(term, definition) in the order the appendix lists them."""
