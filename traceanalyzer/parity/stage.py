"""The parity stage: for every imported tool run, its own summary recomputed under its own definitions.

The importer left one ``totals`` record per tool summary whose ``detail.peer`` holds the tool's numbers
(docs/schema.md, "peer summaries"). For each, the tool's definitions module (beside its reader,
``recorders/importers/<tool>/definitions.py``) rebuilds every number it can from the imported request
records, and gives ours beside it; numbers it cannot rebuild from what the tool exported get no row.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from traceanalyzer.model import Analysis, Note
from traceanalyzer.parity.methods import rel_diff
from traceanalyzer.parity.requests import PeerRequests, peer_info
from traceanalyzer.parity.results import MATCH_REL_DIFF, ParityCounts, ParityMetric, ParityResult, ParityTool

if TYPE_CHECKING:
    from traceanalyzer.metrics.context import StageContext


class Row(NamedTuple):
    """One recomputed number: the tool's ``name`` and ``stat``, its value under the tool's definition,
    ours, why they differ, and the tolerance when the tool rounds (default 0.1 %)."""

    name: str
    stat: str
    recomputed: float | None
    ours: float | None
    why: str
    tolerance: float = MATCH_REL_DIFF


class Definitions(Protocol):
    def rows(self, peer: dict[str, Any], reqs: PeerRequests, analysis: Analysis) -> Iterable[Row]: ...


def definitions(tool: str) -> Definitions | None:
    """The definitions module of an imported tool (``None`` for a tool this version cannot recompute)."""
    from recorders.importers import SOURCES

    module = SOURCES.get(tool)
    if module is None:
        return None
    return cast(Definitions, importlib.import_module(f"{module}.definitions"))


def _run_requests(ctx: StageContext, peer: dict[str, Any]) -> PeerRequests:
    table = ctx.request_table
    mask = pc.equal(table.column("run"), pa.scalar(str(peer.get("run")), pa.string()))
    if peer.get("stage") is not None:
        mask = pc.and_(mask, pc.equal(table.column("stage"), pa.scalar(str(peer["stage"]), pa.string())))
    keep = np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)
    rows = np.flatnonzero(keep)
    ours = ctx.requests.set_index("row").loc[rows].reset_index()
    taken = table.take(pa.array(rows))
    if "chunks_us" not in taken.column_names and ctx.chunk_table is not None:
        # the chunk columns live apart (memory-mapped, one row per record; the request table left out the
        # records without t_send): only this run's rows are read
        chunks = ctx.chunk_table
        if chunks.column("t_send").null_count:
            chunks = chunks.filter(pc.is_valid(chunks.column("t_send")))
        part = chunks.take(pa.array(rows))
        for name in ("chunks_us", "chunk_tokens"):
            if name in part.column_names:
                taken = taken.append_column(name, part.column(name))
    return PeerRequests(taken, ours)


def _tool_values(peer: dict[str, Any]) -> dict[tuple[str, str], tuple[str, float | None]]:
    out: dict[tuple[str, str], tuple[str, float | None]] = {}
    for m in peer.get("metrics") or []:
        value = m.get("value")
        out[(str(m["name"]), str(m["stat"]))] = (
            str(m.get("unit") or ""),
            float(value) if isinstance(value, int | float) else None,
        )
    return out


def _finite(value: float | None) -> float | None:
    """A plain float (NumPy scalars converted), ``None`` for missing or non-finite values."""
    if value is None:
        return None
    number = float(value)
    return number if np.isfinite(number) else None


def parity_for(ctx: StageContext, analysis: Analysis, peer: dict[str, Any]) -> ParityTool:
    """Parity with one tool run."""
    tool = str(peer["tool"])
    reqs = _run_requests(ctx, peer)
    values = _tool_values(peer)
    defs = definitions(tool)
    metrics: list[ParityMetric] = []
    for row in defs.rows(peer, reqs, analysis) if defs is not None else ():
        if (row.name, row.stat) not in values:
            continue
        unit, tool_value = values[(row.name, row.stat)]
        diff = rel_diff(row.recomputed, tool_value)
        metrics.append(
            ParityMetric(
                name=row.name,
                stat=row.stat,
                unit=unit,
                tool_value=tool_value,
                recomputed=_finite(row.recomputed),
                ours=_finite(row.ours),
                rel_diff=_finite(diff),
                match=bool(diff is not None and diff <= row.tolerance),
                why_different=row.why,
                tolerance=row.tolerance,
            )
        )
    return ParityTool(
        tool=tool,
        version=str(peer.get("version") or ""),
        files=tuple(str(f) for f in peer.get("files") or ()),
        requests=ParityCounts(tool=int(peer.get("requests") or 0), imported=reqs.n),
        metrics=tuple(metrics),
        label=str(peer.get("label") or ""),
        notes=tuple(str(n) for n in peer.get("notes") or ()),
    )


def parity_stage(ctx: StageContext, analysis: Analysis) -> Analysis:
    """Fill ``analysis.parity`` from the capture's peer summaries (nothing when there are none)."""
    totals = ctx.capture.totals
    if totals.num_rows == 0 or "detail" not in totals.column_names:
        return analysis
    peers = [p for d in totals.column("detail").to_pylist() if (p := peer_info(d)) is not None]
    if not peers:
        return analysis
    tools = tuple(parity_for(ctx, analysis, p) for p in peers)
    for t in tools:
        missed = [f"{m.name} {m.stat}" for m in t.metrics if not m.match]
        if missed:
            ctx.notes.append(
                Note("parity", f"{t.tool}: {len(missed)} number(s) not reproduced: {', '.join(missed[:5])}")
            )
    return dataclasses.replace(analysis, parity=ParityResult(tools))
