"""Layer 1 broken down by model, scenario, host and load stage, and by ``stream`` when a capture holds
non-streamed requests (``streamed`` / ``not streamed``: their TTFT is the time to the whole answer).

Per value of each dimension: requests, ok, failed, error rate (failed / requests), and over its successful
requests TTFT p50 / p95, TPOT p95, E2E p50 / p95 (seconds, linear interpolation). Requests without a value
for a dimension are left out of that dimension.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from traceanalyzer.metrics.context import StageContext
from traceanalyzer.metrics.stats import quantiles
from traceanalyzer.model import Analysis, BreakdownRow

DIMENSIONS: tuple[str, ...] = ("model", "scenario", "host", "stage")
ROW_COLUMNS: tuple[str, ...] = ("ok", "ttft_s", "e2e_s", "tpot_s")
"""The columns :func:`breakdown_row` reads."""


def breakdown_row(group: pd.DataFrame) -> BreakdownRow:
    """The row of one group of requests (module docstring)."""
    ok = group[group["ok"]]
    total, n_ok = len(group), len(ok)

    ttft = quantiles(ok["ttft_s"].to_numpy(dtype=float), (0.5, 0.95))
    e2e = quantiles(ok["e2e_s"].to_numpy(dtype=float), (0.5, 0.95))
    (tpot_p95,) = quantiles(ok["tpot_s"].to_numpy(dtype=float), (0.95,))
    return BreakdownRow(
        requests=total,
        ok=n_ok,
        failed=total - n_ok,
        error_rate=(total - n_ok) / total if total else None,
        ttft_p50_s=ttft[0],
        ttft_p95_s=ttft[1],
        tpot_p95_s=tpot_p95,
        e2e_p50_s=e2e[0],
        e2e_p95_s=e2e[1],
    )


def breakdown_stage(ctx: StageContext, analysis: Analysis) -> Analysis:
    """Per model / scenario / host / stage rows (module docstring); a dimension with no value is omitted."""
    frame = ctx.requests[list(ROW_COLUMNS)]  # the groups copy only what a row needs
    result: dict[str, dict[str, BreakdownRow]] = {}
    for dim in DIMENSIONS:
        by = ctx.requests[dim]
        rows = {
            str(value): breakdown_row(group) for value, group in frame.groupby(by, observed=True, sort=True)
        }
        if rows:
            result[dim] = rows
    streamed = stream_labels(ctx)
    if streamed is not None:
        result["stream"] = {str(v): breakdown_row(g) for v, g in frame.groupby(streamed, sort=True)}
    return dataclasses.replace(analysis, breakdown=result)


def stream_labels(ctx: StageContext) -> pd.Series | None:
    """``streamed`` / ``not streamed`` per request (a record without ``stream`` was streamed), or None when
    every request was streamed."""
    table = ctx.request_table
    if "stream" not in table.column_names or not table.num_rows:
        return None
    flags = table.column("stream").to_pandas()
    not_streamed = (flags == False).to_numpy()  # noqa: E712 - null (absent) means streamed
    if not not_streamed.any():
        return None
    labels = pd.Series(["streamed"] * table.num_rows, dtype=object)
    labels[not_streamed] = "not streamed"
    return pd.Series(labels.to_numpy()[ctx.requests["row"].to_numpy()], index=ctx.requests.index)
