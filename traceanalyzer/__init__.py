"""traceanalyzer: offline analysis of recorded LLM-serving load and soak tests."""

from __future__ import annotations

from traceanalyzer.errors import BadInputError, SourceUnreachableError, TraceAnalyzerError, UsageError

__all__ = ["BadInputError", "SourceUnreachableError", "TraceAnalyzerError", "UsageError"]
