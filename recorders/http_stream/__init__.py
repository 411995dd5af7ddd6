"""OpenAI-compatible streaming collector: load patterns in, one ``request`` record per request out.

Modules, in the order a request meets them: :mod:`.config` (options), :mod:`.prompts` (prompt sets),
:mod:`.load` (load patterns as arithmetic), :mod:`.driver` (running them), :mod:`.client` (sending and
stamping), :mod:`.sse` (decoding the stream afterwards), :mod:`.record` (the record and its error class),
:mod:`.collector` (one process), :mod:`.workers` (several), :mod:`.progress` (the live line).
"""

from __future__ import annotations

from recorders.http_stream.collector import Collector, CollectorResult, run_collector
from recorders.http_stream.config import CollectorConfig
from recorders.http_stream.prompts import BUILTIN_SETS, Prompt, load_prompts
from recorders.http_stream.sse import StreamResult, parse_stream

__all__ = [
    "BUILTIN_SETS",
    "Collector",
    "CollectorConfig",
    "CollectorResult",
    "Prompt",
    "StreamResult",
    "load_prompts",
    "parse_stream",
    "run_collector",
]
