"""TraceWriter: meta first line, per-record flush, gzip, rotation by size and by age, redaction, the clock."""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from pathlib import Path
from typing import Any

import pytest

from recorders.tracefile import REDACTED, Clock, TraceWriter, redact
from traceanalyzer.loader import load_capture


class FakeMono:
    """A monotonic clock the test moves by hand (nanoseconds)."""

    def __init__(self, start: int = 1_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)


def lines(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def request(i: int) -> dict[str, Any]:
    return {"type": "request", "id": f"q{i}", "t_send": i, "t_end": i + 1, "chunks_us": [i]}


def test_clock_derives_epoch_time_from_the_monotonic_clock() -> None:
    mono = FakeMono(start=500)
    clock = Clock(mono=mono, wall_ns=1_700_000_000_000_000_000)
    assert clock.anchor() == {"wall_ns": 1_700_000_000_000_000_000, "mono_ns": 500}
    mono.advance(2.5)
    assert clock.now_ns() == 1_700_000_000_000_000_000 + 2_500_000_000
    assert clock.to_epoch_ns(500 + 7) == 1_700_000_000_000_000_007


@pytest.mark.parametrize("name", ["requests.jsonl", "requests.jsonl.gz"])
def test_meta_is_the_first_line(tmp_path: Path, name: str) -> None:
    clock = Clock(mono=FakeMono(42), wall_ns=1_000_000)
    config = {"url": "http://x/v1", "api_key": "sk-123"}
    with TraceWriter(
        tmp_path / name, recorder="http_stream", config=config, run="r1", host="h1", clock=clock
    ) as w:
        w.write(request(1))
        w.event("stage", {"stage": "s2"})
    meta, req, event = lines(tmp_path / name)
    assert meta == {
        "type": "meta",
        "v": 1,
        "recorder": "http_stream",
        "tool_version": meta["tool_version"],
        "run": "r1",
        "host": "h1",
        "t": 1_000_000,
        "clock": {"wall_ns": 1_000_000, "mono_ns": 42},
        "config": {"url": "http://x/v1", "api_key": REDACTED},
    }
    assert req == {"type": "request", "v": 1, **{k: v for k, v in request(1).items() if k != "type"}}
    assert (event["type"], event["name"], event["detail"], event["t"]) == (
        "event",
        "stage",
        {"stage": "s2"},
        1_000_000,
    )


def test_schema_version_is_the_writers_and_type_is_needed(tmp_path: Path) -> None:
    with TraceWriter(tmp_path / "t.jsonl", recorder="test") as w:
        w.write({"type": "event", "v": 99, "t": 1, "name": "x"})
        with pytest.raises(ValueError, match="type"):
            w.write({"t": 1})
    assert lines(tmp_path / "t.jsonl")[1]["v"] == 1
    with pytest.raises(ValueError, match="closed"):
        w.write(request(1))


@pytest.mark.parametrize("name", ["requests.jsonl", "requests.jsonl.gz"])
def test_each_record_is_readable_before_close(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    writer = TraceWriter(path, recorder="test")
    try:
        for i in range(3):
            writer.write(request(i))
            data = path.read_bytes()  # another reader, while the writer is still open
            if name.endswith(".gz"):
                data = zlib.decompressobj(wbits=31).decompress(data)
            assert data.endswith(b"\n")
            assert json.loads(data.splitlines()[-1])["id"] == f"q{i}"
    finally:
        writer.close()


def test_rotation_by_size(tmp_path: Path) -> None:
    with TraceWriter(tmp_path / "requests.jsonl", recorder="test", run="r", rotate_bytes=600) as w:
        for i in range(40):
            w.write(request(i))
    parts = sorted(tmp_path.glob("requests.*.jsonl"))
    assert [p.name for p in parts] == [f"requests.{i:04d}.jsonl" for i in range(1, len(parts) + 1)]
    assert len(parts) >= 4 and w.paths == parts
    ids = []
    for number, part in enumerate(parts, 1):
        recs = lines(part)
        assert recs[0]["type"] == "meta" and recs[0]["run"] == "r"
        assert recs[0].get("part", 1) == number
        assert part.stat().st_size < 600 + 200  # rotated at the first record past the limit
        ids += [r["id"] for r in recs[1:]]
    assert ids == [f"q{i}" for i in range(40)]
    assert load_capture([tmp_path], cache=False).requests.column("id").to_pylist() == ids


def test_rotation_by_age_follows_the_injected_clock(tmp_path: Path) -> None:
    mono = FakeMono()
    clock = Clock(mono=mono, wall_ns=1_700_000_000_000_000_000)
    with TraceWriter(tmp_path / "gpu.jsonl.gz", recorder="gpu", clock=clock, rotate_seconds=60) as w:
        for second in range(0, 150, 10):  # one record every 10 s for 150 s
            w.write({"type": "gpu", "t": w.now_ns(), "gpu": 0, "util_pct": second})
            mono.advance(10)
    parts = sorted(tmp_path.glob("gpu.*.jsonl.gz"))
    assert [p.name for p in parts] == ["gpu.0001.jsonl.gz", "gpu.0002.jsonl.gz", "gpu.0003.jsonl.gz"]
    assert [len(lines(p)) - 1 for p in parts] == [6, 6, 3]
    metas = [lines(p)[0] for p in parts]
    assert [m["t"] - metas[0]["t"] for m in metas] == [0, 60_000_000_000, 120_000_000_000]
    gpu = load_capture([tmp_path], cache=False).gpu
    assert gpu.column("util_pct").to_pylist() == [float(s) for s in range(0, 150, 10)]


def test_fsync_interval_follows_the_injected_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr("recorders.tracefile.os.fsync", lambda fd: synced.append(fd))
    mono = FakeMono()
    with TraceWriter(tmp_path / "t.jsonl", recorder="test", clock=Clock(mono=mono), fsync_interval_s=5) as w:
        for _ in range(10):  # 1 s apart: an fsync every 5 s
            w.write(request(0))
            mono.advance(1)
        assert len(synced) == 1
    assert len(synced) == 2  # and one at close


def test_threads_never_interleave_records(tmp_path: Path) -> None:
    with TraceWriter(tmp_path / "t.jsonl", recorder="test") as w:

        def work(k: int) -> None:
            for i in range(200):
                w.write({**request(i), "id": f"{k}-{i}", "text": "x" * (i % 50) * 40})

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(lines(tmp_path / "t.jsonl")) == 1 + 4 * 200


def test_appending_after_a_killed_writer_keeps_the_new_lines_whole(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_text(
        '{"type":"meta","v":1,"recorder":"old"}\n{"type":"request","v":1,"id":"cut', encoding="utf-8"
    )
    with TraceWriter(path, recorder="new") as w:
        w.write(request(1))
    raw = path.read_text(encoding="utf-8").splitlines()
    assert raw[1] == '{"type":"request","v":1,"id":"cut'
    assert json.loads(raw[2])["recorder"] == "new" and json.loads(raw[3])["id"] == "q1"
    capture = load_capture([path], cache=False, lenient=True)
    assert capture.requests.column("id").to_pylist() == ["q1"]
    assert capture.inventory.files[0].problems == {"not JSON": 1}


def test_redaction_of_secrets() -> None:
    config = {
        "url": "https://bob:hunter2@llm.internal/v1",
        "api_key": "sk-live-123",
        "api_key_env": "OPENAI_API_KEY",
        "max_tokens": 256,
        "prompt_tokens": 10,
        "headers": ["Authorization: Bearer sk-live-123", "X-Api-Key: abc", "X-Trace: 1"],
        "nested": {"password": "p", "author": "me", "accessToken": "t", "empty_token": ""},
        "extra_body": {"temperature": 0},
    }
    out = redact(config)
    assert out == {
        "url": f"https://bob:{REDACTED}@llm.internal/v1",
        "api_key": REDACTED,
        "api_key_env": "OPENAI_API_KEY",
        "max_tokens": 256,
        "prompt_tokens": 10,
        "headers": [f"Authorization: {REDACTED}", f"X-Api-Key: {REDACTED}", "X-Trace: 1"],
        "nested": {"password": REDACTED, "author": "me", "accessToken": REDACTED, "empty_token": ""},
        "extra_body": {"temperature": 0},
    }
    assert config["api_key"] == "sk-live-123"  # the caller's dict is left alone
