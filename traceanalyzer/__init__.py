"""traceanalyzer: offline analysis of recorded LLM-serving load and soak tests.

The public Python API is what this module exports (docs/api.md):

    import traceanalyzer as ta
    capture = ta.load("captures/soak-01")
    analysis = ta.analyze(capture, window_s=30)
    analysis.requests_frame()                  # pandas, one row per request
    ta.compare(ta.analyze("base/"), analysis)
    ta.render(analysis, "report.pdf")

The classes are imported on first use, so ``import traceanalyzer`` stays cheap (no pyarrow, DuckDB or pandas).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from traceanalyzer.api import analyze, compare, load, render
from traceanalyzer.errors import BadInputError, SourceUnreachableError, TraceAnalyzerError, UsageError

if TYPE_CHECKING:
    from traceanalyzer.compare import Comparison, Tolerance
    from traceanalyzer.loader import Capture
    from traceanalyzer.model import Analysis, AnalysisOptions, Finding, SloResult, SloThresholds

__all__ = [
    "Analysis",
    "AnalysisOptions",
    "BadInputError",
    "Capture",
    "Comparison",
    "Finding",
    "SloResult",
    "SloThresholds",
    "SourceUnreachableError",
    "Tolerance",
    "TraceAnalyzerError",
    "UsageError",
    "analyze",
    "compare",
    "load",
    "render",
]

_LAZY = {
    "Analysis": "traceanalyzer.model",
    "AnalysisOptions": "traceanalyzer.model",
    "Finding": "traceanalyzer.model",
    "SloResult": "traceanalyzer.model",
    "SloThresholds": "traceanalyzer.model",
    "Capture": "traceanalyzer.loader",
    "Comparison": "traceanalyzer.compare",
    "Tolerance": "traceanalyzer.compare",
}


def __getattr__(name: str) -> Any:
    """Import the exported classes on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'traceanalyzer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """This package: importing the submodule ``traceanalyzer.compare`` must not replace the function
    ``traceanalyzer.compare`` (the import system sets a package attribute per submodule it loads)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in __all__ and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
