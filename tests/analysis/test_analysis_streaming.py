"""The streaming chunk path (offsets spooled to a mapped file, reduced batch by batch) gives the same numbers
as the same capture held in memory, and as a plain computation over every chunk offset."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from analysis_traces import T0, S, request, table

from traceanalyzer.analysis import analyze
from traceanalyzer.loader import Capture, load_capture
from traceanalyzer.loader import fast as fast_reader
from traceanalyzer.metrics import chunks as chunks_module
from traceanalyzer.model import Analysis, AnalysisOptions, Stats
from traceanalyzer.schema import TABLE_SCHEMAS
from traceanalyzer.summary import summary

OPTIONS = AnalysisOptions(window_s=5.0)


def _records(n: int, seed: int, hosts: int = 1) -> list[dict[str, Any]]:
    """``n`` requests over about a minute: most streamed, some failed after or before chunks, some with
    ``chunk_tokens``, some without chunks at all."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        send = T0 + rng.randrange(60 * S)
        k = rng.choice([0, 1, 2, 5, 40]) if i % 9 else 0
        offsets = sorted(rng.randrange(100_000, 9_000_000) for _ in range(k))
        error = None
        if i % 11 == 4:
            error = ("stream_broken", None)
        elif i % 13 == 5:
            error, offsets = ("server_5xx", 500), []
        extra: dict[str, Any] = {"host": f"client-{i % hosts}"}
        if i % 5 == 1 and offsets:
            extra["chunk_tokens"] = [rng.randrange(1, 4) for _ in offsets]
        if i % 7 == 2 and offsets:
            extra["output_tokens"] = len(offsets) * 2
        out.append(request(f"q{i}", send, offsets, error=error, **extra))
    return out


def _line(record: dict[str, Any]) -> str:
    """A trace line of a request row (the error columns as the trace's ``error`` object)."""
    rec: dict[str, Any] = {"type": "request", "v": 1}
    rec.update({k: v for k, v in record.items() if v is not None and not k.startswith("error_")})
    if record.get("error_class") is not None:
        rec["error"] = {
            "class": record["error_class"],
            "status": record.get("error_status"),
            "message": record.get("error_message"),
        }
    return json.dumps(rec)


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(_line(r) + "\n" for r in records), encoding="utf-8")
    return path


def _plain_itl(records: list[dict[str, Any]]) -> np.ndarray:
    gaps = [
        b - a
        for r in records
        if r.get("error_class") is None and r.get("t_send") is not None
        for a, b in itertools.pairwise(r["chunks_us"])
    ]
    return np.asarray(gaps, dtype=np.float64) / 1e6


def _plain_tokens(records: list[dict[str, Any]], windows: int, window_s: float) -> np.ndarray:
    t0 = min(r["t_send"] for r in records if r.get("t_send") is not None)
    out = np.zeros(windows)
    for r in records:
        if r.get("t_send") is None:
            continue
        tokens = r.get("chunk_tokens") or [1] * len(r["chunks_us"])
        for us, n in zip(r["chunks_us"], tokens, strict=True):
            w = int((r["t_send"] - t0 + us * 1000) // round(window_s * S))
            out[min(max(w, 0), windows - 1)] += n
    return out


def _assert_stats_match(stats: Stats, values: np.ndarray) -> None:
    assert stats.count == values.size
    if values.size == 0:
        return
    expected = np.quantile(values, [0.5, 0.9, 0.95, 0.99, 0.999], method="linear")
    got = [stats.p50, stats.p90, stats.p95, stats.p99, stats.p99_9]
    assert got == pytest.approx(expected.tolist(), rel=1e-12, abs=1e-15)
    assert stats.mean == pytest.approx(float(values.mean()), rel=1e-12)
    assert stats.std == pytest.approx(float(values.std(ddof=0)), rel=1e-9, abs=1e-15)
    # the gaps are counted in whole microseconds and scaled once: equal up to the last bit of the scaling
    assert (stats.min, stats.max) == pytest.approx((float(values.min()), float(values.max())), rel=1e-15)


@pytest.fixture
def tiny_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loader batches of 4 rows and chunk-pass slices of 4 offsets: batch and slice boundaries fall
    between and inside requests' chunk lists everywhere."""
    monkeypatch.setattr(fast_reader, "BATCH_ROWS", 4)
    monkeypatch.setattr(chunks_module, "SLICE_OFFSETS", 4)


CASES = {
    "one request": lambda: [request("only", T0, [150_000, 170_000, 230_000])],
    "one request without chunks": lambda: [request("only", T0, [], t_end=T0 + 2 * S)],
    "failures and requests without chunks": lambda: _records(40, seed=1),
    "several hosts": lambda: _records(40, seed=2, hosts=3),
}


def _memory_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary of the same records built straight into an in-memory capture (no loader, no spool)."""
    rows = [{k: v for k, v in r.items() if k in TABLE_SCHEMAS["requests"].names} for r in records]
    capture = Capture(requests=table("requests", rows))
    return json.loads(json.dumps(summary(analyze(capture, OPTIONS))))


def _loaded(paths: list[Path]) -> tuple[dict[str, Any], Analysis]:
    """The summary (less the inventory: the in-memory capture has no files) and analysis of a load."""
    result = analyze(load_capture(paths), OPTIONS)
    data = json.loads(json.dumps(summary(result)))
    data.pop("inventory")
    return data, result


@pytest.mark.parametrize("case", list(CASES))
def test_streamed_capture_matches_in_memory_and_plain(case: str, tmp_path: Path, tiny_batches: None) -> None:
    records = CASES[case]()
    path = _write(tmp_path / "requests.jsonl", records)
    expected = _memory_summary(records)
    expected.pop("inventory")
    for _ in range(2):  # first load (spool) and cached load (the cache entry's chunk file)
        data, result = _loaded([path])
        assert data == expected
    _assert_stats_match(result.latency.itl_s, _plain_itl(records))
    ts = result.timeseries
    assert ts is not None
    tokens = _plain_tokens(records, len(ts.tps), OPTIONS.window_s)
    assert np.asarray(ts.tps) * np.asarray(ts.length_s) == pytest.approx(tokens)


def test_unordered_files_and_hosts_match_in_memory(tmp_path: Path, tiny_batches: None) -> None:
    """Records out of time order, spread over plain and gzip files of several hosts: the loaded capture
    (rows in file order) gives the summary of the same rows in memory."""
    import gzip

    records = _records(48, seed=3, hosts=4)
    random.Random(5).shuffle(records)
    parts = [records[:20], records[20:30], records[30:]]
    a = _write(tmp_path / "cap" / "a.jsonl", parts[0])
    b = _write(tmp_path / "cap" / "b.jsonl", parts[1])
    c_plain = _write(tmp_path / "cap" / "c.jsonl", parts[2])
    c = c_plain.with_name("c.jsonl.gz")
    c.write_bytes(gzip.compress(c_plain.read_bytes()))
    c_plain.unlink()
    # files are taken in name order: a, b, c.gz (the gzip one is read by a later query than the plain ones)
    ordered = parts[0] + parts[1] + parts[2]
    expected = _memory_summary(ordered)
    expected.pop("inventory")
    for _ in range(2):  # first load (spool) and cached load
        data, result = _loaded([a, b, c])
        assert data == expected
    _assert_stats_match(result.latency.itl_s, _plain_itl(records))


def test_requests_without_t_send_are_left_out_of_the_chunk_pass(tiny_batches: None) -> None:
    """(Only an importer's in-memory capture can hold them: the loader requires ``t_send``.)"""
    records = _records(30, seed=4)
    records[3] = {**records[3], "t_send": None, "chunks_us": [1, 5, 100]}
    rows = [{k: v for k, v in r.items() if k in TABLE_SCHEMAS["requests"].names} for r in records]
    result = analyze(Capture(requests=table("requests", rows)), OPTIONS)
    _assert_stats_match(result.latency.itl_s, _plain_itl(records))
    ts = result.timeseries
    assert ts is not None
    tokens = _plain_tokens(records, len(ts.tps), OPTIONS.window_s)
    assert np.asarray(ts.tps) * np.asarray(ts.length_s) == pytest.approx(tokens)


def test_loaded_chunk_columns_read_like_any_column(tmp_path: Path, tiny_batches: None) -> None:
    """The mapped chunk columns are the loader contract's ``chunks_us`` / ``chunk_tokens``, row for row."""
    records = _records(25, seed=6)
    path = _write(tmp_path / "requests.jsonl", records)
    for _ in range(2):
        capture = load_capture([path])
        assert capture.requests.schema == TABLE_SCHEMAS["requests"]
        assert capture.requests.column("chunks_us").to_pylist() == [r["chunks_us"] for r in records]
        assert capture.requests.column("chunk_tokens").to_pylist() == [r.get("chunk_tokens") for r in records]
        assert capture.requests.column("id").to_pylist() == [r["id"] for r in records]
