"""Each error class of DESIGN section 3, produced by a real server and checked against the server's truth.

The simulated server produces rate limits, context-length and parameter 400s, in-stream error events,
out-of-memory failures and a dead engine's 500s; the collector's own TTFT and total timeouts, a refused
connection and a stream cut mid-way come from slow timings, a killed server and a misbehaving one.
"""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from collector_kit import (
    BURST_CHUNKS,
    FAST,
    MisbehavingServer,
    collect,
    requests_of,
    truth_by_id,
    write_prompts,
)
from prometheus_client.parser import text_string_to_metric_families

from recorders.http_stream.arrivals import StampingResponseHandler
from recorders.simserver.testing import run_simserver


def expected_class(truth: dict[str, Any]) -> str | None:
    """The class the collector must give a request, from the server's ground-truth outcome."""
    outcome, status = truth["outcome"], truth["status"]
    if outcome in ("server_error", "overloaded"):
        return "stream_broken" if status == 200 else "server_5xx"  # an error event inside a 200 stream
    return {
        "ok": None,
        "rate_limited": "rate_limited",
        "context_length": "context_length",
        "bad_request": "client_4xx",
        "not_found": "client_4xx",
        "oom": "oom",
        "queue_timeout": "timeout",
        "stream_error": "stream_broken",
    }[outcome]


def check_against_truth(records: list[dict[str, Any]], truth: dict[str, dict[str, Any]]) -> set[str | None]:
    """Every record's class, status, message and partial output agree with the truth; the classes seen."""
    seen: set[str | None] = set()
    for rec in records:
        t = truth[rec["response_id"]]
        cls = expected_class(t)
        seen.add(cls)
        assert (rec["error"] or {}).get("class") == cls, (rec, t)
        assert rec["status"] == t["status"]
        assert len(rec["chunks_us"]) == len(t["t_chunks"])
        if cls is None:
            continue
        err = rec["error"]
        assert err["message"] == t["error"]["message"]
        assert err["status"] == t["error"]["status"]
        assert rec["finish_reason"] is None
        assert rec["t_end"] >= rec["t_send"]
        if t["status"] != 200:  # refused before any stream: no output at all
            assert rec["t_first"] is None and rec["output_tokens"] == 0 and rec["tokens_source"] == "chunks"
        else:  # the stream broke (possibly before any text): what did arrive is kept
            assert rec["output_tokens"] == len(t["t_chunks"])
            assert (rec["t_first"] is None) == (not t["t_chunks"])
    return seen


def test_rejections_and_in_stream_errors(tmp_path: Path) -> None:
    overrides = {
        **FAST,
        "rate_limit.max_concurrent": 3,
        "faults.context_length_fraction": 0.2,
        "faults.bad_request_fraction": 0.2,
        "faults.stream_error_fraction": 0.35,
    }
    out = tmp_path / "requests.jsonl"
    with run_simserver("fixed-timing", seed=4, truth=tmp_path / "truth.jsonl", overrides=overrides) as sim:
        result = collect(sim.base_url, sim.model, out, concurrency=4, requests=60, max_tokens=10)
    records = requests_of(out)
    assert result.sent == len(records) == 60
    seen = check_against_truth(records, truth_by_id(sim, records))
    assert {None, "rate_limited", "context_length", "client_4xx", "stream_broken"} <= seen


@pytest.mark.slow
def test_out_of_memory_then_dead_engine(tmp_path: Path) -> None:
    overrides = {
        "faults.oom_fatal_after_s": 0.5,
        "faults.recover_after_s": 30.0,
        "faults.error_delay_ms": 5.0,
    }
    out = tmp_path / "requests.jsonl"
    with run_simserver("ramp-oom", truth=tmp_path / "truth.jsonl", overrides=overrides) as sim:
        collect(
            sim.base_url,
            sim.model,
            out,
            concurrency=32,
            duration_s=3.0,
            max_tokens=48,
            extra_body={"ignore_eos": True},
        )
    records = requests_of(out)
    seen = check_against_truth(records, truth_by_id(sim, records))
    assert {"oom", "server_5xx"} <= seen
    first_oom = min(r["t_end"] for r in records if (r["error"] or {}).get("class") == "oom")
    first_5xx = min(r["t_end"] for r in records if (r["error"] or {}).get("class") == "server_5xx")
    assert first_oom < first_5xx


def test_client_ttft_and_total_timeouts(tmp_path: Path) -> None:
    slow = {"timing.mode": "fixed", "timing.ttft_ms": 300.0, "timing.gap_ms": 50.0}
    with run_simserver("fixed-timing", truth=tmp_path / "truth.jsonl", overrides=slow) as sim:
        ttft = collect(
            sim.base_url, sim.model, tmp_path / "ttft.jsonl", requests=2, max_tokens=8, ttft_timeout_s=0.1
        )
        total = collect(
            sim.base_url, sim.model, tmp_path / "total.jsonl", requests=2, max_tokens=20, timeout_s=1.0
        )
        fine = collect(
            sim.base_url, sim.model, tmp_path / "ok.jsonl", requests=2, max_tokens=3, ttft_timeout_s=5.0
        )
    truth = truth_by_id(
        sim, [r for name in ("ttft", "total", "ok") for r in requests_of(tmp_path / f"{name}.jsonl")]
    )
    assert dict(ttft.errors) == {"timeout": 2} and dict(total.errors) == {"timeout": 2} and fine.ok == 2
    for rec in requests_of(tmp_path / "ttft.jsonl"):
        assert "TTFT" in rec["error"]["message"] and rec["t_first"] is None and rec["chunks_us"] == []
        assert rec["status"] == 200 and truth[rec["response_id"]]["outcome"] == "client_disconnected"
    for rec in requests_of(tmp_path / "total.jsonl"):
        assert "total" in rec["error"]["message"]
        # 20 chunks from 300 ms every 50 ms, cut at 1 s (14 by then; a busy loop may read one or two more
        # before the deadline fires, as the t_end bound below allows): the output so far is kept
        assert 1 <= len(rec["chunks_us"]) < 20
        # the 1 s runs from before the connection is taken and the request written (t_send): on a busy
        # machine that can be tens of milliseconds earlier; a TTFT misfire would end at 300 ms
        assert 900 <= (rec["t_end"] - rec["t_send"]) / 1e6 <= 1500
    for rec in requests_of(tmp_path / "ok.jsonl"):
        t = truth[rec["response_id"]]
        assert rec["error"] is None and len(rec["chunks_us"]) == len(t["t_chunks"]) == 3


def _kill_when_running(sim: Any, streams: int, timeout_s: float = 30.0) -> None:
    """SIGKILL the server once ``streams`` requests are running on it (its vLLM-style /metrics tells)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            text = urllib.request.urlopen(sim.metrics_url, timeout=2).read().decode()
            running = next(
                s.value
                for f in text_string_to_metric_families(text)
                for s in f.samples
                if s.name == "vllm:num_requests_running"
            )
            if running >= streams:
                break
        time.sleep(0.02)
    sim.process.kill()


@pytest.mark.slow
def test_server_killed_mid_run_gives_broken_streams_then_refused_connections(tmp_path: Path) -> None:
    out = tmp_path / "requests.jsonl"
    overrides = {"timing.mode": "fixed", "timing.ttft_ms": 50.0, "timing.gap_ms": 20.0}
    with run_simserver("fixed-timing", overrides=overrides) as sim:
        # killed once streams are running (not at a fixed time: a busy machine may start the client late)
        killer = threading.Thread(target=_kill_when_running, args=(sim, 5), daemon=True)
        killer.start()
        try:
            result = collect(
                sim.base_url,
                sim.model,
                out,
                rate=20.0,
                arrival="constant",
                duration_s=2.0,
                max_tokens=40,
                grace_s=5.0,
            )
        finally:
            killer.join(timeout=40)
    records = requests_of(out)
    assert result.sent == len(records) >= 30
    by_class: dict[str | None, list[dict[str, Any]]] = {}
    for rec in records:
        by_class.setdefault((rec["error"] or {}).get("class"), []).append(rec)
    assert set(by_class) <= {None, "stream_broken", "connection"}
    broken, refused = by_class.get("stream_broken", []), by_class.get("connection", [])
    assert broken and refused
    for rec in broken:  # cut after the headers (most of them after some text), no finish
        assert rec["status"] == 200 and rec["t_headers"] is not None and rec["finish_reason"] is None
    assert any(rec["chunks_us"] for rec in broken)
    for rec in refused:  # never got a response
        assert rec["status"] is None and rec["t_headers"] is None and rec["error"]["status"] is None
        assert rec["response_id"] is None and rec["chunks_us"] == []
    assert max(r["t_send"] for r in broken) < min(r["t_send"] for r in refused)


def test_reset_before_response_cut_stream_and_unstreamed_json(
    misbehaving_server: MisbehavingServer, tmp_path: Path
) -> None:
    prompts = write_prompts(
        tmp_path / "p.jsonl",
        [{"id": p, "prompt": p} for p in ("reset", "cut", "json", "normal")],
    )
    out = tmp_path / "requests.jsonl"
    result = collect(misbehaving_server.base_url, "m", out, prompts=str(prompts), requests=8, order="cycle")
    assert result.sent == 8
    by_prompt = {r["prompt_id"]: r for r in requests_of(out)}
    reset, cut, unstreamed, normal = (by_prompt[k] for k in ("reset", "cut", "json", "normal"))
    assert reset["error"]["class"] == "connection" and reset["status"] is None and reset["t_headers"] is None
    assert cut["error"]["class"] == "stream_broken" and cut["status"] == 200
    assert (
        len(cut["chunks_us"]) == 3
        and cut["text"] == " part0 part1 part2"
        and cut["response_id"].startswith("chatcmpl-mis")
    )
    assert unstreamed["error"] is None and unstreamed["text"] == "whole answer"
    # a server that ignored stream: true answered in one body: recorded as not streamed
    assert (unstreamed["output_tokens"], unstreamed["tokens_source"], unstreamed["chunks_us"]) == (
        2,
        "usage",
        [],
    )
    assert unstreamed["stream"] is False and unstreamed["t_first"] == unstreamed["t_end"]
    assert normal["error"] is None and normal["output_tokens"] == 4 and len(normal["chunks_us"]) == 4
    assert normal["text"] == " part0 part1 part2 end" and normal["finish_reason"] == "stop"
    # the role-only chunk came at once, the first text 5 ms later: t_first is the first text chunk's arrival
    # (on a busy machine both can arrive in one read; the 4 text chunks above leave the role chunk out)
    assert normal["t_headers"] <= normal["t_first"]
    assert abs(normal["t_first"] - (normal["t_send"] + normal["chunks_us"][0] * 1000)) <= 500


def test_a_body_past_the_readers_flow_control_mark_arrives_whole(
    misbehaving_server: MisbehavingServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes of about 11 KB read with a 1 KiB reader buffer: aiohttp's reader pauses the socket past its
    mark (2 KiB) at every write, below the collector's batch size; the collector takes the bytes at once,
    which resumes it, and gets every chunk (skipping aiohttp's needless resumes in between)."""
    monkeypatch.setattr("recorders.http_stream.client.READ_BUFSIZE", 1024)
    pauses = []
    pause = StampingResponseHandler.pause_reading
    monkeypatch.setattr(
        StampingResponseHandler, "pause_reading", lambda self: (pauses.append(1), pause(self))[1]
    )
    prompts = write_prompts(tmp_path / "p.jsonl", [{"id": "burst", "prompt": "burst"}])
    out = tmp_path / "requests.jsonl"
    result = collect(misbehaving_server.base_url, "m", out, prompts=str(prompts), requests=2, no_text=False)
    assert (result.ok, dict(result.errors)) == (2, {})
    for rec in requests_of(out):
        assert rec["output_tokens"] == len(rec["chunks_us"]) == BURST_CHUNKS + 1
        assert rec["text"].startswith(" t0 t1 t2") and rec["text"].endswith(f" t{BURST_CHUNKS - 1} end")
        assert rec["chunks_us"] == sorted(rec["chunks_us"]) and rec["finish_reason"] == "stop"
    assert pauses, "the burst never reached aiohttp's flow-control mark"


def test_in_flight_requests_are_aborted_after_the_grace_period(tmp_path: Path) -> None:
    slow = {"timing.mode": "fixed", "timing.ttft_ms": 30.0, "timing.gap_ms": 100.0}
    out = tmp_path / "requests.jsonl"
    with run_simserver("fixed-timing", truth=tmp_path / "truth.jsonl", overrides=slow) as sim:
        result = collect(
            sim.base_url, sim.model, out, concurrency=3, duration_s=0.5, grace_s=0.2, max_tokens=50
        )
    records = requests_of(out)
    truth = truth_by_id(sim, records)
    assert dict(result.errors) == {"aborted": 3} and len(records) == 3
    for rec in records:
        t = truth[rec["response_id"]]
        assert rec["error"]["class"] == "aborted" and rec["status"] == 200
        assert t["outcome"] in ("client_disconnected", "server_stopped")  # the server never finished it
        assert 0 < len(rec["chunks_us"]) <= len(t["t_chunks"])
        assert (rec["t_end"] - rec["t_send"]) / 1e9 >= 0.65  # 0.5 s of sending + 0.2 s of grace, nearly
