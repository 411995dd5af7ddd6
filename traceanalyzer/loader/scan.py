"""Turning the fast reader's union rows into per-file, per-type Arrow batches.

One query may read several files (DuckDB's ``filename`` column says which row came from where); rows of each
file are split by ``__code`` into the tables of their record types, converted to the table schemas of
:mod:`traceanalyzer.schema`, and bad rows are set aside by their index within the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from traceanalyzer.loader import fast
from traceanalyzer.loader.chunkfile import ChunkSpool, detach, request_level
from traceanalyzer.schema import RECORD_TYPES, RecordType

_TYPES: list[RecordType] = list(RECORD_TYPES.values())
#: Above this many runs of one value in a batch, rows are split by filtering rather than slicing.
_MAX_RUNS = 64
#: Types whose (few) columns every query reads: a meta line starts each file and events may come anywhere.
ALWAYS_READ = frozenset({"meta", "event"})


class MissedType(Exception):
    """A record of a type whose columns the query did not read: read again with every type."""


@dataclass
class Scan:
    """What the fast reader found in one file: good rows per table, bad row indices, counts per ``type``."""

    batches: dict[str, list[pa.RecordBatch]] = field(default_factory=dict)
    pieces: list[int] = field(default_factory=list)
    """With a chunk spool: the spool piece holding the chunk columns of each ``requests`` batch (those
    batches then hold the request-level columns only)."""
    bad_rows: list[int] = field(default_factory=list)
    rows: int = 0
    types: dict[str, int] = field(default_factory=dict)


def _runs(values: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-length encoding of integer ``values`` without nulls: (value of each run, start, end)."""
    keys = values.to_numpy()  # zero-copy (a non-zero-copy conversion would import pandas)
    starts = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))
    ends = np.append(starts[1:], len(keys))
    return keys[starts], starts, ends


def _split(batch: pa.RecordBatch, keys: pa.Array) -> list[tuple[int, pa.RecordBatch]]:
    """The rows of ``batch`` per key, in order: zero-copy slices when keys come in a few runs."""
    values, starts, ends = _runs(keys)
    if len(values) <= _MAX_RUNS:
        return [(int(k), batch.slice(a, b - a)) for k, a, b in zip(values, starts, ends, strict=True)]
    return [(int(k), batch.filter(pc.equal(keys, int(k)))) for k in np.unique(values)]


@lru_cache(maxsize=4)
def _repeated(text: str, n: int) -> pa.Array:
    """``text`` ``n`` times; sliced (zero-copy) for every batch of a file."""
    return pa.repeat(pa.scalar(text, pa.string()), n)


def _convert(rt: RecordType, sub: pa.RecordBatch, display: str) -> pa.RecordBatch:
    """Rows of one type in that type's table schema (``source_file`` / ``path`` added)."""
    arrays = []
    for f in rt.schema:
        if f.name in ("source_file", "path"):
            n = sub.num_rows
            arr = _repeated(display, max(n, fast.BATCH_ROWS)).slice(0, n)
        else:
            arr = sub.column(f.name)
            if str(arr.type) != str(f.type):  # DuckDB names list items "l"; the schema says "item"
                arr = arr.cast(f.type)
        arrays.append(arr)
    return pa.RecordBatch.from_arrays(arrays, schema=rt.schema)


def _count(counts: dict[str, int], values: pa.Array) -> None:
    for item in pc.value_counts(values).to_pylist():
        key = str(item["values"])
        counts[key] = counts.get(key, 0) + item["counts"]


def _add(
    scan: Scan, batch: pa.RecordBatch, codes_read: set[int], display: str, spool: ChunkSpool | None
) -> None:
    """Add one file's slice of a query batch to its scan (chunk columns of requests to ``spool``)."""
    bad = batch.column(fast.BAD)
    elements = fast.bad_elements(batch)
    if elements is not None:
        bad = pc.or_(bad, elements)
    if pc.any(bad).as_py():
        scan.bad_rows.extend(i + scan.rows for i in pc.indices_nonzero(bad).to_pylist())
        batch = batch.filter(pc.invert(bad))
    scan.rows += len(bad)
    if batch.num_rows == 0:
        return
    codes = batch.column(fast.CODE)
    pieces = _split(batch, codes)
    if not codes_read.issuperset(code for code, _ in pieces if code >= 0):
        raise MissedType
    for code, sub in pieces:
        if code < 0:
            _count(scan.types, sub.column("type"))
            continue
        rt = _TYPES[code]
        scan.types[rt.name] = scan.types.get(rt.name, 0) + sub.num_rows
        converted = _convert(rt, sub, display)
        if spool is not None:
            if rt.table == "requests":
                scan.pieces.append(spool.add(converted))
                converted = request_level(converted)
            converted = detach(converted)
        scan.batches.setdefault(rt.table, []).append(converted)


def _fill_from_meta(scan: Scan) -> None:
    """Records without ``host`` / ``run`` take those of their file's (first) meta line."""
    meta = scan.batches.get("meta")
    if not meta:
        return
    first = meta[0].slice(0, 1).to_pylist()[0]
    for table, batches in scan.batches.items():
        if table == "meta":
            continue
        for i, batch in enumerate(batches):
            for name in ("host", "run"):
                if (
                    name in batch.schema.names
                    and first.get(name) is not None
                    and batch.column(name).null_count
                ):
                    index = batch.schema.get_field_index(name)
                    batch = batch.set_column(index, name, pc.fill_null(batch.column(name), first[name]))
            batches[i] = batch


def scan_files(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[Path],
    displays: Sequence[str],
    *,
    gzip: bool,
    types: frozenset[str],
    typed: bool,
    spool: ChunkSpool | None = None,
) -> list[Scan]:
    """Read files (all plain or all gzip) in one query; one :class:`Scan` per file, in order.

    Raises :class:`MissedType` for a record of a type outside ``types``, and :class:`~fast.ReadError` where
    the typed pass meets a line it cannot read.
    """
    scans = [Scan() for _ in paths]
    names = pa.array([str(p) for p in paths], pa.string())
    codes_read = {i for i, rt in enumerate(_TYPES) if rt.name in types}
    for batch in fast.read_batches(con, paths, gzip=gzip, types=types, typed=typed):
        if len(paths) == 1:
            _add(scans[0], batch, codes_read, displays[0], spool)
            continue
        for index, piece in _split(batch, pc.index_in(batch.column(fast.FILE), value_set=names)):
            _add(scans[index], piece, codes_read, displays[index], spool)
    for scan in scans:
        _fill_from_meta(scan)
    return scans


def scan_with_retry(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[Path],
    displays: Sequence[str],
    *,
    gzip: bool,
    guess: set[str],
    typed: bool,
    spool: ChunkSpool | None = None,
) -> list[Scan]:
    """:func:`scan_files` with the columns of the guessed types, again with all types if one was missed.

    (Pieces a failed attempt wrote to ``spool`` stay there unused.)
    """
    types = frozenset((guess & set(RECORD_TYPES)) | ALWAYS_READ)
    try:
        return scan_files(con, paths, displays, gzip=gzip, types=types, typed=typed, spool=spool)
    except MissedType:
        every = frozenset(RECORD_TYPES)
        return scan_files(con, paths, displays, gzip=gzip, types=every, typed=typed, spool=spool)
