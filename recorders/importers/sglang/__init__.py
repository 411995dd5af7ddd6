"""SGLang ``bench_serving`` (``python -m sglang.bench_serving``, ``sglang/benchmark/serving.py``) results ->
trace records.

``--output-file F --output-details`` appends one JSON line per run to ``F``: the run's arguments
(``backend``, ``dataset_name``, ``request_rate``, ``max_concurrency``, ...), its summary (``duration``,
``completed``, token totals, throughputs, ``mean/median/std/p90/p95/p99`` of E2E latency, TTFT, TPOT and ITL
in ms) and, with ``--output-details``, parallel per-request arrays: ``input_lens``, ``output_lens``,
``ttfts`` (s), ``itls`` (lists of s), ``generated_texts`` and ``errors``.

What the file does not hold, and what this import does about it (see docs/imports.md):

- no send times (absolute or relative) and no per-request E2E latency: sends are laid out by the tool's own
  dispatch rule (the request rate's mean spacing, the concurrency limit), an estimate; a request ends at its
  last text chunk (failures at their send). ``--start`` anchors the first run's dispatch start, else the
  file's modification time is taken as the last run's end;
- no status code: the HTTP reason phrase at the start of an error gives it back;
- whether ``output_lens`` is the server's usage count or the requested length: ``tokens_source`` stays null.

Each line is one run (``run``'s requests in ``stage`` ``r0``, ``r1``, ... when the file holds several) with
its summary as one peer ``totals`` record.
"""

from __future__ import annotations

from pathlib import Path

from recorders.importers.base import first_line
from recorders.importers.sglang.reader import read

NAME = "sglang"
TITLE = "SGLang bench_serving"
FILES = "bench_serving --output-file results.jsonl --output-details (one JSON line per run)"

#: Keys bench_serving writes first on every line, before ``server_info`` (which can be long).
_SIGNATURE = ('"sharegpt_output_len"', '"random_range_ratio"', '"dataset_name"')
#: Its first key: ``tag`` (``backend`` before ``--tag`` existed).
_FIRST_KEYS = ('{"tag":', '{"backend":')


def detect(path: Path) -> bool:
    """A JSON line that starts with bench_serving's run arguments."""
    if path.suffix not in (".jsonl", ".json"):
        return False
    line = first_line(path, 8192).lstrip()
    return line.startswith(_FIRST_KEYS) and all(key in line for key in _SIGNATURE)


__all__ = ["FILES", "NAME", "TITLE", "detect", "read"]
