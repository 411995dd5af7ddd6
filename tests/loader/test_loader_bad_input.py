"""Bad input: every problem is named with its file and line (strict), or skipped and counted (lenient)."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from recorders.tracefile import TraceWriter
from traceanalyzer.errors import BadInputError
from traceanalyzer.loader import load_capture

GPU = {"type": "gpu", "v": 1, "t": 5, "gpu": 0}
SERVER = {"type": "server", "v": 1, "t": 5}
META = json.dumps({"type": "meta", "v": 1, "recorder": "test", "run": "r", "host": "h", "t": 1})


def req(i: int, **fields: Any) -> str:
    rec = {"type": "request", "v": 1, "id": f"q{i}", "t_send": 10 + i, "t_end": 20 + i, "chunks_us": [1, 2]}
    rec.update(fields)
    return json.dumps({k: v for k, v in rec.items() if v is not ...})


def write_lines(path: Path, *lines: str, end: str = "\n") -> Path:
    path.write_text("\n".join(lines) + end, encoding="utf-8")
    return path


# (name, bad line, problem kind, words the message must hold)
BAD_LINES = [
    ("not JSON", '{"type": "request", "v": 1, "id": ', "not JSON", "not JSON"),
    ("not an object", "[1, 2, 3]", "not a JSON object", "not a JSON object"),
    ("missing t_send", req(1, t_send=...), "missing required field", "'t_send'"),
    ("null t_end", req(1, t_end=None), "missing required field", "'t_end'"),
    ("missing type", json.dumps({"v": 1, "id": "x"}), "missing required field", "'type'"),
    ("text in an integer", req(1, t_first="soon"), "wrong type", "'t_first'"),
    ("object in an integer", req(1, status={"code": 200}), "wrong type", "'status'"),
    ("chunks not a list", req(1, chunks_us="1,2"), "wrong type", "'chunks_us'"),
    ("text in chunks", req(1, chunks_us=[1, "x"]), "wrong type", "'chunks_us'"),
    ("null in chunk_tokens", req(1, chunk_tokens=[1, None]), "wrong type", "'chunk_tokens'"),
    ("error without class", req(1, error={"status": 500}), "wrong type", "'error'"),
    ("error as text", req(1, error="boom"), "wrong type", "'error'"),
    ("text in warmup", req(1, warmup="maybe"), "wrong type", "'warmup'"),
    ("text in a number", json.dumps({**GPU, "util_pct": "high"}), "wrong type", "'util_pct'"),
    ("text in metrics", json.dumps({**SERVER, "metrics": {"q": "x"}}), "wrong type", "'metrics'"),
    ("schema v2", req(1, v=2), "unknown schema version", "v=2"),
    ("version as text", req(1, v="1"), "unknown schema version", 'v="1"'),
    ("no version", req(1, v=...), "missing required field", "'v'"),
    ("event without name", json.dumps({"type": "event", "v": 1, "t": 5}), "missing required field", "'name'"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "bad", "kind", "words"), BAD_LINES, ids=[c[0] for c in BAD_LINES])
def test_bad_line_names_file_and_line(tmp_path: Path, name: str, bad: str, kind: str, words: str) -> None:
    path = write_lines(tmp_path / "requests.jsonl", META, req(1), "", req(2), bad, req(3))
    with pytest.raises(BadInputError) as info:
        load_capture([path], cache=False)
    err = info.value
    assert (err.path, err.line) == (str(path), 5)  # the blank line 3 counts as a line
    assert str(err).startswith(f"{path}:5: ")
    assert words in str(err)

    capture = load_capture([path], cache=False, lenient=True)
    assert capture.requests.column("id").to_pylist() == ["q1", "q2", "q3"]
    (entry,) = capture.inventory.files
    assert (entry.skipped, entry.problems) == (1, {kind: 1})
    assert capture.inventory.skipped_lines == 1
    assert any(f"line 5: {words}" in w or words in w for w in capture.inventory.warnings)


def test_invalid_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_bytes(f"{META}\n{req(1)}\n".encode() + b'{"type": "request", "id": "\xff"}\n')
    with pytest.raises(BadInputError, match=r"requests\.jsonl:3: not UTF-8"):
        load_capture([path], cache=False)


def test_lenient_counts_every_bad_line_per_file(tmp_path: Path) -> None:
    good = write_lines(tmp_path / "a.jsonl", META, req(1), req(2))
    bad = write_lines(
        tmp_path / "b.jsonl", META, "nope", req(3), req(4, t_send="x"), "{", req(5, v=7), req(6)
    )
    with pytest.raises(BadInputError) as info:
        load_capture([tmp_path], cache=False)
    assert (info.value.path, info.value.line) == (str(bad), 2)

    capture = load_capture([tmp_path], cache=False, lenient=True)
    assert capture.requests.column("id").to_pylist() == ["q1", "q2", "q3", "q6"]
    entries = {Path(f.path).name: f for f in capture.inventory.files}
    assert entries["a.jsonl"].skipped == 0 and entries["a.jsonl"].records == 3
    assert entries["b.jsonl"].skipped == 4 and entries["b.jsonl"].records == 3
    assert entries["b.jsonl"].problems == {"not JSON": 2, "wrong type": 1, "unknown schema version": 1}
    assert capture.inventory.skipped_lines == 4
    assert str(good) in [f.path for f in capture.inventory.files]


@pytest.mark.parametrize("content", ["", "\n\n  \n"], ids=["zero bytes", "blank lines"])
def test_empty_file_is_bad_input(tmp_path: Path, content: str) -> None:
    empty = tmp_path / "gpu.jsonl"
    empty.write_text(content)
    write_lines(tmp_path / "requests.jsonl", META, req(1))
    with pytest.raises(BadInputError, match=r"gpu\.jsonl: empty file") as info:
        load_capture([tmp_path], cache=False)
    assert info.value.path == str(empty)

    capture = load_capture([tmp_path], cache=False, lenient=True)
    entry = next(f for f in capture.inventory.files if f.path == str(empty))
    assert entry.problems == {"empty file": 1} and entry.records == 0


def test_capture_without_records_is_bad_input_even_when_lenient(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "requests.jsonl", META, "garbage")
    for lenient in (False, True):
        with pytest.raises(BadInputError, match=str(path)):
            load_capture([path], cache=False, lenient=lenient)
    only_meta = write_lines(tmp_path / "only-meta.jsonl", META)
    with pytest.raises(BadInputError, match=r"only-meta\.jsonl: no trace records"):
        load_capture([only_meta], cache=False)


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"nothing-here: no such file or directory"):
        load_capture([tmp_path / "nothing-here"], cache=False)
    (tmp_path / "notes.txt").write_text("not a trace")
    with pytest.raises(BadInputError, match=r"no \*\.jsonl or \*\.jsonl\.gz trace files"):
        load_capture([tmp_path], cache=False)


def test_unknown_types_are_counted_not_errors(tmp_path: Path) -> None:
    future = json.dumps({"type": "future_thing", "v": 1, "x": [1]})
    path = write_lines(tmp_path / "requests.jsonl", META, future, req(1), future)
    capture = load_capture([path], cache=False)
    assert capture.requests.num_rows == 1
    assert capture.inventory.unknown_types == {"future_thing": 2}
    assert capture.inventory.files[0].types == {"future_thing": 2, "meta": 1, "request": 1}
    assert capture.inventory.files[0].records == 2  # meta + request; unknown types are not loaded
    assert any("unknown type: 'future_thing' (2)" in w for w in capture.inventory.warnings)


def test_truncated_last_line_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_lines(tmp_path / "requests.jsonl", META, req(1), req(2), req(3)[:25], end="")
    with caplog.at_level(logging.WARNING, logger="traceanalyzer.loader"):
        capture = load_capture([path], cache=False)  # strict: still loads
    assert capture.requests.column("id").to_pylist() == ["q1", "q2"]
    (entry,) = capture.inventory.files
    assert (entry.skipped, entry.problems) == (1, {"truncated last line": 1})
    assert f"{path}:4: truncated last line" in caplog.text


def test_complete_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "requests.jsonl", META, req(1), req(2), end="")
    capture = load_capture([path], cache=False)
    assert capture.requests.num_rows == 2 and capture.inventory.skipped_lines == 0


def test_truncated_last_line_plus_a_bad_line_still_fails(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "requests.jsonl", META, "oops", req(1), req(2)[:10], end="")
    with pytest.raises(BadInputError, match=r"requests\.jsonl:2: not JSON"):
        load_capture([path], cache=False)
    capture = load_capture([path], cache=False, lenient=True)
    assert capture.inventory.files[0].problems == {"truncated last line": 1, "not JSON": 1}


def _killed_gzip(path: Path, n: int, cut: int) -> None:
    """A gzip trace whose writer never closed it, its last ``cut`` bytes lost."""
    writer = TraceWriter(path, recorder="test", run="r", host="h")
    for i in range(n):
        writer.write({"type": "request", "id": f"q{i}", "t_send": i, "t_end": i + 1, "chunks_us": [i]})
    writer._fh._raw.close()  # type: ignore[union-attr]  # as if killed: no gzip trailer
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - cut])


def test_gzip_stream_cut_short_is_read_up_to_the_cut(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl.gz"
    _killed_gzip(path, 50, cut=0)
    capture = load_capture([path], cache=False)
    assert capture.requests.num_rows == 50
    assert any("gzip stream cut short" in w for w in capture.inventory.warnings)

    path = tmp_path / "cut" / "requests.jsonl.gz"
    _killed_gzip(path, 50, cut=7)  # mid-record: the partial line is skipped and counted
    capture = load_capture([path], cache=False)
    assert 45 <= capture.requests.num_rows < 50
    assert capture.inventory.files[0].problems == {"truncated last line": 1}


def test_corrupt_gzip_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl.gz"
    data = gzip.compress("\n".join([META] + [req(i) for i in range(2000)]).encode() + b"\n")
    path.write_bytes(data[: len(data) // 2] + b"\x00garbage" * 50 + data[len(data) // 2 :])
    with pytest.raises(BadInputError, match=r"requests\.jsonl\.gz"):
        load_capture([path], cache=False)
    capture = load_capture([path], cache=False, lenient=True)
    assert capture.requests.num_rows < 2000
    assert "corrupt gzip data" in capture.inventory.files[0].problems


def test_duplicate_request_ids_are_reported(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "requests.jsonl", META, req(1), req(2), req(1), req(1), req(3, run="other"))
    other = write_lines(tmp_path / "more.jsonl", META, req(3))
    capture = load_capture([path, other], cache=False)
    assert capture.requests.num_rows == 6
    assert capture.inventory.duplicate_request_ids == 2  # q1 twice more in run r; q3 is in two runs
    assert capture.inventory.warnings == ["run r: 1 request id(s) appear more than once ('q1' x3)"]


def test_numbers_given_as_text_are_read_as_numbers(tmp_path: Path) -> None:
    """What DuckDB's JSON cast accepts is accepted (docs/schema.md, "Validation")."""
    path = write_lines(tmp_path / "requests.jsonl", META, req(1, in_flight="16", prompt_tokens=12.0))
    (row,) = load_capture([path], cache=False).requests.to_pylist()
    assert (row["in_flight"], row["prompt_tokens"]) == (16, 12)


def test_bad_line_in_a_gzip_file_among_good_files(tmp_path: Path) -> None:
    write_lines(tmp_path / "a.jsonl", META, req(1))
    (tmp_path / "b.jsonl.gz").write_bytes(
        gzip.compress("\n".join([META, req(2), "", "nope", req(3)]).encode())
    )
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress("\n".join([META, req(4)]).encode() + b"\n"))
    with pytest.raises(BadInputError, match=r"b\.jsonl\.gz:4: not JSON"):
        load_capture([tmp_path], cache=False)
    capture = load_capture([tmp_path], cache=False, lenient=True)
    assert capture.requests.column("id").to_pylist() == ["q1", "q2", "q3", "q4"]
    assert [f.skipped for f in capture.inventory.files] == [0, 1, 0]
