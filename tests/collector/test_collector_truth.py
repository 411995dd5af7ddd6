"""Every field of the request record checked against the simulated server's ground truth (``--truth``).

Lower bounds are strict: a stamp never precedes what had to happen before it on the server (``t_send`` before
the server read the request, ``t_received``; headers after the server took the request, ``t_arrival``; a chunk
after the engine scheduled it, ``t_sched``), within CLOCK_SLACK_NS for the two processes' clock anchors. The
server's own write stamps (``t_headers``, ``t_chunks``) are taken right after the write, so a server preempted
there stamps after the client has read: they bound the client's stamps from above only, by LATE_NS.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from collector_kit import collect, requests_of, truth_by_id, write_prompts

from recorders.simserver.testing import SimServerHandle

CLOCK_SLACK_NS = 1_000_000
LATE_NS = 2_000_000_000
SAY = "Canberra is the capital of Australia"


def _prompt_file(tmp_path: Path) -> Path:
    return write_prompts(
        tmp_path / "prompts.jsonl",
        [
            {
                "id": "capital",
                "scenario": "facts",
                "prompt": f"[sim:say={SAY}] Capital?",
                "expected": ["Canberra"],
            },
            {
                "id": "chatty",
                "scenario": "chat",
                "messages": [{"role": "user", "content": "Tell me about tides."}],
            },
            {"id": "short", "prompt": "Count to three.", "max_tokens": 3},
        ],
    )


def test_success_records_match_the_truth(fast_sim: SimServerHandle, tmp_path: Path) -> None:
    out = tmp_path / "requests.jsonl"
    result = collect(
        fast_sim.base_url,
        fast_sim.model,
        out,
        prompts=str(_prompt_file(tmp_path)),
        concurrency=3,
        requests=9,
        max_tokens=12,
    )
    assert (result.sent, result.ok, dict(result.errors)) == (9, 9, {})
    lines = [r for r in requests_of(out)]
    truth = truth_by_id(fast_sim, lines)
    assert len(lines) == 9
    assert len({r["id"] for r in lines}) == 9
    for rec in lines:
        t = truth[rec["response_id"]]
        assert t["outcome"] == "ok"
        # identity and what was asked
        assert rec["run"] and rec["host"] and rec["worker"] == "w0" and rec["id"].startswith("w0-")
        assert (rec["model"], rec["api"], rec["stage"], rec["warmup"]) == (
            fast_sim.model,
            "chat",
            None,
            False,
        )
        assert 1 <= rec["in_flight"] <= 3
        assert rec["max_tokens"] == t["max_tokens"] == (3 if rec["prompt_id"] == "short" else 12)
        assert rec["prompt_tokens"] == t["prompt_tokens"]
        assert rec["status"] == t["status"] == 200
        assert rec["error"] is None
        assert rec["finish_reason"] == t["finish_reason"]
        # tokens: the usage chunk, one chunk per token
        assert rec["output_tokens"] == t["output_tokens"] == len(t["t_chunks"]) == len(rec["chunks_us"])
        assert rec["tokens_source"] == "usage"
        assert "chunk_tokens" not in rec
        # times: send before arrival, every chunk stamped after the server wrote it
        assert rec["t_send"] <= t["t_received"] + CLOCK_SLACK_NS
        assert t["t_arrival"] - rec["t_send"] < LATE_NS
        assert t["t_arrival"] - CLOCK_SLACK_NS <= rec["t_headers"] <= t["t_headers"] + LATE_NS
        stamps = [rec["t_send"] + us * 1000 for us in rec["chunks_us"]]
        assert stamps == sorted(stamps)
        for got, scheduled, wrote in zip(stamps, t["t_sched"], t["t_chunks"], strict=True):
            assert scheduled - CLOCK_SLACK_NS <= got <= wrote + LATE_NS
        assert abs(rec["t_first"] - stamps[0]) <= 500  # chunks_us is rounded to the microsecond
        # chunks_us is rounded to the microsecond: a stamp rebuilt from it may be off by 500 ns either way
        assert rec["t_headers"] <= rec["t_first"] <= stamps[-1] + 500
        assert stamps[-1] - 500 <= rec["t_end"]
        # what the prompt file said
        if rec["prompt_id"] == "capital":
            assert rec["text"].startswith(SAY)
            assert (rec["scenario"], rec["expected"]) == ("facts", ["Canberra"])
        else:
            assert "expected" not in rec
            assert rec["scenario"] == ("chat" if rec["prompt_id"] == "chatty" else None)
        assert len(rec["text"]) > 0


def test_completions_api_and_no_text(fast_sim: SimServerHandle, tmp_path: Path) -> None:
    out = tmp_path / "requests.jsonl"
    prompts = write_prompts(tmp_path / "p.jsonl", [{"id": "a", "prompt": "[sim:say=plain completion] go"}])
    collect(
        fast_sim.base_url,
        fast_sim.model,
        out,
        api="completions",
        prompts=str(prompts),
        requests=2,
        max_tokens=5,
        no_text=True,
    )
    records = requests_of(out)
    truth = truth_by_id(fast_sim, records)
    assert len(records) == 2
    for rec in records:
        t = truth[rec["response_id"]]
        assert rec["api"] == t["api"] == "completions"
        assert rec["response_id"].startswith("cmpl-")
        assert "text" not in rec
        assert rec["output_tokens"] == len(rec["chunks_us"]) == len(t["t_chunks"]) == 5


def test_records_and_meta_round_trip_through_the_loader(fast_sim: SimServerHandle, tmp_path: Path) -> None:
    load_capture = getattr(pytest.importorskip("traceanalyzer.loader"), "load_capture", None)
    if load_capture is None:
        pytest.skip("traceanalyzer.loader.load_capture is not available yet")
    out = tmp_path / "requests.jsonl"
    collect(
        fast_sim.base_url,
        fast_sim.model,
        out,
        prompts="builtin:consistency",
        requests=4,
        max_tokens=6,
        warmup_s=3600,
    )
    capture = load_capture([out])
    table = capture.requests
    assert table.num_rows == 4
    assert table.column("warmup").to_pylist() == [True] * 4
    assert all(e for e in table.column("expected").to_pylist())
    assert capture.inventory.skipped_lines == 0
    meta = capture.meta.to_pylist()[0]
    assert meta["recorder"] == "http_stream"
