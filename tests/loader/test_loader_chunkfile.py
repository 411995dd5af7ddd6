"""The chunk file: chunk columns spooled, mapped back zero-copy, and their pages released after use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from traceanalyzer.errors import BadInputError
from traceanalyzer.loader import load_capture
from traceanalyzer.loader.chunkfile import ChunkSpool, attach, release, request_level
from traceanalyzer.schema import TABLE_SCHEMAS


def _requests(rows: int, per_row: int, start: int = 0) -> pa.Table:
    offsets = np.arange(rows * per_row, dtype=np.int64).reshape(rows, per_row) + start
    return pa.Table.from_pylist(
        [{"id": f"q{start + i}", "t_send": i, "chunks_us": offsets[i].tolist()} for i in range(rows)],
        schema=TABLE_SCHEMAS["requests"],
    )


def _rss_file_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("RssFile:"):
                return int(line.split()[1])
    raise AssertionError("no RssFile in /proc/self/status")


def test_pieces_come_back_in_any_order_as_the_requests_columns(tmp_path: Path) -> None:
    first, second = _requests(3, 4), _requests(2, 5, start=100)
    spool = ChunkSpool(tmp_path / "spool.arrow")
    pieces = [spool.add(b) for b in second.to_batches()] + [spool.add(b) for b in first.to_batches()]
    mapped = spool.finish()
    order = pieces[1:] + pieces[:1]  # first's piece, then second's
    level = pa.Table.from_batches([request_level(b) for b in first.to_batches() + second.to_batches()])
    table = attach(level, mapped.columns(order))
    assert table.schema == TABLE_SCHEMAS["requests"]
    assert table.equals(pa.concat_tables([first, second]))


def test_release_drops_the_resident_pages_of_mapped_chunks(tmp_path: Path) -> None:
    spool = ChunkSpool(tmp_path / "spool.arrow")
    table = _requests(2_000, 1_000)  # 2 million offsets, 16 MB
    order = [spool.add(b) for b in table.to_batches()]
    chunks = spool.finish().columns(order)[0]
    before = _rss_file_kib()
    total = sum(int(np.asarray(c.values).sum()) for c in chunks.chunks)
    touched = _rss_file_kib()
    release(chunks)
    after = _rss_file_kib()
    assert total == 2_000_000 * 1_999_999 // 2
    assert touched - before > 12_000  # reading the offsets mapped their pages in ...
    assert touched - after > 12_000  # ... and release gave them back
    assert chunks.chunk(0).values[5].as_py() == 5  # the data is still there


def test_a_failed_load_leaves_no_spool_file_in_the_cache_directory(tmp_path: Path) -> None:
    only_meta = tmp_path / "meta.jsonl"
    only_meta.write_text('{"type": "meta", "v": 1, "recorder": "x"}\n', encoding="utf-8")
    bad = tmp_path / "bad" / "requests.jsonl"
    bad.parent.mkdir()
    bad.write_text('{"type": "request", "v": 1, "id": "q1", "t_send": "soon"}\n', encoding="utf-8")
    for path in (only_meta, bad):
        with pytest.raises(BadInputError):
            load_capture([path])
        leftovers = list((path.parent / ".traceanalyzer-cache").glob(".spool-*"))
        assert leftovers == []


def _mapped_ranges() -> list[tuple[int, int]]:
    ranges = []
    with open("/proc/self/maps", encoding="ascii") as maps:
        for line in maps:
            parts = line.split()
            if len(parts) >= 6 and parts[5].endswith(".arrow"):
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                ranges.append((lo, hi))
    return ranges


def _in_file(column: pa.ChunkedArray) -> bool:
    """Whether every data buffer of ``column`` lies in a mapped ``.arrow`` file (not in the heap)."""
    ranges = _mapped_ranges()
    buffers = [b for chunk in column.chunks for b in chunk.buffers()[1:] if b is not None and b.size]
    return bool(buffers) and all(any(lo <= b.address < hi for lo, hi in ranges) for b in buffers)


@pytest.mark.parametrize("cache", [False, True])
def test_ids_and_texts_stay_in_the_mapped_file(tmp_path: Path, cache: bool) -> None:
    lines = [
        json.dumps(
            {
                "type": "request",
                "v": 1,
                "id": f"q{i}",
                "response_id": f"r{i}",
                "prompt_id": "p",
                "t_send": 10**18 + i,
                "t_end": 10**18 + i + 9,
                "chunks_us": [1, 2],
                "text": f"answer {i}",
                "error": None,
            }
        )
        for i in range(50)
    ]
    path = tmp_path / "requests.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if cache:
        load_capture([path])  # writes the cache entry; the second load maps it
    requests = load_capture([path], cache=cache).requests
    for name in ("id", "response_id", "text", "chunks_us"):
        assert _in_file(requests.column(name)), name
    if not cache:  # (a cache entry maps every table)
        assert not _in_file(requests.column("t_send"))  # request-level numbers are in memory
    assert requests.column("id").to_pylist() == [f"q{i}" for i in range(50)]
    assert requests.column("text").to_pylist() == [f"answer {i}" for i in range(50)]
