"""Non-streaming requests (``--no-stream``, a prompt's ``stream: false``) through the real collector, and how
the analysis reads them: time to the whole answer as TTFT, no TPOT or ITL, layer 1 split by ``stream``."""

from __future__ import annotations

from pathlib import Path

from collector_kit import collect, requests_of, truth_by_id, write_prompts

from recorders.simserver.testing import SimServerHandle
from traceanalyzer.analysis import analyze
from traceanalyzer.loader import load_capture
from traceanalyzer.model import AnalysisOptions
from traceanalyzer.summary import summary


def test_mixed_capture_records_and_analyses_both_kinds(fast_sim: SimServerHandle, tmp_path: Path) -> None:
    prompts = write_prompts(
        tmp_path / "p.jsonl",
        [
            {"id": "streamed", "prompt": "Tell me about rivers."},
            {"id": "whole", "prompt": "Tell me about mountains.", "stream": False},
        ],
    )
    out = tmp_path / "requests.jsonl"
    collect(fast_sim.base_url, fast_sim.model, out, prompts=str(prompts), requests=8, max_tokens=12)
    records = requests_of(out)
    truth = truth_by_id(fast_sim, records)
    whole = [r for r in records if r["prompt_id"] == "whole"]
    streamed = [r for r in records if r["prompt_id"] == "streamed"]
    assert len(whole) == len(streamed) == 4
    for r in whole:
        assert r["error"] is None and r["stream"] is False and r["chunks_us"] == []
        assert r["t_first"] == r["t_end"] and r["tokens_source"] == "usage" and r["output_tokens"] == 12
        assert truth[r["response_id"]]["stream"] is False
        # the whole answer came after its last token was generated
        assert r["t_first"] >= truth[r["response_id"]]["t_sched"][-1]
    for r in streamed:
        assert "stream" not in r and len(r["chunks_us"]) == 12
    s = summary(analyze(load_capture([out]), AnalysisOptions()))
    assert s["ttft"]["count"] == 8 and s["tpot"]["count"] == 4
    rows = s["breakdown"]["stream"]
    assert rows["not streamed"]["requests"] == rows["streamed"]["requests"] == 4
    assert rows["not streamed"]["ttft_p50"] > rows["streamed"]["ttft_p50"]  # 40 ms + 11 * 5 ms vs 40 ms
    assert rows["not streamed"]["tpot_p95"] is None


def test_no_stream_option_sends_stream_false(fast_sim: SimServerHandle, tmp_path: Path) -> None:
    out = tmp_path / "requests.jsonl"
    collect(fast_sim.base_url, fast_sim.model, out, requests=3, max_tokens=5, stream=False)
    records = requests_of(out)
    assert [r["stream"] for r in records] == [False] * 3
    assert all(r["error"] is None and r["output_tokens"] == 5 for r in records)
