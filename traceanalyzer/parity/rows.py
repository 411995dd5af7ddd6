"""Building parity rows: one distribution recomputed under a tool's statistic, ours beside it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from traceanalyzer.parity.methods import Values, basic_stat, clean, numpy_linear
from traceanalyzer.parity.results import MATCH_REL_DIFF
from traceanalyzer.parity.stage import Row


def distribution_rows(
    name: str,
    stats: Sequence[str],
    tool_values: Values,
    our_values: Values | None,
    why: str,
    *,
    percentile: Callable[[Values, float], float] = numpy_linear,
    ddof: int = 0,
    tolerance: float = MATCH_REL_DIFF,
    rounding: Callable[[float], float] | None = None,
) -> Iterable[Row]:
    """A row per statistic: ``tool_values`` under the tool's percentile method and ddof, ``our_values`` under
    ours (NumPy linear, ddof 0); both already in the tool's unit. ``rounding`` applies the tool's own
    rounding of printed values to the recomputed one."""
    tool = clean(tool_values)
    ours = clean(our_values) if our_values is not None else None
    for stat in stats:
        recomputed = basic_stat(tool, stat, percentile, ddof)
        if recomputed is not None and rounding is not None:
            recomputed = rounding(recomputed)
        mine = basic_stat(ours, stat, numpy_linear, 0) if ours is not None else None
        yield Row(name, stat, recomputed, mine, why, tolerance)
