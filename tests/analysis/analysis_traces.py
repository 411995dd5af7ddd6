"""Captures built directly as Arrow tables (the loader contract's columns), for the analysis tests.

Times are written out in nanoseconds: ``T0 + 1 * S + 200 * MS`` is 1.2 s after the first request was sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from traceanalyzer.loader import Capture
from traceanalyzer.schema import TABLE_SCHEMAS

T0 = 1_700_000_000_000_000_000
"""Epoch ns of the first t_send in every hand-made trace."""
S = 1_000_000_000
MS = 1_000_000


def request(
    id: str,
    t_send: int,
    chunks_us: Sequence[int] = (),
    *,
    output_tokens: int | None = None,
    t_end: int | None = None,
    error: tuple[str, int | None] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One ``requests`` row. ``t_first`` is the first chunk; ``t_end`` defaults to the last chunk + 10 ms."""
    chunks = list(chunks_us)
    row: dict[str, Any] = {
        "id": id,
        "host": "client-1",
        "model": "m",
        "t_send": t_send,
        "t_first": t_send + chunks[0] * 1000 if chunks else None,
        "t_end": t_end if t_end is not None else t_send + (chunks[-1] * 1000 if chunks else 0) + 10 * MS,
        "chunks_us": chunks,
        "output_tokens": len(chunks) if output_tokens is None and error is None else output_tokens,
        "status": 200 if error is None else error[1],
        "tokens_source": "chunks",
    }
    if error is not None:
        row["error_class"], row["error_status"] = error[0], error[1]
        row["error_message"] = f"{error[0]} happened"
    row.update(extra)
    return row


def table(name: str, rows: Sequence[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=TABLE_SCHEMAS[name])


def build_capture(**rows: Sequence[dict[str, Any]]) -> Capture:
    """A capture with the given rows per table (``requests=[...]``, ``gpu=[...]``, ...), others empty."""
    unknown = set(rows) - set(TABLE_SCHEMAS)
    if unknown:
        raise TypeError(f"no such table: {sorted(unknown)}")
    return Capture(**{name: table(name, rows.get(name, ())) for name in TABLE_SCHEMAS})
