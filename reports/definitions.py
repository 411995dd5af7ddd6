"""The metric definitions printed in the report's appendix: DESIGN section 4 in the reader's words.

Text only; the formulas are computed (and documented next to their code) in ``traceanalyzer/metrics/``.
"""

from __future__ import annotations

from traceanalyzer.i18n import N_

DEFINITIONS: tuple[tuple[str, str], ...] = (
    (
        N_("TTFT"),
        N_(
            "Time to first token: t_first - t_send, where t_first is the arrival of the first chunk carrying "
            "output text."
        ),
    ),
    (
        N_("E2E latency"),
        N_("Time of the last text chunk - t_send. The time the stream closed (t_end) is kept separately."),
    ),
    (
        N_("TPOT"),
        N_(
            "Time per output token, per request: (last chunk - t_first) / (output_tokens - 1), for requests "
            "with two or more output tokens."
        ),
    ),
    (
        N_("ITL"),
        N_(
            "Inter-token latency: the gaps between consecutive text chunks, pooled over all successful "
            "requests (vLLM's ITL, AIPerf's inter-chunk latency)."
        ),
    ),
    (
        N_("Decode speed, per-request TPS"),
        N_("Decode speed = 1 / TPOT; per-request TPS = output_tokens / E2E (tokens/s)."),
    ),
    (
        N_("Cluster TPS"),
        N_("Output tokens whose chunk arrived in a window / the window's length (tokens/s)."),
    ),
    (
        N_("QPS, offered QPS"),
        N_(
            "QPS = successful requests completed in a window / its length; offered QPS = "
            "requests sent / length. Stable QPS is the median over steady-state windows."
        ),
    ),
    (
        N_("Goodput, SLO attainment"),
        N_(
            "Goodput = successful requests meeting every per-request SLO (TTFT, TPOT, "
            "E2E bounds), per second; SLO attainment = their share of all requests."
        ),
    ),
    (
        N_("Error rate"),
        N_(
            "Failed requests / all requests, overall, per window and per error class. A failure's time "
            "is its t_end (when the client saw it)."
        ),
    ),
    (
        N_("Variability"),
        N_(
            "CV = std / mean. RTV is the CV of E2E; QPS fluctuation is the CV of windowed QPS in "
            "steady state; GPU memory fluctuation = (max - min) / mean of memory used."
        ),
    ),
    (
        N_("Latency drift"),
        N_("Soaks: E2E p95 of the last quarter of steady state / that of the first quarter - 1."),
    ),
    (
        N_("Percentiles"),
        N_(
            "p50, p90, p95, p99, p99.9 with linear interpolation between order statistics; std is "
            "the population standard deviation. Latency statistics cover successful requests only."
        ),
    ),
    (
        N_("Steady state"),
        N_(
            "Per load stage, after its first warm-up seconds; without stages, the run minus warm-up "
            "and cool-down."
        ),
    ),
    (
        N_("Onset, first strike"),
        N_(
            "An error class's onset is the start of the first window from which it stays "
            "persistently at or above a threshold share of requests. Classes are ordered by onset; the first "
            "is the first strike, usually the real bottleneck."
        ),
    ),
    (
        N_("Saturation knee"),
        N_("The load level past which throughput (TPS) stops rising while latency grows."),
    ),
    (
        N_("Maximum sustainable load"),
        N_("The highest load level with an error rate within the SLO and every latency SLO held."),
    ),
    (
        N_("Exact-match rate"),
        N_(
            "Per prompt group, the share of answers equal (after whitespace normalisation) to "
            "the group's most common answer; overall, the same share over every group with two or more "
            "answers."
        ),
    ),
    (
        N_("Cosine similarity"),
        N_(
            "Pairwise cosine similarity of sentence embeddings of answers to the same prompt; "
            "the share of pairs at or above the threshold counts as consistent."
        ),
    ),
    (
        N_("Output tokens"),
        N_(
            "The server's usage count when present, else the number of text chunks; the source is "
            "recorded with every request."
        ),
    ),
)
"""(term, definition) in the order the appendix lists them (English; the template translates them)."""
