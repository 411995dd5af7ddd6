"""The bundled sample captures: each loads cleanly and tells its story; one is re-recorded end to end."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from traceanalyzer.analysis import analyze
from traceanalyzer.loader import load_capture
from traceanalyzer.model import AnalysisOptions
from traceanalyzer.summary import summary

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_traces"
CAPTURES = sorted(p.name for p in SAMPLES.iterdir() if p.is_dir() and any(p.rglob("*.jsonl.gz")))
BIN = Path(sys.executable).parent


def test_every_sample_named_in_the_issue_is_bundled() -> None:
    expected = {
        "steady-soak",
        "ramp-oom",
        "queue-timeout",
        "cpu-bound",
        "leak",
        "regression-baseline",
        "regression-candidate",
        "locust-run",
    }
    assert expected <= set(CAPTURES)


@pytest.mark.parametrize("name", CAPTURES)
def test_sample_loads_with_nothing_skipped(name: str) -> None:
    capture = load_capture([SAMPLES / name], cache=False)
    inv = capture.inventory
    assert inv.skipped_lines == 0, inv.warnings
    assert all(f.skipped == 0 for f in inv.files)
    assert inv.unknown_types == {}
    assert inv.duplicate_request_ids == 0
    assert capture.requests.num_rows > 0
    # every capture carries resource traces next to the client's requests
    assert capture.gpu.num_rows > 0 and capture.host.num_rows > 0 and capture.server.num_rows > 0


def _summary(name: str) -> dict:
    return summary(analyze(load_capture([SAMPLES / name], cache=False), AnalysisOptions()))


def test_chat_sessions_sample_has_growing_prompts_served_from_the_cache() -> None:
    conv = _summary("chat-sessions")["conversations"]
    assert conv["sessions"] >= 20 and conv["turns"] >= 100
    rows = conv["by_turn"]
    assert rows[-1]["prompt_tokens_p50"] > 5 * rows[0]["prompt_tokens_p50"]
    assert conv["cached_share"] > 0.8 and conv["cached_share_source"] == "usage"
    assert conv["context_length_failures_by_turn"] == {}


def test_chat_sessions_cached_share_by_turn_from_the_engine_counters_alone() -> None:
    """With the responses' cached_tokens taken away, the engine's prefix-cache counters (scraped every
    second) still give the cached share overall and, by least squares over the scrape intervals, by turn."""
    capture = load_capture([SAMPLES / "chat-sessions"], cache=False)
    told = analyze(capture, AnalysisOptions()).conversations
    column = capture.requests.schema.get_field_index("cached_tokens")
    nulls = pa.nulls(capture.requests.num_rows, pa.int64())
    blind = dataclasses.replace(capture, requests=capture.requests.set_column(column, "cached_tokens", nulls))
    guessed = analyze(blind, AnalysisOptions()).conversations
    assert told is not None and guessed is not None and guessed.cached_share_source == "server_metrics"
    assert guessed.cached_share == pytest.approx(told.cached_share, abs=0.01)
    for usage, counters in zip(told.by_turn, guessed.by_turn, strict=True):
        if usage.requests >= 20:
            assert counters.cached_share == pytest.approx(usage.cached_share, abs=0.08), usage.turn


def test_ramp_oom_sample_names_oom_as_first_strike_before_the_5xx_cascade() -> None:
    s = _summary("ramp-oom")
    assert s["first_strike"] == "oom"
    assert s["error_sequence"][0] == "oom"
    assert "server_5xx" in s["error_sequence"]


def test_queue_timeout_sample_times_out_without_oom() -> None:
    s = _summary("queue-timeout")
    assert s["first_strike"] == "timeout"
    assert "oom" not in s["errors"]


def test_leak_sample_finds_the_gpu_memory_leak() -> None:
    s = _summary("leak")
    leaks = [f for f in s["findings"] if f["rule"] == "memory_leak" and "GPU" in f["message"]]
    assert leaks and leaks[0]["severity"] in ("warning", "critical")


def test_cpu_bound_sample_is_diagnosed_cpu_bound() -> None:
    s = _summary("cpu-bound")
    assert any(f["rule"] == "cpu_bound" for f in s["findings"])


@pytest.mark.slow
def test_record_script_rerecords_a_short_steady_capture(tmp_path: Path) -> None:
    """The same commands as sample_traces/record.sh, cut to 15 s, then analyzed."""
    env = dict(os.environ, OUT=str(tmp_path), DURATION="15", TA=str(BIN / "traceanalyzer"))
    proc = subprocess.run(
        ["bash", str(SAMPLES / "record.sh"), "steady-soak"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = tmp_path / "steady-soak"
    assert sorted(p.name for p in out.iterdir()) == ["gpu.jsonl.gz", "requests.jsonl.gz", "server.jsonl.gz"]
    summary_path = tmp_path / "summary.json"
    proc = subprocess.run(
        [str(BIN / "traceanalyzer"), "analyze", str(out), "--json", str(summary_path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    s = json.loads(summary_path.read_text())
    assert s["requests"]["total"] >= 30
    assert s["requests"]["failed"] == 0
    assert s["first_strike"] is None
    assert s["ttft"]["p95"] < 1.0
    # the prompt file has groups answered identically, paraphrased and divergently, and expected facts
    cons = s["consistency"]
    assert cons["groups"] >= 5
    assert 0.3 < cons["exact_match_rate"] < 1.0
    assert cons["key_info_accuracy"] == 1.0
    assert s["resources"]["gpu_util_mean"] is not None
