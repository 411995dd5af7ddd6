"""Chunk offsets on disk: the big part of a capture, written once and memory-mapped, never held in the heap.

A soak capture holds billions of chunk offsets (``chunks_us``, ``chunk_tokens``) against millions of request
rows. While the loader reads, each batch of request rows hands its two chunk columns, and the per-request
strings few stages read (:data:`STRING_COLUMNS`: ids, answer texts, error messages), to a
:class:`ChunkSpool`, which appends them to an Arrow IPC file (one record batch per piece, in reading order)
and keeps only a piece number with the request-level columns. At the end the file is memory-mapped and the
loader attaches the pieces, zero-copy, as those columns of ``Capture.requests``: the table has every column
of the loader contract, but the chunk offsets and the strings are pages of a file that are read only when
something touches them.

Code that walks every offset (the chunk pass, the last chunk of each request) calls :func:`release` on each
batch when done with it: the pages of that batch are dropped from the process (``madvise(MADV_DONTNEED)``;
the file stays, a later touch reads it again), so resident memory stays at one batch, whatever the size of
the capture. The file is the cache entry's ``chunks.arrow`` when the capture is cached, else a temporary
file unlinked as soon as it is mapped.
"""

from __future__ import annotations

import mmap
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from traceanalyzer.schema import TABLE_SCHEMAS

CHUNK_COLUMNS = ("chunks_us", "chunk_tokens")
"""The chunk columns of ``requests``: what the chunk pass reads, batch by batch."""
STRING_COLUMNS = ("id", "response_id", "prompt_id", "text", "expected", "error_message")
"""Per-request strings that the analysis reads for a few rows (a failure's id and message) or only where a
capture has them (answer texts): kept on disk too, paged in where read."""
MAPPED_COLUMNS = CHUNK_COLUMNS + STRING_COLUMNS
"""The columns of ``requests`` kept on disk."""
CHUNK_SCHEMA = pa.schema([TABLE_SCHEMAS["requests"].field(name) for name in MAPPED_COLUMNS])
REQUEST_LEVEL_SCHEMA = pa.schema([f for f in TABLE_SCHEMAS["requests"] if f.name not in MAPPED_COLUMNS])
"""``requests`` less the mapped columns: what the loader keeps in memory."""

_PAGE = mmap.PAGESIZE
_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)
"""None where the platform has no madvise: pages are then left to the kernel."""


def request_level(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A ``requests`` batch without its mapped columns."""
    return batch.select(REQUEST_LEVEL_SCHEMA.names)


SHARED_COLUMNS = ("source_file", "path")
"""Columns the loader fills with slices of one array per file (not from the reader): never copied."""


def detach(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A compact copy of ``batch``'s columns read by DuckDB. A batch imported from DuckDB keeps the whole
    query batch alive while any of its columns lives (one owner for every buffer): copied, the reader's
    batch, chunk offsets included, is freed as soon as it is spooled."""
    names = batch.schema.names
    copied = pa.concat_batches([batch.select([n for n in names if n not in SHARED_COLUMNS])])
    arrays = [batch.column(n) if n in SHARED_COLUMNS else copied.column(n) for n in names]
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


@dataclass(frozen=True)
class SpooledChunks:
    """A finished spool file and the piece of each ``requests`` batch, in table order (for the cache)."""

    path: Path
    order: tuple[int, ...]


class ChunkSpool:
    """Appends the chunk columns of request batches to an Arrow IPC file (one record batch per piece)."""

    def __init__(self, path: Path, on_rows: Callable[[float], None] | None = None) -> None:
        self.path = path
        self._on_rows = on_rows
        self._sink = pa.OSFile(str(path), "wb")
        self._writer = pa.ipc.new_file(self._sink, CHUNK_SCHEMA)
        self._lock = threading.Lock()
        self.pieces = 0

    def add(self, batch: pa.RecordBatch) -> int:
        """Write the chunk columns of a ``requests`` batch; the piece number to attach them by."""
        chunks = pa.RecordBatch.from_arrays([batch.column(n) for n in MAPPED_COLUMNS], schema=CHUNK_SCHEMA)
        with self._lock:
            self._writer.write_batch(chunks)
            self.pieces += 1
            if self._on_rows is not None:
                self._on_rows(batch.num_rows)
            return self.pieces - 1

    def finish(self) -> ChunkFile:
        """Close the file and map it."""
        self._writer.close()
        self._sink.close()
        return ChunkFile(self.path)

    def discard(self) -> None:
        """Close and remove the file (a load that failed)."""
        try:
            self._writer.close()
            self._sink.close()
        finally:
            self.path.unlink(missing_ok=True)


_mapped: list[tuple[int, int, weakref.ref[mmap.mmap]]] = []
_mapped_lock = threading.Lock()


class ChunkFile:
    """A memory-mapped chunk file; its pieces are read zero-copy."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self._mm = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ)
        buffer = pa.py_buffer(self._mm)
        self._reader = pa.ipc.open_file(pa.BufferReader(buffer))
        if not self._reader.schema.equals(CHUNK_SCHEMA):
            raise ValueError(f"{path}: not a chunk file of this loader")
        self.pieces = self._reader.num_record_batches
        with _mapped_lock:
            _mapped[:] = [m for m in _mapped if m[2]() is not None]
            _mapped.append((buffer.address, size, weakref.ref(self._mm)))

    def columns(self, order: Sequence[int]) -> list[pa.ChunkedArray]:
        """The :data:`MAPPED_COLUMNS` of the pieces in ``order``, as table columns (zero-copy)."""
        batches = [self._reader.get_batch(i) for i in order]
        return [
            pa.chunked_array([b.column(k) for b in batches], type=field.type)
            for k, field in enumerate(CHUNK_SCHEMA)
        ]


def write_chunk_file(path: Path, requests: pa.Table) -> tuple[int, ...]:
    """Write the chunk columns of an in-memory ``requests`` table as a chunk file; the piece order."""
    spool = ChunkSpool(path)
    try:
        order = tuple(spool.add(batch) for batch in requests.to_batches())
    except BaseException:
        spool.discard()
        raise
    spool.finish()
    return order


def attach(request_level_table: pa.Table, chunks: Sequence[pa.ChunkedArray]) -> pa.Table:
    """The full ``requests`` table: request-level columns plus the mapped columns, in schema order."""
    by_name = dict(zip(MAPPED_COLUMNS, chunks, strict=True))
    columns = [
        by_name[name] if name in by_name else request_level_table.column(name)
        for name in TABLE_SCHEMAS["requests"].names
    ]
    return pa.Table.from_arrays(columns, schema=TABLE_SCHEMAS["requests"])


def release(*arrays: pa.Array | pa.ChunkedArray | pa.RecordBatch) -> None:
    """Drop the resident pages of mapped chunk data behind ``arrays`` (a no-op for data in the heap).

    The data stays valid: a later touch reads the pages again from the file (or the page cache).
    """
    if _DONTNEED is None:
        return
    ranges: list[tuple[int, int]] = []
    for item in arrays:
        parts = item.columns if isinstance(item, pa.RecordBatch) else [item]
        for part in parts:
            for chunk in part.chunks if isinstance(part, pa.ChunkedArray) else [part]:
                for buf in chunk.buffers():
                    if buf is not None and buf.size:
                        ranges.append((buf.address, buf.address + buf.size))
    if not ranges:
        return
    with _mapped_lock:
        maps = [(base, size, mm) for base, size, ref in _mapped if (mm := ref()) is not None]
    for base, size, mm in maps:
        inside = [(lo, hi) for lo, hi in ranges if base <= lo < base + size]
        if not inside:
            continue
        lo = (min(lo for lo, _ in inside) - base) // _PAGE * _PAGE
        hi = min(max(hi for _, hi in inside) - base, size)
        if hi > lo and not mm.closed:
            mm.madvise(_DONTNEED, lo, hi - lo)
