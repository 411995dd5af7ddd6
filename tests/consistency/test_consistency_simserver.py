"""End to end: the simulated server, the streaming collector (``traceanalyzer record http``), the loader, then
the consistency and robustness stages."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pytest

from recorders.simserver.testing import SimServerHandle, run_simserver
from traceanalyzer.consistency import judge_robustness, measure_consistency
from traceanalyzer.consistency.answers import NO_TEXT

pytestmark = pytest.mark.slow

ROBUSTNESS_SCENARIOS = {
    "robustness/long_input",
    "robustness/garbled",
    "robustness/mixed_script",
    "robustness/special_chars",
    "robustness/injection",
    "robustness/ambiguous",
}


def _record(
    sim: SimServerHandle, prompts: str, out: Path, requests: int, extra: Sequence[str] = ()
) -> pa.Table:
    """Run the collector against ``sim`` (cycling through the prompts, 3 in flight) and load the capture."""
    from traceanalyzer.loader import load_capture

    command = [
        sys.executable, "-m", "traceanalyzer", "record", "http", "--url", sim.base_url, "--model", sim.model,
        "--prompts", prompts, "--order", "cycle", "--concurrency", "3", "--requests", str(requests),
        "--max-tokens", "48", "--timeout", "20", "--quiet", "--out", str(out), *extra,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr + sim.log()
    return load_capture([out]).requests


def test_robustness_prompts_against_mixed_4xx_are_handled_gracefully(tmp_path: Path) -> None:
    # mixed-4xx: 1024-token context, seeded 400s for bad parameters, 429 above 6 requests/s; every refusal
    # carries a message, so each builtin robustness scenario passes, the long inputs by a clean refusal
    with run_simserver("mixed-4xx", seed=3) as sim:
        requests = _record(sim, "builtin:robustness", tmp_path / "requests.jsonl", 21)
    verdicts = judge_robustness(requests)

    assert set(verdicts) == ROBUSTNESS_SCENARIOS
    assert sum(v.requests for v in verdicts.values()) == 21
    for name, verdict in verdicts.items():
        assert (verdict.verdict, verdict.bad, verdict.graceful) == ("pass", 0, verdict.requests), name
    long_input = verdicts["robustness/long_input"]
    assert long_input.graceful_reasons == {"context_length": long_input.requests}
    summary = {name: v.to_summary() for name, v in verdicts.items()}
    assert all(s["examples"]["graceful"] and not s["examples"]["bad"] for s in summary.values())


def test_broken_streams_fail_the_scenarios_that_reach_the_stream(tmp_path: Path) -> None:
    # every stream breaks after some text: answered scenarios fail with stream_broken; the long inputs are
    # still refused before any stream (context length) and pass
    with run_simserver("mixed-4xx", seed=3, overrides={"faults.stream_error_fraction": 1.0}) as sim:
        requests = _record(sim, "builtin:robustness", tmp_path / "requests.jsonl", 21)
    verdicts = judge_robustness(requests)

    assert verdicts["robustness/long_input"].verdict == "pass"
    for name in ROBUSTNESS_SCENARIOS - {"robustness/long_input"}:
        verdict = verdicts[name]
        assert verdict.verdict == "fail" and verdict.bad >= 1, name
        assert set(verdict.bad_reasons) == {"stream_broken"}, name
        assert len(verdict.bad_examples) == min(verdict.bad, 5)
        assert set(verdict.bad_examples) <= set(requests.column("id").to_pylist())


def test_simulated_identical_paraphrased_divergent_groups_come_out_in_that_order(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    lines = [
        {"id": "identical", "prompt": "Tell me about tides. [sim:say=Tides follow the Moon.]",
         "expected": ["tides follow", "/\\bMoon\\b/"]},
        {"id": "paraphrased", "prompt": "Tell me about bees. [sim:paraphrase]"},
        {"id": "divergent", "prompt": "Tell me about bread. [sim:diverge]"},
    ]  # fmt: skip
    prompts.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    with run_simserver("steady", seed=3) as sim:
        requests = _record(sim, str(prompts), tmp_path / "text" / "requests.jsonl", 18)
        no_text = _record(sim, str(prompts), tmp_path / "no-text" / "requests.jsonl", 6, ["--no-text"])

    result = measure_consistency(requests, cache_dir=tmp_path / "cache")
    groups = {group.prompt_id: group for group in result.per_group}
    assert {name: group.answers for name, group in groups.items()} == {
        "identical": 6,
        "paraphrased": 6,
        "divergent": 6,
    }
    means = [groups[name].cosine.mean for name in ("identical", "paraphrased", "divergent")]
    assert means[0] == 1.0 > means[1] > 0.8 > 0.4 > means[2], means
    assert groups["identical"].exact_match_rate == 1.0 and groups["paraphrased"].exact_match_rate < 1.0
    assert groups["identical"].key_info.accuracy == 1.0 and result.key_info.checked == 6
    assert result.drift is not None and result.drift.worst_group == "divergent"

    blind = measure_consistency(no_text)
    assert blind.measurable is False and blind.reason == NO_TEXT
    assert blind.to_summary()["exact_match_rate"] is None
