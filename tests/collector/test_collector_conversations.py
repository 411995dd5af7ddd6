"""Conversation mode: prompt files, and whole conversations through the real collector against the simulated
server (its truth file is the server-side check), analysed by the conversations stage."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from collector_kit import collect, requests_of, write_prompts

from recorders.http_stream.conversations import load_conversations, parse_think_time
from recorders.simserver.prefix_cache import prompt_digest
from recorders.simserver.scenario import load_scenario
from recorders.simserver.testing import SimServerHandle, run_simserver
from traceanalyzer.analysis import analyze
from traceanalyzer.errors import BadInputError, UsageError
from traceanalyzer.loader import load_capture
from traceanalyzer.model import AnalysisOptions
from traceanalyzer.summary import summary

SYSTEM = "You are a concise assistant in a load test."
THINK_S = 0.1
CONCURRENCY = 2
# Fast engine, prefill dominant: TTFT is mostly prefill of the uncached tokens.
CHAT_FAST = {
    "engine.decode_ms": 2.0,
    "engine.decode_ms_per_seq": 0.0,
    "engine.prefill_ms": 2.0,
    "engine.cpu_ms": 0.2,
    "engine.cpu_ms_per_seq": 0.0,
    "engine.tokenize_ms_per_1k": 0.0,
}


def test_native_and_aiperf_conversation_files(tmp_path: Path) -> None:
    path = write_prompts(
        tmp_path / "c.jsonl",
        [
            {
                "id": "a",
                "system": "S",
                "turns": ["hi", {"user": "name?", "expected": ["Ada"], "max_tokens": 9}],
            },
            {
                "session_id": "b",
                "turns": [{"text": "x", "delay": 250}, {"messages": [{"role": "user", "content": "y"}]}],
            },
        ],
    )
    convs = load_conversations(str(path))
    assert convs is not None and [c.id for c in convs] == ["a", "b"]
    assert (
        convs[0].system == "S"
        and convs[0].turns[1].expected == ("Ada",)
        and convs[0].turns[1].max_tokens == 9
    )
    assert convs[1].turns[0].delay_s == 0.25 and convs[1].turns[1].messages == (
        {"role": "user", "content": "y"},
    )
    assert load_conversations(str(write_prompts(tmp_path / "p.jsonl", [{"prompt": "single"}]))) is None
    built_in = load_conversations("builtin:chat")
    assert built_in is not None and {len(c.turns) for c in built_in} >= {2, 12}
    bad = write_prompts(tmp_path / "bad.jsonl", [{"id": "a", "turns": ["ok"]}, {"id": "b", "turns": [5]}])
    with pytest.raises(BadInputError, match=r"bad.jsonl:2: turns\[0\]"):
        load_conversations(str(bad))


def test_think_time_fixed_and_exponential() -> None:
    assert parse_think_time("2s").draw(random.Random(1)) == 2.0
    exp = parse_think_time("exp:500ms")
    draws = [exp.draw(random.Random(i)) for i in range(2000)]
    assert exp.exponential and 0.45 < sum(draws) / len(draws) < 0.55
    with pytest.raises(UsageError):
        parse_think_time("exp:soon")


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "omega"]) for _ in range(n))


def _conversations(path: Path, n: int, turns: int, seed: int, long: tuple[int, int]) -> Path:
    """``n`` conversations of ``turns`` turns, user messages of ``long`` words (uniform), plus one that
    recalls a name given earlier."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = [
        {"id": f"c{i}", "system": SYSTEM, "turns": [_words(rng, rng.randint(*long)) for _ in range(turns)]}
        for i in range(n)
    ]
    rows.append(
        {
            "id": "recall",
            "turns": [
                "Hello, my name is Ada.",
                {"user": "What is my name? [sim:say=Your name is Ada]", "expected": ["Ada"]},
            ],
        }
    )
    return write_prompts(path, rows)


def _analyse(path: Path) -> dict[str, Any]:
    return summary(analyze(load_capture([path]), AnalysisOptions()))


def _by_turn_truth_share(truth: list[dict[str, Any]]) -> dict[int, float]:
    cached: dict[int, int] = defaultdict(int)
    prompt: dict[int, int] = defaultdict(int)
    for t in truth:
        if t["outcome"] == "ok" and t["turn"] is not None:
            cached[t["turn"]] += t["cached_tokens"]
            prompt[t["turn"]] += t["prompt_tokens"]
    return {k: cached[k] / prompt[k] for k in prompt}


@pytest.fixture(scope="module")
def cached_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, SimServerHandle, Path]]:
    tmp = tmp_path_factory.mktemp("conv")
    prompts = _conversations(tmp / "conv.jsonl", n=6, turns=5, seed=1, long=(20, 2000))
    with run_simserver("chat", seed=2, truth=tmp / "truth.jsonl", overrides=CHAT_FAST) as sim:
        out = tmp / "requests.jsonl"
        # one conversation at a time: a turn's TTFT is its own prefill, not a neighbour's
        result = collect(sim.base_url, sim.model, out, prompts=str(prompts), concurrency=1, max_tokens=24)
        assert result.ok == result.sent == 6 * 5 + 2
        sim.truth_for(r["response_id"] for r in requests_of(out))
        yield out, sim, prompts


@pytest.mark.slow
def test_turn_k_resends_exactly_the_history_the_server_saw(
    cached_run: tuple[Path, SimServerHandle, Path],
) -> None:
    out, sim, prompts = cached_run
    records = requests_of(out)
    truth = {t["id"]: t for t in sim.truth_records()}
    convs = {c.id: c for c in load_conversations(str(prompts)) or []}
    sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        sessions[r["session_id"]].append(r)
    assert len(sessions) == 7
    for session_id, turns in sessions.items():
        turns.sort(key=lambda r: r["turn"])
        conv = convs[turns[0]["prompt_id"].split("/")[0]]
        assert [r["turn"] for r in turns] == list(range(len(conv.turns)))
        messages: list[dict[str, Any]] = (
            [] if conv.system is None else [{"role": "system", "content": conv.system}]
        )
        for r in turns:
            messages += list(conv.turns[r["turn"]].messages)
            seen = truth[r["response_id"]]
            assert seen["prompt_sha256"] == prompt_digest({"messages": messages})
            assert (seen["session_id"], seen["turn"]) == (session_id, r["turn"])
            assert (r["prompt_tokens"], r["cached_tokens"]) == (seen["prompt_tokens"], seen["cached_tokens"])
            assert r["history_chars"] == sum(len(m["content"]) for m in messages[:-1])
            messages.append({"role": "assistant", "content": r["text"]})


@pytest.fixture(scope="module")
def uncached_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """Long turns, no prefix cache, a 3,000-token context: every conversation overflows after a few turns."""
    tmp = tmp_path_factory.mktemp("conv")
    prompts = _conversations(tmp / "conv.jsonl", n=4, turns=8, seed=3, long=(380, 420))
    overrides = {**CHAT_FAST, "model.max_model_len": 3000}
    with run_simserver(
        "chat", seed=2, truth=tmp / "truth.jsonl", overrides=overrides, extra_args=["--no-prefix-cache"]
    ) as sim:
        out = tmp / "requests.jsonl"
        collect(
            sim.base_url,
            sim.model,
            out,
            prompts=str(prompts),
            concurrency=CONCURRENCY,
            think_time=f"{THINK_S}s",
            max_tokens=24,
        )
        truth = list(sim.truth_for(r["response_id"] for r in requests_of(out)).values())
    return out, truth


@pytest.mark.slow
def test_think_time_and_concurrency_of_conversations_hold(
    uncached_run: tuple[Path, list[dict[str, Any]]],
) -> None:
    records = requests_of(uncached_run[0])
    by_session: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_session[r["session_id"]].append(r)
    gaps = []
    spans = []
    for turns in by_session.values():
        turns.sort(key=lambda r: r["turn"])
        gaps += [(b["t_send"] - a["t_end"]) / 1e9 for a, b in itertools.pairwise(turns)]
        spans.append((turns[0]["t_send"], turns[-1]["t_end"]))
    assert min(gaps) >= THINK_S
    assert sorted(gaps)[len(gaps) // 2] < THINK_S + 0.05  # the median think time is the one asked for
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    active, peak = 0, 0
    for _, step in edges:
        active += step
        peak = max(peak, active)
    assert peak == CONCURRENCY


@pytest.mark.slow
def test_analysis_recovers_prefill_cost_and_cached_share(
    cached_run: tuple[Path, SimServerHandle, Path],
) -> None:
    out, sim, _ = cached_run
    conv = _analyse(out)["conversations"]
    per_1k = load_scenario("chat").engine.prefill_ms_per_1k
    assert conv["sessions"] == 7 and conv["turns"] == 32 and conv["session_completion_rate"] == 1.0
    assert conv["ttft_per_1k_uncached_tokens_ms"] == pytest.approx(per_1k, rel=0.10)
    truth_share = _by_turn_truth_share(sim.truth_records())
    for row in conv["by_turn"]:
        assert row["cached_share"] == pytest.approx(truth_share[row["turn"]], abs=0.05)
    assert conv["by_turn"][0]["cached_share"] < 0.2 < conv["by_turn"][-1]["cached_share"]
    assert conv["recall"] == {"turns": 1, "rate": 1.0}


@pytest.mark.slow
def test_without_cache_ttft_grows_with_turn_until_the_context_overflows(
    uncached_run: tuple[Path, list[dict[str, Any]]],
) -> None:
    out, truth = uncached_run
    records = requests_of(out)
    assert all(r["cached_tokens"] is None for r in records)
    broke: dict[str, int] = {}
    for r in records:
        if r["error"] is not None:
            assert r["error"]["class"] == "context_length"
            broke[r["session_id"]] = r["turn"]
    assert len(broke) == 4  # every long conversation overflowed, and ended there
    for r in records:
        if r["session_id"] in broke:
            assert r["turn"] <= broke[r["session_id"]]
    refused = {(t["session_id"], t["turn"]) for t in truth if t["outcome"] == "context_length"}
    assert refused == set(broke.items())
    conv = _analyse(out)["conversations"]
    first = min(broke.values())
    assert min(int(k) for k in conv["context_length_failures_by_turn"]) == first
    assert sum(conv["context_length_failures_by_turn"].values()) == 4
    ttft = [row["ttft_p50"] for row in conv["by_turn"] if row["turn"] < first]
    assert ttft[-1] == max(ttft) and ttft[-1] > 2 * ttft[0]  # each turn prefills the whole history again
    assert conv["ttft_per_turn_ms"]["slope_low"] > 0  # the Theil-Sen slope's interval lies above zero
    assert conv["session_completion_rate"] == pytest.approx(1 / 5)  # only the short recall conversation
    findings = {f["rule"]: f for f in _analyse(out)["findings"]}
    assert findings["context_overflow"]["evidence"]["first_turn"] == first


@pytest.mark.slow
def test_report_has_a_conversations_section_with_chat_ids(
    cached_run: tuple[Path, SimServerHandle, Path],
) -> None:
    from reports.html_report import render_html
    from reports.registry import RenderOptions

    analysis = analyze(load_capture([cached_run[0]]), AnalysisOptions())
    html = render_html(analysis, RenderOptions())
    assert '<section id="conversations">' in html and 'href="#conversations"' in html
    assert "TTFT per 1k uncached prompt tokens" in html and "<svg" in html
    assert analysis.conversations is not None
    for session in analysis.conversations.slowest:
        assert session.session_id in html


@pytest.mark.slow
def test_open_loop_conversations_and_a_failed_turn_left_out_of_the_history(tmp_path: Path) -> None:
    rows = [{"id": f"c{i}", "turns": [f"Question {k} of talk {i}." for k in range(4)]} for i in range(6)]
    prompts = write_prompts(tmp_path / "conv.jsonl", rows)
    overrides = {**CHAT_FAST, "faults.bad_request_fraction": 0.3}
    with run_simserver("chat", seed=5, truth=tmp_path / "truth.jsonl", overrides=overrides) as sim:
        out = tmp_path / "requests.jsonl"
        collect(
            sim.base_url,
            sim.model,
            out,
            prompts=str(prompts),
            rate=20.0,
            arrival="constant",
            conversations=6,
            on_turn_error="continue",
            max_tokens=8,
        )
        truth = sim.truth_for(r["response_id"] for r in requests_of(out))
    records = sorted(requests_of(out), key=lambda r: (r["session_id"], r["turn"]))
    assert len(records) == 6 * 4  # every turn sent: a failed one does not end its conversation
    starts = sorted(r["t_send"] for r in records if r["turn"] == 0)
    gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(starts)]
    assert sum(gaps) / len(gaps) == pytest.approx(1 / 20, abs=0.02)  # conversations started at 20/s
    failed = [r for r in records if r["error"] is not None]
    assert failed and all(r["error"]["class"] == "client_4xx" for r in failed)
    history: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in records:
        turn = {"role": "user", "content": rows[int(r["prompt_id"].split("/")[0][1:])]["turns"][r["turn"]]}
        sent = [*history[r["session_id"]], turn]
        assert truth[r["response_id"]]["prompt_sha256"] == prompt_digest({"messages": sent})
        if r["error"] is None:
            history[r["session_id"]] = [*sent, {"role": "assistant", "content": r["text"]}]
