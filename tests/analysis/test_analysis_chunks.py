"""The one pass over chunk offsets agrees with a plain Python computation of gaps and tokens per window."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest
from analysis_traces import T0, S, table
from hypothesis import given, settings
from hypothesis import strategies as st

from traceanalyzer.metrics import chunks as chunks_module
from traceanalyzer.metrics.chunks import DENSE_GAP_US, chunk_pass

WINDOW_NS = 10 * S

rows_strategy = st.lists(
    st.tuples(
        st.integers(0, 60 * S),  # t_send offset
        st.lists(st.integers(0, 3 * DENSE_GAP_US), max_size=8).map(sorted),  # chunk offsets (us)
        st.booleans(),  # ok
        st.booleans(),  # chunk_tokens given
    ),
    max_size=30,
)


def naive(rows):
    gaps, tokens = [], np.zeros(8)
    for send, offsets, ok, _tokens_given in rows:
        if ok:
            gaps += [b - a for a, b in itertools.pairwise(offsets)]
        for j, off in enumerate(offsets):
            w = min(max((send + off * 1000) // WINDOW_NS, 0), 7)
            tokens[w] += (j + 2) if _tokens_given else 1
    values, counts = np.unique(np.asarray(gaps, dtype=np.int64), return_counts=True)
    return values, counts, tokens


def build(rows):
    records = []
    for i, (send, offsets, ok, tokens_given) in enumerate(rows):
        records.append(
            {
                "id": str(i),
                "t_send": T0 + send,
                "t_end": T0 + send,
                "chunks_us": offsets if i % 7 != 3 or offsets else None,
                "chunk_tokens": [j + 2 for j in range(len(offsets))] if tokens_given else None,
                "error_class": None if ok else "stream_broken",
            }
        )
    return table("requests", records)


@settings(max_examples=60, deadline=None)
@given(rows=rows_strategy, slice_offsets=st.sampled_from([3, 10, 4_000_000]))
def test_chunk_pass_matches_a_plain_computation(rows, slice_offsets):
    original = chunks_module.SLICE_OFFSETS
    chunks_module.SLICE_OFFSETS = slice_offsets
    try:
        result = chunk_pass(build(rows), T0, WINDOW_NS, 8)
    finally:
        chunks_module.SLICE_OFFSETS = original
    values, counts, tokens = naive(rows)
    np.testing.assert_array_equal(result.gap_values_us, values)
    np.testing.assert_array_equal(result.gap_counts, counts)
    np.testing.assert_allclose(result.tokens_per_window, tokens)


def test_chunk_pass_reads_sliced_and_multi_batch_tables():
    rows = [(k * S, [0, 10, 30 + k], True, False) for k in range(10)]
    whole = build(rows)
    batches = pa.Table.from_batches(whole.slice(2).to_batches(max_chunksize=3))
    result = chunk_pass(batches, T0, WINDOW_NS, 8)
    values, counts, tokens = naive(rows[2:])
    np.testing.assert_array_equal(result.gap_values_us, values)
    np.testing.assert_array_equal(result.gap_counts, counts)
    np.testing.assert_allclose(result.tokens_per_window, tokens)


def test_no_chunks_gives_empty_results():
    result = chunk_pass(table("requests", []), T0, WINDOW_NS, 3)
    assert result.gap_values_us.size == 0 and result.tokens_per_window.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("gap", [DENSE_GAP_US - 1, DENSE_GAP_US, 10 * DENSE_GAP_US])
def test_long_gaps_are_kept_exactly(gap):
    result = chunk_pass(build([(0, [0, gap], True, False)]), T0, WINDOW_NS, 8)
    assert result.gap_values_us.tolist() == [gap] and result.gap_counts.tolist() == [1]
