"""GenAI-Perf (triton-inference-server/perf_analyzer, ``genai-perf profile``) artifacts -> trace records.

GenAI-Perf drives the C++ ``perf_analyzer`` and summarises what it exported. Files (names as written with the
default ``--profile-export-file profile_export.json``; another name ``X.json`` gives ``X_genai_perf.json``):

- ``profile_export.json``: perf_analyzer's per-request export (``src/profile_data_exporter.cc``):
  ``experiments[].requests[]`` with the send ``timestamp`` and one ``response_timestamps`` entry per response
  received (epoch ns, ``std::chrono::system_clock``), the request body (``request_inputs.payload``) and each
  response's raw SSE text (``response_outputs[].response``), plus ``version`` (perf_analyzer's),
  ``service_kind`` and ``endpoint``. perf_analyzer ends the whole run at the first answer that is not HTTP 200
  and then writes no export, so every exported request was answered 200; warmup requests are not exported;
- ``profile_export_genai_perf.json`` (``export_data/json_exporter.py``): GenAI-Perf's own statistics ->
  the peer ``totals`` record; its ``input_config`` (the run's options) -> ``meta.config``.

Neither file holds token counts: GenAI-Perf counts them with its tokenizer (``input_config.tokenizer``). The
import counts them the same way when that tokenizer is on this machine (a local directory or the Hugging
Face cache; never downloaded), else leaves them null and says so.
"""

from __future__ import annotations

from pathlib import Path

from recorders.importers.genai_perf.reader import detect_kind, read

NAME = "genai-perf"
TITLE = "GenAI-Perf"
FILES = "profile_export.json + profile_export_genai_perf.json (genai-perf profile artifacts)"


def detect(path: Path) -> bool:
    """perf_analyzer's per-request export or GenAI-Perf's summary, by first keys (and the summary's name)."""
    return detect_kind(path) is not None


__all__ = ["FILES", "NAME", "TITLE", "detect", "read"]
