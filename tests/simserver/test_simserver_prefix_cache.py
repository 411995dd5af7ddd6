"""The simulated server's prefix cache: the cache itself, its effect on prefill, and what the API reports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from recorders.simserver.engine import MS, Engine, Sequence
from recorders.simserver.frontend import message_tokens
from recorders.simserver.prefix_cache import PrefixCache, chain, prompt_digest
from recorders.simserver.scenario import load_scenario
from recorders.simserver.testing import SimServerHandle, run_simserver


def _chain(*texts: str, costs: tuple[int, ...] | None = None) -> list[tuple[bytes, int]]:
    pairs = [("user", t) for t in texts]
    return chain(pairs, list(costs or [32] * len(texts)))


def test_longest_cached_prefix_in_whole_blocks_never_the_whole_prompt() -> None:
    cache = PrefixCache(capacity=1000, block_tokens=16)
    first = _chain("a", "b", costs=(20, 30))
    assert cache.lookup(first, 50) == 0
    cache.insert(first)
    longer = _chain("a", "b", "c", costs=(20, 30, 40))
    assert cache.lookup(longer, 90) == 48  # 50 matched, rounded down to 3 blocks
    assert cache.lookup(first, 50) == 48
    assert cache.lookup(_chain("a", costs=(20,)), 20) == 16
    assert cache.lookup(_chain("x", "b", costs=(20, 30)), 50) == 0  # same message, other history
    assert cache.lookup(first, 48) == 32  # the last token is always computed


def test_least_recently_used_prefixes_leave_first_shared_ones_stay() -> None:
    cache = PrefixCache(capacity=100, block_tokens=1)
    cache.insert(_chain("sys", "q1", costs=(40, 30)))
    cache.insert(_chain("sys", "q2", costs=(40, 30)))  # 100 tokens: full
    assert cache.used == 100
    cache.insert(_chain("other", costs=(30,)))  # evicts the least recent: q1 (sys was refreshed by q2)
    assert cache.used == 100
    assert cache.lookup(_chain("sys", "q1", costs=(40, 30)), 80) == 40
    assert cache.lookup(_chain("sys", "q2", costs=(40, 30)), 80) == 70


def test_cached_tokens_are_not_prefilled() -> None:
    overrides = {
        "engine.cpu_ms": 1.0,
        "engine.cpu_ms_per_seq": 0.0,
        "engine.tokenize_ms_per_1k": 0.0,
        "engine.decode_ms": 10.0,
        "engine.decode_ms_per_seq": 0.0,
        "engine.prefill_ms": 5.0,
        "engine.prefill_ms_per_1k": 1000.0,  # 1 ms per prefilled token
    }
    for cached, expected_ms in ((0, 1 + 10 + 5 + 100), (96, 1 + 10 + 5 + 4)):
        engine = Engine(load_scenario("steady", overrides), seed=1)
        engine.submit(Sequence("a", prompt_tokens=100, n_out=1, arrival_ns=0, cached=cached), 0)
        engine.tick(0)
        assert engine.deadline == expected_ms * MS


def test_prompt_digest_is_over_roles_and_contents() -> None:
    body = {"messages": [{"role": "user", "content": "hé"}], "model": "m", "max_tokens": 3}
    same = {"messages": [{"role": "user", "content": "hé", "name": "x"}], "model": "other"}
    assert prompt_digest(body) == prompt_digest(same)
    assert prompt_digest(body) != prompt_digest({"messages": [{"role": "system", "content": "hé"}]})


@pytest.fixture(scope="module")
def chat_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServerHandle]:
    truth = tmp_path_factory.mktemp("sim") / "truth.jsonl"
    with run_simserver("chat", seed=3, truth=truth, overrides={"engine.decode_ms": 2.0}) as handle:
        yield handle


def _ask(sim: SimServerHandle, messages: list[dict[str, str]], session: str | None) -> Any:
    client = openai.OpenAI(base_url=sim.base_url, api_key="unused", max_retries=0)
    headers = {} if session is None else {"x-session-id": session}
    return client.chat.completions.create(
        model=sim.model,
        messages=messages,
        max_tokens=40,
        extra_headers=headers,  # type: ignore[arg-type]
    )


def _metric(sim: SimServerHandle, name: str) -> float:
    import urllib.request

    with urllib.request.urlopen(sim.metrics_url, timeout=10) as resp:
        text = resp.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} not on /metrics")


def test_second_turn_finds_the_first_turn_and_its_answer_cached(chat_sim: SimServerHandle) -> None:
    system = {"role": "system", "content": "You are a terse assistant for the prefix cache test."}
    first = [system, {"role": "user", "content": "My name is Ada. Please remember it."}]
    queries0 = _metric(chat_sim, "vllm:prefix_cache_queries_total")
    hits0 = _metric(chat_sim, "vllm:prefix_cache_hits_total")
    one = _ask(chat_sim, first, "chat-1")
    assert one.usage.prompt_tokens_details.cached_tokens == 0
    answer = one.choices[0].message.content
    second = [*first, {"role": "assistant", "content": answer}, {"role": "user", "content": "My name?"}]
    two = _ask(chat_sim, second, "chat-1")
    history = sum(message_tokens(m["content"]) for m in second[:3])
    assert two.usage.prompt_tokens_details.cached_tokens == history // 16 * 16
    assert _metric(chat_sim, "vllm:prefix_cache_queries_total") - queries0 == (
        one.usage.prompt_tokens + two.usage.prompt_tokens
    )
    assert _metric(chat_sim, "vllm:prefix_cache_hits_total") - hits0 == history // 16 * 16
    truth = {t["id"]: t for t in chat_sim.truth_records()}
    assert (truth[one.id]["session_id"], truth[one.id]["turn"], truth[one.id]["cached_tokens"]) == (
        "chat-1",
        0,
        0,
    )
    assert (truth[two.id]["turn"], truth[two.id]["cached_tokens"]) == (1, history // 16 * 16)
    assert truth[two.id]["prompt_sha256"] == prompt_digest({"messages": second})


def test_without_the_cache_usage_has_no_details_and_context_overflow_is_vllms_400(tmp_path: Path) -> None:
    with run_simserver(
        "chat", seed=3, extra_args=["--no-prefix-cache"], overrides={"model.max_model_len": 200}
    ) as sim:
        reply = _ask(sim, [{"role": "user", "content": "Hello there."}], None)
        assert reply.usage.prompt_tokens_details is None
        with pytest.raises(openai.BadRequestError, match="maximum context length is 200 tokens"):
            _ask(sim, [{"role": "user", "content": "word " * 400}], "s")
