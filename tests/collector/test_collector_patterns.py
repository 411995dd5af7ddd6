"""Load patterns against the simulated server: closed loop, open loop (Poisson, constant), stages, ramps,
warm-up marking and several worker processes. Timing tolerances are generous: the machine is shared."""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path
from typing import Any

import pytest
from collector_kit import collect, read_trace, requests_of

from recorders.simserver.testing import SimServerHandle


def max_overlap(records: list[dict[str, Any]]) -> int:
    """Most requests in flight at once, from [t_send, t_end] of each record."""
    edges = sorted(
        [(r["t_send"], 1) for r in records] + [(r["t_end"], -1) for r in records], key=lambda e: (e[0], e[1])
    )
    return max(itertools.accumulate(delta for _, delta in edges))


def test_closed_loop_never_exceeds_its_concurrency(fast_sim: SimServerHandle, tmp_path: Path) -> None:
    out = tmp_path / "requests.jsonl"
    result = collect(fast_sim.base_url, fast_sim.model, out, concurrency=5, requests=40, max_tokens=6)
    records = requests_of(out)
    assert result.sent == len(records) == 40 and result.ok == 40
    assert max(r["in_flight"] for r in records) == 5
    assert max_overlap(records) <= 5
    assert [e["detail"] for e in read_trace(out) if e["type"] == "event"] == [{"reason": "requests"}]


def test_poisson_rate_within_tolerance_over_a_bounded_run(fast_sim: SimServerHandle, tmp_path: Path) -> None:
    out = tmp_path / "requests.jsonl"
    collect(fast_sim.base_url, fast_sim.model, out, rate=60.0, requests=240, max_tokens=4, seed=11)
    sends = sorted(r["t_send"] for r in requests_of(out))
    assert len(sends) == 240
    gaps_s = [(b - a) / 1e9 for a, b in itertools.pairwise(sends)]
    rate = len(gaps_s) / sum(gaps_s)
    assert rate == pytest.approx(60.0, rel=0.2)
    assert statistics.pstdev(gaps_s) / statistics.fmean(gaps_s) == pytest.approx(
        1.0, abs=0.3
    )  # exponential gaps


def test_constant_arrivals_are_evenly_spaced_and_stop_at_the_duration(
    fast_sim: SimServerHandle, tmp_path: Path
) -> None:
    out = tmp_path / "requests.jsonl"
    result = collect(
        fast_sim.base_url, fast_sim.model, out, rate=40.0, arrival="constant", duration_s=1.0, max_tokens=4
    )
    sends = sorted(r["t_send"] for r in requests_of(out))
    assert 30 <= result.sent == len(sends) <= 41
    assert statistics.median((b - a) / 1e6 for a, b in itertools.pairwise(sends)) == pytest.approx(
        25.0, abs=4.0
    )
    assert result.stop_reason == "duration"


def test_stages_label_records_and_write_events(fast_sim: SimServerHandle, tmp_path: Path) -> None:
    out = tmp_path / "requests.jsonl"
    result = collect(fast_sim.base_url, fast_sim.model, out, stages="0.6s@2,0.6s@4,0.6s@30/s", max_tokens=8)
    assert result.stop_reason == "stages"
    lines = read_trace(out)
    events = [r for r in lines if r["type"] == "event"]
    assert [e["name"] for e in events] == ["stage", "stage", "stage", "stop"]
    assert [e["detail"]["stage"] for e in events[:3]] == ["1:0.6s@2", "2:0.6s@4", "3:0.6s@30/s"]
    assert events[1]["detail"] == {"stage": "2:0.6s@4", "duration_s": 0.6, "users": 4, "rate": None}
    records = [r for r in lines if r["type"] == "request"]
    by_stage: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_stage.setdefault(r["stage"], []).append(r)
    assert set(by_stage) == {"1:0.6s@2", "2:0.6s@4", "3:0.6s@30/s"}
    assert max(r["in_flight"] for r in by_stage["1:0.6s@2"]) == 2
    assert max(r["in_flight"] for r in by_stage["2:0.6s@4"]) == 4
    assert 10 <= len(by_stage["3:0.6s@30/s"]) <= 30
    for first, second in itertools.pairwise(events[:3]):  # a stage's requests go out during the stage
        inside = [r["t_send"] for r in by_stage[first["detail"]["stage"]]]
        assert first["t"] <= min(inside) and max(inside) < second["t"] + 50_000_000  # the write may trail


def test_ramp_and_warmup_marking(fast_sim: SimServerHandle, tmp_path: Path) -> None:
    out = tmp_path / "requests.jsonl"
    result = collect(
        fast_sim.base_url,
        fast_sim.model,
        out,
        stages="+2 users every 0.4s to 6",
        duration_s=1.6,
        warmup_s=0.4,
        max_tokens=8,
    )
    assert result.stop_reason == "duration"
    records = requests_of(out)
    stages = sorted({r["stage"] for r in records})
    assert stages == ["1:0.4s@2", "2:0.4s@4", "3:@6"]
    assert max_overlap(records) <= 6
    t0 = min(r["t_send"] for r in records)
    for r in records:
        assert r["warmup"] == (r["t_send"] - t0 < 0.4e9) or abs(r["t_send"] - t0 - 0.4e9) < 100e6
    assert any(r["warmup"] for r in records) and not all(r["warmup"] for r in records)


@pytest.mark.slow
def test_workers_split_the_load_into_files(fast_sim: SimServerHandle, tmp_path: Path) -> None:
    out = tmp_path / "requests.jsonl"
    result = collect(
        fast_sim.base_url,
        fast_sim.model,
        out,
        concurrency=5,
        requests=41,
        max_tokens=6,
        workers=2,
    )
    paths = [tmp_path / "requests.w0.jsonl", tmp_path / "requests.w1.jsonl"]
    assert sorted(result.paths) == paths and not out.exists()
    assert result.sent == 41 and result.ok == 41
    metas = [read_trace(p)[0] for p in paths]
    assert [m["worker"] for m in metas] == ["w0", "w1"] and metas[0]["run"] == metas[1]["run"]
    assert metas[0]["clock"] == metas[1]["clock"]
    per_worker = [requests_of(p) for p in paths]
    assert [len(r) for r in per_worker] == [21, 20]
    assert {r["worker"] for r in per_worker[0]} == {"w0"} and {r["worker"] for r in per_worker[1]} == {"w1"}
    everything = per_worker[0] + per_worker[1]
    assert len({r["id"] for r in everything}) == 41
    assert max(r["in_flight"] for r in everything) <= 5  # one counter across the processes
    assert max_overlap(everything) <= 5
    assert [e["name"] for e in read_trace(paths[1]) if e["type"] == "event"] == []
