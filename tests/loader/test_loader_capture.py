"""Captures as a whole: directories, mixed files, clock offsets, host / run from meta lines, the contract."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from traceanalyzer.loader import Capture, Inventory, load_capture
from traceanalyzer.schema import RECORD_TYPES, TABLE_SCHEMAS


def meta(host: str, run: str = "r") -> dict[str, Any]:
    return {"type": "meta", "v": 1, "recorder": "test", "run": run, "host": host, "t": 0}


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps({"v": 1, **r}) + "\n" for r in records)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def req(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "request",
        "id": f"q{i}",
        "t_send": 1_000 + i,
        "t_end": 2_000 + i,
        "chunks_us": [5],
        **extra,
    }


def test_table_schemas_match_the_loader_contract() -> None:
    """docs/architecture.md, "Loader contract": the columns other stages code against."""
    assert TABLE_SCHEMAS["requests"].names == [
        *("run", "host", "worker", "id", "response_id", "model", "api", "scenario", "prompt_id", "stage"),
        *("in_flight", "prompt_tokens", "max_tokens", "t_send", "t_headers", "t_first", "t_end", "chunks_us"),
        *("chunk_tokens", "output_tokens", "tokens_source", "finish_reason", "status", "error_class"),
        *("error_message", "error_status", "text", "expected", "warmup", "source_file"),
        *("session_id", "turn", "session_turns", "cached_tokens", "history_chars", "stream"),
    ]
    assert TABLE_SCHEMAS["requests"].field("chunks_us").type == pa.list_(pa.int64())
    assert TABLE_SCHEMAS["requests"].field("expected").type == pa.list_(pa.string())
    assert TABLE_SCHEMAS["requests"].field("warmup").type == pa.bool_()
    assert TABLE_SCHEMAS["gpu"].names[:3] == ["host", "t", "gpu"]
    assert TABLE_SCHEMAS["server"].field("metrics").type == pa.map_(pa.string(), pa.float64())
    assert TABLE_SCHEMAS["event"].names == ["host", "run", "t", "name", "detail"]
    assert TABLE_SCHEMAS["failures"].names == [
        "host",
        "t_first",
        "t_last",
        "class",
        "status",
        "count",
        "name",
        "message",
        "source",
    ]
    assert TABLE_SCHEMAS["totals"].names == ["host", "source", "name", "requests", "failures", "detail"]
    assert TABLE_SCHEMAS["meta"].names == (
        ["path", "recorder", "tool_version", "run", "host", "t", "clock_wall_ns", "clock_mono_ns", "config"]
    )
    for name in ("gpu", "host", "server", "load"):
        for field in TABLE_SCHEMAS[name]:
            if field.name not in ("host", "t", "gpu", "uuid", "name", "source", "engine", "metrics"):
                assert field.type == pa.float64(), (name, field.name)


def test_an_empty_capture_object_has_every_table() -> None:
    capture = Capture()
    assert set(capture.tables()) == set(TABLE_SCHEMAS)
    assert all(t.num_rows == 0 and t.schema == TABLE_SCHEMAS[n] for n, t in capture.tables().items())
    assert capture.inventory == Inventory()


def test_directory_capture_reads_every_trace_file_below_it(tmp_path: Path) -> None:
    write(tmp_path / "client" / "requests.jsonl", [meta("c1"), req(1), req(2)])
    write(tmp_path / "client" / "requests.0002.jsonl.gz", [meta("c1"), req(3)])
    write(tmp_path / "gpu" / "gpu.jsonl.gz", [meta("g1"), {"type": "gpu", "t": 5, "gpu": 0, "util_pct": 50}])
    write(tmp_path / ".traceanalyzer-cache" / "stale.jsonl", [{"type": "request"}])  # never read
    (tmp_path / "notes.md").write_text("# not a trace")
    capture = load_capture([tmp_path], cache=False)
    assert [Path(f.path).relative_to(tmp_path).as_posix() for f in capture.inventory.files] == [
        "client/requests.0002.jsonl.gz",
        "client/requests.jsonl",
        "gpu/gpu.jsonl.gz",
    ]
    assert sorted(capture.requests.column("id").to_pylist()) == ["q1", "q2", "q3"]
    assert capture.gpu.column("host").to_pylist() == ["g1"]
    assert capture.meta.num_rows == 3


def test_host_and_run_come_from_the_meta_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "mixed.jsonl",
        [
            meta("node-7", run="run-9"),
            req(1),
            req(2, host="elsewhere", run="other"),
            {"type": "event", "t": 3, "name": "stage", "detail": "s2"},
            {"type": "load", "t": 4, "users": 8},
        ],
    )
    capture = load_capture([path], cache=False)
    assert capture.requests.select(["host", "run"]).to_pylist() == [
        {"host": "node-7", "run": "run-9"},
        {"host": "elsewhere", "run": "other"},
    ]
    assert capture.event.to_pylist() == [
        {"host": "node-7", "run": "run-9", "t": 3, "name": "stage", "detail": '"s2"'}
    ]
    assert capture.load.column("host").to_pylist() == ["node-7"]
    assert capture.requests.column("source_file").to_pylist() == [str(path)] * 2


def test_clock_offsets_shift_every_time_of_that_host(tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl", [meta("client"), req(1, t_first=1_500, t_headers=1_200)])
    write(tmp_path / "b.jsonl", [meta("gpu-node"), {"type": "gpu", "t": 10, "gpu": 0}])
    write(
        tmp_path / "c.jsonl",
        [meta("gpu-node"), {"type": "failures", "class": "oom", "count": 2, "t_first": 7}],
    )
    capture = load_capture([tmp_path], clock_offsets={"gpu-node": 1_000, "client": -5}, cache=False)
    (row,) = capture.requests.to_pylist()
    assert (row["t_send"], row["t_headers"], row["t_first"], row["t_end"]) == (996, 1_195, 1_495, 1_996)
    assert capture.gpu.column("t").to_pylist() == [1_010]
    assert capture.failures.select(["t_first", "t_last"]).to_pylist() == [{"t_first": 1_007, "t_last": None}]
    assert capture.meta.column("t").to_pylist() == [-5, 1_000, 1_000]


def test_a_type_first_seen_deep_in_a_file_is_still_loaded(tmp_path: Path) -> None:
    """The reader guesses the columns from a file's first and last 256 KiB; a miss means a second read."""
    text = "x" * 2_000
    records = [meta("h")] + [req(i, text=text) for i in range(400)]
    records.insert(200, {"type": "gpu", "t": 9, "gpu": 1, "util_pct": 99})
    records.insert(201, {"type": "server", "t": 9, "waiting": 3, "metrics": {"a": 1}})
    capture = load_capture([write(tmp_path / "big.jsonl", records)], cache=False)
    assert capture.requests.num_rows == 400
    assert capture.gpu.column("util_pct").to_pylist() == [99.0]
    assert capture.server.to_pylist()[0]["metrics"] == [("a", 1.0)]


def test_interleaved_types_are_split_in_order(tmp_path: Path) -> None:
    records: list[dict[str, Any]] = [meta("g")]
    for tick in range(300):
        records += [{"type": "gpu", "t": tick, "gpu": g, "mem_used_mib": tick + g} for g in range(4)]
        records.append({"type": "host", "t": tick, "cpu_pct": tick / 3})
    capture = load_capture([write(tmp_path / "gpu.jsonl", records)], cache=False)
    assert capture.gpu.num_rows == 1_200 and capture.host.num_rows == 300
    assert capture.gpu.column("mem_used_mib").to_pylist()[:5] == [0.0, 1.0, 2.0, 3.0, 1.0]
    assert capture.host.column("t").to_pylist() == list(range(300))
    assert capture.inventory.files[0].types == {"gpu": 1_200, "host": 300, "meta": 1}


def test_a_single_path_may_be_given_without_a_list(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jsonl", [meta("h"), req(1)])
    assert load_capture(path, cache=False).requests.num_rows == 1
    assert load_capture(str(path), cache=False).requests.num_rows == 1


@pytest.mark.parametrize("type_name", [n for n in RECORD_TYPES if n != "meta"])
def test_every_type_loads_into_its_table(tmp_path: Path, type_name: str) -> None:
    minimal = {
        f.name: 1 if f.kind in ("int", "float") else "x" for f in RECORD_TYPES[type_name].fields if f.required
    }
    if type_name == "request":
        minimal["chunks_us"] = []
    path = write(tmp_path / "t.jsonl", [meta("h"), {"type": type_name, **minimal}])
    capture = load_capture([path], cache=False)
    assert getattr(capture, RECORD_TYPES[type_name].table).num_rows == 1
