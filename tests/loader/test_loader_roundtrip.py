"""Property tests: random records of every type round-trip through TraceWriter and the loader unchanged."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loader_records import DATA_TYPES, actual_row, any_record, expected_row, records

from recorders.tracefile import Clock, TraceWriter
from traceanalyzer.loader import load_capture
from traceanalyzer.schema import RECORD_TYPES, TABLE_SCHEMAS

RUN, HOST = "run-1", "client-1"
SETTINGS = settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _write(path: Path, recs: list[dict[str, Any]], **writer_options: Any) -> list[Path]:
    clock = Clock(mono=lambda: 0, wall_ns=1_700_000_000_000_000_000, mono_ns=0)
    with TraceWriter(path, recorder="test", run=RUN, host=HOST, clock=clock, **writer_options) as writer:
        for rec in recs:
            writer.write(rec)
    return writer.paths


def _check(capture_paths: list[Path], recs: list[dict[str, Any]], written: list[Path]) -> None:
    capture = load_capture(capture_paths, cache=False)
    # Which file each record landed in: the writer fills one part after another, in order.
    expected: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLE_SCHEMAS}
    per_file = _records_per_file(written, len(recs))
    for rec, source in zip(recs, per_file, strict=True):
        table = RECORD_TYPES[rec["type"]].table
        expected[table].append(expected_row(rec, source=str(source), run=RUN, host=HOST))
    for rt in RECORD_TYPES.values():
        if rt.name == "meta":
            continue
        got = [actual_row(row, rt.name) for row in getattr(capture, rt.table).to_pylist()]
        assert got == expected[rt.table], rt.name
    assert capture.meta.num_rows == len(written)
    assert capture.meta.column("path").to_pylist() == [str(p) for p in written]
    assert set(capture.meta.column("run").to_pylist()) == {RUN}
    assert capture.inventory.skipped_lines == 0
    assert [f.records for f in capture.inventory.files] == [
        sum(1 for s in per_file if s == p) + 1 for p in written
    ]
    for rt in RECORD_TYPES.values():
        assert getattr(capture, rt.table).schema == rt.schema


def _records_per_file(written: list[Path], n: int) -> list[Path]:
    """The file of each of ``n`` records, read back from the files themselves (lines after the meta line)."""
    import gzip

    out: list[Path] = []
    for path in written:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            out.extend(path for line in list(fh)[1:] if line.strip())
    assert len(out) == n
    return out


@pytest.mark.parametrize("name", ["capture.jsonl", "capture.jsonl.gz"])
@SETTINGS
@given(recs=st.lists(any_record, min_size=1, max_size=12))
def test_random_records_round_trip(name: str, recs: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        _check([path], recs, _write(path, recs))


@SETTINGS
@given(recs=st.lists(any_record, min_size=1, max_size=20), rotate_bytes=st.integers(200, 2000))
def test_random_records_round_trip_rotated(recs: list[dict[str, Any]], rotate_bytes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        written = _write(Path(tmp) / "capture.jsonl", recs, rotate_bytes=rotate_bytes)
        _check([Path(tmp)], recs, written)  # the directory: every part, in order


@pytest.mark.parametrize("type_name", DATA_TYPES)
@SETTINGS
@given(data=st.data())
def test_each_type_round_trips_in_its_own_file(type_name: str, data: st.DataObject) -> None:
    recs = data.draw(st.lists(records(type_name), min_size=1, max_size=6))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{type_name}.jsonl"
        _check([path], recs, _write(path, recs))


def test_config_and_meta_fields_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "gpu.jsonl"
    config = {"interval_s": 1.0, "backend": "nvml", "api_key": "sk-secret", "nested": {"a": [1, 2]}}
    clock = Clock(mono=lambda: 5, wall_ns=1_000, mono_ns=5)
    with TraceWriter(path, recorder="gpu", config=config, run="r", host="h", clock=clock) as writer:
        writer.write({"type": "gpu", "t": writer.now_ns(), "gpu": 0, "util_pct": 12})
    (meta,) = load_capture([path], cache=False).meta.to_pylist()
    assert meta["recorder"] == "gpu" and meta["run"] == "r" and meta["host"] == "h"
    assert (meta["t"], meta["clock_wall_ns"], meta["clock_mono_ns"]) == (1_000, 1_000, 5)
    assert json.loads(meta["config"]) == {**config, "api_key": "<redacted>"}
