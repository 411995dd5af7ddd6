"""vLLM ``vllm bench serve`` results (``--save-result --save-detailed``) -> trace records.

One JSON object per file (``benchmarks/serve.py::main_async``): the run's configuration (``date``,
``backend``, ``model_id``, ``num_prompts``, ``request_rate``, ``max_concurrency`` ...), vLLM's own summary
(``duration``, ``completed``, ``request_throughput``, ``mean_ttft_ms``, ``p99_itl_ms`` ...) and, with
``--save-detailed``, parallel per-request arrays in dispatch order, failures included: ``start_times``
(``time.perf_counter()`` seconds), ``ttfts``, ``latencies``, ``itls`` (every gap between token-bearing SSE
chunks, s), ``input_lens``, ``output_lens``, ``queue_times``, ``generated_texts`` and ``errors`` (``""`` on
success, else the HTTP reason phrase, a stream error or a traceback).

The clock is process-relative, so absolute times need an anchor: ``--start`` (the first request's epoch time),
else the file's modification time is taken as the last request's end, and a note says so.
"""

from __future__ import annotations

from pathlib import Path

from recorders.importers.base import head
from recorders.importers.vllm_bench.reader import read

NAME = "vllm-bench"
TITLE = "vLLM bench serve"
FILES = (
    'one result JSON of vllm bench serve --save-result --save-detailed ({"date": ..., "endpoint_type": ...})'
)


def detect(path: Path) -> bool:
    """A ``vllm bench serve`` result: a JSON object starting with ``date`` and holding its setup keys."""
    if not path.name.endswith(".json") or path.name.endswith(".pytorch.json"):
        return False
    text = head(path, 4096).lstrip()
    return (
        text.startswith('{"date":')
        and '"endpoint_type":' in text
        and '"num_prompts":' in text
        and '"burstiness":' in text
    )


__all__ = ["FILES", "NAME", "TITLE", "detect", "read"]
