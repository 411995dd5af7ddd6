"""The cache of parsed captures: a second load skips parsing; any change, or a strict load after a lenient one
that skipped lines, parses again; an unwritable place means no cache, silently."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from traceanalyzer.errors import BadInputError
from traceanalyzer.loader import cache, fast, load_capture

META = json.dumps({"type": "meta", "v": 1, "recorder": "test", "run": "r", "host": "h"})


def req(i: int) -> str:
    return json.dumps(
        {"type": "request", "v": 1, "id": f"q{i}", "t_send": i, "t_end": i + 1, "chunks_us": [i]}
    )


@pytest.fixture
def capture_dir(tmp_path: Path) -> Path:
    (tmp_path / "requests.jsonl").write_text("\n".join([META, req(1), req(2)]) + "\n")
    return tmp_path


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the fast reader's queries (each parse of a file group is one)."""
    calls: list[int] = []
    real = fast.read_batches

    def counting(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fast, "read_batches", counting)
    return calls


def test_second_load_comes_from_the_cache(capture_dir: Path, parses: list[int]) -> None:
    first = load_capture([capture_dir])
    cache.wait()
    assert (capture_dir / ".traceanalyzer-cache" / "CACHEDIR.TAG").is_file()
    assert len(parses) == 1
    second = load_capture([capture_dir])
    assert len(parses) == 1
    assert second.requests.equals(first.requests) and second.meta.equals(first.meta)
    assert second.inventory == first.inventory


def test_a_changed_file_is_parsed_again(capture_dir: Path, parses: list[int]) -> None:
    load_capture([capture_dir])
    path = capture_dir / "requests.jsonl"
    with open(path, "a") as fh:
        fh.write(req(3) + "\n")
    assert load_capture([capture_dir]).requests.num_rows == 3
    assert len(parses) == 2
    os.utime(path, ns=(1, 1))  # same size, another time
    load_capture([capture_dir])
    assert len(parses) == 3


def test_cache_false_neither_reads_nor_writes(capture_dir: Path, parses: list[int]) -> None:
    load_capture([capture_dir], cache=False)
    load_capture([capture_dir], cache=False)
    cache.wait()
    assert len(parses) == 2
    assert not (capture_dir / ".traceanalyzer-cache").exists()


def test_an_unwritable_cache_place_is_no_error(capture_dir: Path, parses: list[int]) -> None:
    (capture_dir / ".traceanalyzer-cache").write_text("a file where the cache directory would go")
    assert load_capture([capture_dir]).requests.num_rows == 2
    assert load_capture([capture_dir]).requests.num_rows == 2
    assert len(parses) == 2


def test_clock_offsets_apply_to_cached_captures_too(capture_dir: Path) -> None:
    load_capture([capture_dir])
    shifted = load_capture([capture_dir], clock_offsets={"h": 100})
    assert shifted.requests.column("t_send").to_pylist() == [101, 102]
    assert load_capture([capture_dir]).requests.column("t_send").to_pylist() == [1, 2]


def test_a_strict_load_does_not_use_a_lenient_entry_that_skipped_lines(capture_dir: Path) -> None:
    with open(capture_dir / "requests.jsonl", "a") as fh:
        fh.write("not json\n")
    assert load_capture([capture_dir], lenient=True).inventory.skipped_lines == 1
    with pytest.raises(BadInputError, match=r"requests\.jsonl:4: not JSON"):
        load_capture([capture_dir])
    assert load_capture([capture_dir], lenient=True).inventory.skipped_lines == 1


def test_cached_warnings_are_logged_again(capture_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with open(capture_dir / "requests.jsonl", "a") as fh:
        fh.write('{"type": "requ')
    load_capture([capture_dir])
    caplog.clear()
    capture = load_capture([capture_dir])
    assert capture.inventory.files[0].problems == {"truncated last line": 1}
    assert "truncated last line" in caplog.text
