"""Parity with other benchmark tools: each imported tool's own summary recomputed under the tool's own
definitions and percentile method, with our value (DESIGN section 4) and why it differs beside it."""

from __future__ import annotations

from traceanalyzer.parity.results import MATCH_REL_DIFF, ParityCounts, ParityMetric, ParityResult, ParityTool

__all__ = ["MATCH_REL_DIFF", "ParityCounts", "ParityMetric", "ParityResult", "ParityTool"]
