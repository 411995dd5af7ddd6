"""The analysis stage of output consistency and robustness: ``(ctx, analysis) -> analysis``."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from traceanalyzer.consistency.measure import measure_consistency
from traceanalyzer.consistency.robustness import judge_robustness

if TYPE_CHECKING:
    from traceanalyzer.metrics.context import StageContext
    from traceanalyzer.model import Analysis


def consistency_stage(ctx: StageContext, analysis: Analysis) -> Analysis:
    """Fill ``analysis.consistency`` (exact match, cosine similarity, drift, hosts, key information) and
    ``analysis.robustness`` (a verdict per robustness scenario); notes say what could not be measured."""
    opts = ctx.options
    cache = Path(opts.embedding_cache_dir) if opts.embedding_cache_dir else None
    result = measure_consistency(
        ctx.request_table,
        threshold=opts.similarity_threshold,
        model_path=opts.embedding_model,
        cache_dir=cache,
        progress=sys.stderr.isatty(),
        sample=opts.consistency_sample,
        backend=opts.embedding_backend,
    )
    if not result.measurable:
        ctx.note("consistency", f"not measured: {result.reason}")
    for note in result.notes:
        ctx.note("consistency", note)
    robustness = judge_robustness(ctx.request_table)
    return dataclasses.replace(analysis, consistency=result, robustness=robustness)
