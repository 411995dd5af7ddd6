"""The one pass over every chunk offset: pooled ITL gaps and output tokens per window of chunk arrival.

A soak capture holds ~100 million chunk offsets (``chunks_us``), so this is the heaviest work of an analysis.
The offsets are read straight from the Arrow list buffers (no copy into Python objects), in slices of a few
million offsets so the temporaries stay small, and reduced with numpy to:

- a histogram of the gaps between consecutive chunks of successful requests, in whole microseconds: a dense
  count per value below ``DENSE_GAP_US`` plus the exact values above it. Percentiles computed from it are
  exact (``stats.describe_counts``), with no sort of the 100 million gaps;
- output tokens per window of chunk arrival (``t_send + chunks_us[j]``), a chunk carrying
  ``chunk_tokens[j]`` tokens or one when ``chunk_tokens`` is omitted; every request's chunks count. A
  request whose first and last chunk fall in one window adds its tokens there at once; only requests that
  straddle a window boundary are split chunk by chunk.

The table's chunk columns may be memory-mapped from the loader's chunk file: each Arrow batch is released
(:func:`traceanalyzer.loader.chunkfile.release`) once reduced, so resident memory stays at one batch however
many offsets the capture holds. Rows without ``t_send`` count as rows without chunks.

Measured against DuckDB (``unnest`` of the list column, then ``GROUP BY``) on the 1M x 100 benchmark capture,
this pass did both results in less time than DuckDB took for either one, because DuckDB first converts the
Arrow lists into its own vectors.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from traceanalyzer import progress
from traceanalyzer.loader.chunkfile import release

DENSE_GAP_US = 1 << 21
"""Gaps below this many microseconds (~2.1 s) are counted in a dense histogram; longer ones kept as values."""
SLICE_OFFSETS = 1_000_000
"""About this many chunk offsets are processed at a time."""

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ChunkPassResult:
    gap_values_us: IntArray
    """Distinct gaps (microseconds) between consecutive chunks of successful requests, ascending."""
    gap_counts: IntArray
    """How often each of ``gap_values_us`` occurs."""
    tokens_per_window: npt.NDArray[np.float64]
    """Output tokens whose chunk arrived in each window."""


@dataclass(frozen=True)
class _Slice:
    offsets: IntArray
    values: IntArray
    send_ns: IntArray
    ok: npt.NDArray[np.bool_]
    tokens: IntArray | None


def _numpy(array: pa.Array) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False))


def _slices(table: pa.Table, t0_ns: int) -> Iterator[_Slice]:
    """Row ranges of ``table`` holding about ``SLICE_OFFSETS`` offsets each, as numpy views."""
    with progress.phase("reducing chunk offsets (requests)", total=table.num_rows) as advance:
        for batch in table.select(["t_send", "chunks_us", "chunk_tokens", "error_class"]).to_batches():
            yield from _batch_slices(batch, t0_ns)
            release(batch)
            advance(batch.num_rows)


def _batch_slices(batch: pa.RecordBatch, t0_ns: int) -> Iterator[_Slice]:
    """The slices of one batch (see :func:`_slices`)."""
    chunks = batch.column(1)
    send_col = batch.column(0)
    if send_col.null_count:  # no t_send: not a request of the analysis, its chunks do not count
        chunks = pc.if_else(send_col.is_valid(), chunks, pa.scalar(None, chunks.type))
        send_col = pc.fill_null(send_col, 0)
    offsets = _numpy(chunks.offsets).astype(np.int64)
    if chunks.null_count:
        valid = _numpy(chunks.is_valid()).astype(bool)
        lengths = np.where(valid, np.diff(offsets), 0)
        offsets = np.concatenate([[offsets[0]], offsets[0] + np.cumsum(lengths)])
        values_all = _numpy(chunks.flatten()).astype(np.int64)
        offsets = offsets - offsets[0]
    else:
        values_all = _numpy(chunks.values).astype(np.int64, copy=False)
    send = _numpy(send_col).astype(np.int64) - t0_ns
    ok = _numpy(batch.column(3).is_null()).astype(bool)
    tokens_col = batch.column(2)
    has_tokens = tokens_col.null_count < len(tokens_col)
    rows = len(batch)
    start = 0
    while start < rows:
        stop = int(np.searchsorted(offsets, offsets[start] + SLICE_OFFSETS, side="right")) - 1
        stop = min(max(stop, start + 1), rows)
        lo, hi = int(offsets[start]), int(offsets[stop])
        tokens = None
        if has_tokens:
            lengths = np.diff(offsets[start : stop + 1])
            tokens = _row_tokens(tokens_col.slice(start, stop - start), lengths)
        yield _Slice(
            offsets=offsets[start : stop + 1] - lo,
            values=values_all[lo:hi],
            send_ns=send[start:stop],
            ok=ok[start:stop],
            tokens=tokens,
        )
        start = stop


def _row_tokens(tokens: pa.Array, lengths: IntArray) -> IntArray:
    """Tokens per chunk for a slice: ``chunk_tokens`` where given (and as long as the offsets), else 1."""
    out = np.ones(int(lengths.sum()), dtype=np.int64)
    pos = np.concatenate([[0], np.cumsum(lengths)])
    for i, row in enumerate(tokens.to_pylist()):
        if row is not None and len(row) == lengths[i]:
            out[pos[i] : pos[i + 1]] = row
    return out


def _tokens_by_window(
    part: _Slice, lengths: IntArray, window_ns: int, windows: int
) -> npt.NDArray[np.float64]:
    """Tokens per window of chunk arrival for one slice.

    Most requests stream within one window: their first and last chunk share a window, so all their tokens go
    there at once. Only the requests that straddle a window boundary are split chunk by chunk.
    """
    rows = np.flatnonzero(lengths > 0)
    first = part.offsets[rows]
    last = part.offsets[rows + 1] - 1
    send = part.send_ns[rows]
    w_first = (send + part.values[first] * 1000) // window_ns
    w_last = (send + part.values[last] * 1000) // window_ns
    same = w_first == w_last
    row_tokens = lengths[rows] if part.tokens is None else np.add.reduceat(part.tokens, first)
    counted = np.bincount(
        np.clip(w_first[same], 0, windows - 1), weights=row_tokens[same].astype(np.float64), minlength=windows
    )
    out: npt.NDArray[np.float64] = np.asarray(counted[:windows], dtype=np.float64)
    split = rows[~same]
    if split.size:
        split_lengths = lengths[split]
        shift = part.offsets[split] - np.concatenate([[0], np.cumsum(split_lengths)[:-1]])
        index = np.repeat(shift, split_lengths) + np.arange(int(split_lengths.sum()))
        arrival = np.repeat(part.send_ns[split], split_lengths)
        arrival += part.values[index] * 1000
        arrival //= window_ns
        np.clip(arrival, 0, windows - 1, out=arrival)
        weights = None if part.tokens is None else part.tokens[index].astype(np.float64)
        out += np.bincount(arrival, weights=weights, minlength=windows)[:windows]
    return out


def chunk_pass(table: pa.Table, t0_ns: int, window_ns: int, windows: int) -> ChunkPassResult:
    """Gap histogram of successful requests and tokens per window (module docstring)."""
    dense = np.zeros(DENSE_GAP_US, dtype=np.int64)
    sparse: list[IntArray] = []
    tokens = np.zeros(windows, dtype=np.float64)
    if table.num_rows and "chunks_us" in table.column_names:
        for part in _slices(table, t0_ns):
            lengths = np.diff(part.offsets)
            if part.values.size == 0:
                continue
            tokens += _tokens_by_window(part, lengths, window_ns, windows)
            # gaps inside each successful request's list; -1 marks a gap across lists or of a failed request
            gaps = np.diff(part.values)
            starts = part.offsets[1:-1]
            gaps[starts[(starts > 0) & (starts <= gaps.size)] - 1] = -1
            failed = np.flatnonzero(~part.ok & (lengths >= 2))
            if failed.size > 1000:
                gaps[~np.repeat(part.ok, lengths)[1:]] = -1
            else:
                for row in failed:
                    gaps[part.offsets[row] : part.offsets[row + 1] - 1] = -1
            long_gaps = gaps[gaps >= DENSE_GAP_US]
            if long_gaps.size:
                sparse.append(long_gaps)
            np.clip(gaps, -1, DENSE_GAP_US, out=gaps)
            gaps += 1
            counted = np.bincount(gaps)  # as long as the longest gap here (at most DENSE_GAP_US + 2)
            top = max(min(counted.size - 1, DENSE_GAP_US), 0)
            dense[:top] += counted[1 : top + 1]
    values = np.flatnonzero(dense).astype(np.int64)
    counts = dense[values]
    if sparse:
        long_values, long_counts = np.unique(np.concatenate(sparse), return_counts=True)
        values = np.concatenate([values, long_values.astype(np.int64)])
        counts = np.concatenate([counts, long_counts.astype(np.int64)])
    return ChunkPassResult(gap_values_us=values, gap_counts=counts, tokens_per_window=tokens)
