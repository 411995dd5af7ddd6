"""One imported tool run's requests, as the tool's definitions need them (exact integer clocks)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PeerRequests:
    """The request records of one tool run (``table``) and our per-request frame for the same rows
    (``ours``: ``ttft_s``, ``e2e_s``, ``tpot_s``, ``ok``, ... of :mod:`traceanalyzer.metrics.context`).

    Times come back as float nanoseconds since ``t0_ns`` (the run's first ``t_send``), computed from the
    integer fields, so differences are exact to the nanosecond.
    """

    table: pa.Table
    ours: pd.DataFrame

    @property
    def n(self) -> int:
        return self.table.num_rows

    @cached_property
    def t0_ns(self) -> int:
        value = pc.min(self.table.column("t_send")).as_py() if self.n else 0
        return int(value or 0)

    def ns(self, column: str) -> Floats:
        """An integer time column as float ns since ``t0_ns`` (NaN where null)."""
        col = self.table.column(column)
        shifted = pc.subtract(col.cast(pa.int64()), pa.scalar(self.t0_ns, pa.int64()))
        return np.asarray(shifted.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)

    def floats(self, column: str) -> Floats:
        """A numeric column as floats (NaN where null or absent)."""
        if column not in self.table.column_names:
            return np.full(self.n, np.nan)
        col = self.table.column(column).cast(pa.float64())
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)

    def ours_ns(self, column: str) -> Floats:
        """One of our per-request latencies (a ``*_s`` column of ``ours``) in ns."""
        return np.asarray(self.ours[column].to_numpy(dtype=float), dtype=np.float64) * 1e9

    @cached_property
    def ok(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.ours["ok"].to_numpy(), dtype=bool)

    @cached_property
    def chunk_offsets_ns(self) -> list[Floats]:
        """Per request, its text chunks' offsets from ``t_send`` in ns (from ``chunks_us``)."""
        col = self.table.column("chunks_us").combine_chunks()
        values = np.asarray(pc.list_flatten(col).to_numpy(zero_copy_only=False), dtype=np.float64) * 1e3
        bounds = np.asarray(col.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
        return [values[bounds[i] : bounds[i + 1]] for i in range(self.n)]

    def last_chunk_ns(self) -> Floats:
        """Offset of each request's last text chunk from ``t_send`` (NaN when it has none)."""
        return np.array([c[-1] if c.size else np.nan for c in self.chunk_offsets_ns], dtype=np.float64)

    def second_chunk_gap_ns(self) -> Floats:
        """Gap between the first and second text chunk (NaN with fewer than two)."""
        return np.array([c[1] - c[0] if c.size > 1 else np.nan for c in self.chunk_offsets_ns])

    def chunk_gaps_ns(self, mask: npt.NDArray[np.bool_]) -> Floats:
        """Gaps between consecutive text chunks of the masked requests, pooled."""
        gaps = [
            np.diff(c) for c, keep in zip(self.chunk_offsets_ns, mask, strict=True) if keep and c.size > 1
        ]
        return np.concatenate(gaps) if gaps else np.empty(0)

    def subset(self, mask: npt.NDArray[np.bool_]) -> PeerRequests:
        rows = np.flatnonzero(mask)
        return PeerRequests(self.table.take(pa.array(rows)), self.ours.iloc[rows].reset_index(drop=True))


def peer_info(detail: str | None) -> dict[str, Any] | None:
    """The ``peer`` object of a ``totals`` record's detail (JSON text), or ``None`` for other totals."""
    if not detail:
        return None
    import json

    try:
        value = json.loads(detail)
    except ValueError:
        return None
    peer = value.get("peer") if isinstance(value, dict) else None
    return peer if isinstance(peer, dict) and isinstance(peer.get("tool"), str) else None
