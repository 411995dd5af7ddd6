"""llmperf (ray-project/llmperf, ``token_benchmark_ray.py --results-dir DIR``) results -> trace records.

- ``{model}_{mean_in}_{mean_out}_individual_responses.json`` (``run_token_benchmark``): a JSON array, one
  object per completed request, in the order llmperf collected them (completion order), with the keys of
  ``common_metrics.py``: ``error_code`` (null on success), ``error_msg``, ``ttft_s``,
  ``end_to_end_latency_s``, ``inter_token_latency_s``, ``request_output_throughput_token_per_s``,
  ``number_input_tokens``, ``number_output_tokens``, ``number_total_tokens``;
- ``{...}_summary.json`` (``LLMPerfResults.to_dict``, flattened with ``_``): the run's parameters and its own
  summary (``results_*``) -> the peer ``totals`` record.

llmperf measures durations on ``time.monotonic()`` and stores no send or end times, so the requests are laid
out on a clock: llmperf's closed loop (``num_concurrent_requests`` threads, each sending its next request when
the last one is done) replayed without gaps, in the file's order, from an anchor: ``--start`` (the first
send), else the summary's ``timestamp`` (the second after the test ended), else the file's modification
time, as the last request's end. Notes say which, and that the send times are laid out, not recorded.
"""

from __future__ import annotations

from pathlib import Path

from recorders.importers.base import head
from recorders.importers.llmperf.reader import read

NAME = "llmperf"
TITLE = "llmperf"
FILES = "*_individual_responses.json + *_summary.json (token_benchmark_ray.py --results-dir)"


def detect(path: Path) -> bool:
    """llmperf's per-request array or its summary, by name and first keys."""
    if path.name.endswith("_individual_responses.json"):
        text = head(path, 4096).lstrip()
        return text.startswith("[") and ('"error_code"' in text or '"inter_token_latency_s"' in text)
    if path.name.endswith("_summary.json"):
        text = head(path, 8192)
        return '"results_' in text and '"version"' in text and '"num_concurrent_requests"' in text
    return False


__all__ = ["FILES", "NAME", "TITLE", "detect", "read"]
