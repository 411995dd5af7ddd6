"""Prompt files, the bundled sets and the order prompts go out in."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from recorders.http_stream.client import request_body
from recorders.http_stream.prompts import BUILTIN_SETS, Prompt, PromptPicker, check_api, load_prompts
from traceanalyzer.errors import BadInputError, UsageError


def test_bundled_sets_are_natural_and_tagged() -> None:
    for name in BUILTIN_SETS:
        prompts = load_prompts(f"builtin:{name}")
        assert len(prompts) >= 15
        assert len({p.id for p in prompts}) == len(prompts)
        for p in prompts:
            assert p.scenario, p.id
            text = p.prompt if p.prompt is not None else json.dumps(p.messages)
            assert "[sim:" not in text  # simulator markers belong in test fixtures only


def test_mixed_set_weights_short_over_long() -> None:
    prompts = load_prompts(None)  # the default is builtin:mixed
    assert {p.scenario for p in prompts} == {"short", "long"}
    picker = PromptPicker(prompts, order=None, rng=random.Random(3))
    assert picker.order == "random"
    drawn = Counter(picker.next()[1].scenario for _ in range(4000))
    total_weight = {s: sum(p.weight for p in prompts if p.scenario == s) for s in ("short", "long")}
    expected_short = total_weight["short"] / sum(total_weight.values())
    assert drawn["short"] / 4000 == pytest.approx(expected_short, abs=0.03)
    long_words = min(len((p.prompt or "").split()) for p in prompts if p.scenario == "long")
    short_words = max(len((p.prompt or "").split()) for p in prompts if p.scenario == "short")
    assert long_words > 10 * short_words


def test_consistency_set_has_expected_facts() -> None:
    prompts = load_prompts("builtin:consistency")
    assert all(p.expected and p.scenario == "consistency" for p in prompts)


def test_robustness_set_covers_every_abnormal_input() -> None:
    prompts = load_prompts("builtin:robustness")
    scenarios = {p.scenario for p in prompts}
    assert scenarios == {
        f"robustness/{k}"
        for k in ("long_input", "garbled", "mixed_script", "special_chars", "injection", "ambiguous")
    }
    longest = max(
        len(p.prompt or p.messages[-1]["content"]) for p in prompts if p.scenario == "robustness/long_input"
    )  # type: ignore[index]
    assert longest > 128_000 * 4  # beyond a 128k-token context at ~4 characters per token
    special = "".join(p.prompt or "" for p in prompts if p.scenario == "robustness/special_chars")
    assert "\u0000" in special and "\u202e" in special and "👩‍👩‍👧‍👦" in special
    body = json.loads(request_body(prompts[0], api="chat", model="m", max_tokens=None, extra_body={}))
    assert body["stream"] is True and "max_tokens" not in body


def test_prompt_file_fields_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(
        '{"id": "a", "prompt": "hi", "scenario": "s", "max_tokens": 5, "expected": "x", "weight": 2}\n'
        "\n"
        '{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "ab"}],'
        ' "repeat": 3}\n',
        encoding="utf-8",
    )
    a, b = load_prompts(str(path))
    assert (a.id, a.prompt, a.scenario, a.max_tokens, a.expected, a.weight) == (
        "a",
        "hi",
        "s",
        5,
        ("x",),
        2.0,
    )
    assert b.id == "set-3" and b.messages is not None and b.messages[-1]["content"] == "ab\nab\nab"
    assert b.messages[0]["content"] == "be brief"
    with pytest.raises(BadInputError, match="needs 'prompt' text"):
        check_api([a, b], "completions", str(path))


@pytest.mark.parametrize(
    ("content", "line", "problem"),
    [
        (
            '{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n',
            2,
            "duplicate id 'a' \\(first on line 1\\)",
        ),
        ('{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": \n', 2, "not valid JSON"),
        ('{"id": "a"}\n', 1, "exactly one of 'prompt' and 'messages'"),
        ('{"prompt": "x", "max_tokens": 0}\n', 1, "'max_tokens' must be an integer >= 1"),
        ('{"prompt": "x", "expected": [1]}\n', 1, "'expected' must be"),
        ('{"messages": [{"content": "x"}]}\n', 1, "'messages' must be"),
        ('["x"]\n', 1, "JSON object"),
    ],
)
def test_bad_prompt_files_name_file_and_line(tmp_path: Path, content: str, line: int, problem: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BadInputError, match=problem) as info:
        load_prompts(str(path))
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_missing_empty_and_unknown_sets(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="not found"):
        load_prompts(str(tmp_path / "nope.jsonl"))
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="no prompts"):
        load_prompts(str(tmp_path / "empty.jsonl"))
    with pytest.raises(UsageError, match="builtin:mixed"):
        load_prompts("builtin:nope")


def test_cycle_order_splits_over_workers_without_overlap() -> None:
    prompts = [Prompt(str(i), prompt=str(i)) for i in range(5)]
    single = PromptPicker(prompts, order=None, rng=random.Random(0))
    assert single.order == "cycle"
    assert [single.next()[0] for _ in range(7)] == [0, 1, 2, 3, 4, 0, 1]
    w0, w1 = (
        PromptPicker(prompts, order="cycle", rng=random.Random(0), worker=i, workers=2) for i in range(2)
    )
    sent = Counter(p.next()[0] for _ in range(5) for p in (w0, w1))
    assert sent == Counter({i: 2 for i in range(5)})


def test_random_order_is_seeded() -> None:
    prompts = [Prompt(str(i), prompt=str(i)) for i in range(50)]
    pickers = [PromptPicker(prompts, order="random", rng=random.Random(seed)) for seed in (1, 1, 2)]
    draws = [[picker.next()[0] for _ in range(20)] for picker in pickers]
    assert draws[0] == draws[1] != draws[2]
    assert len(set(draws[0])) > 10


def test_request_body_merges_extra_fields() -> None:
    prompt = Prompt("a", prompt="hello", max_tokens=7)
    body = json.loads(
        request_body(
            prompt,
            api="completions",
            model="m",
            max_tokens=prompt.max_tokens,
            extra_body={"temperature": 0, "stream_options": {"continuous_usage_stats": True}},
        )
    )
    assert body == {
        "model": "m",
        "prompt": "hello",
        "max_tokens": 7,
        "stream": True,
        "stream_options": {"include_usage": True, "continuous_usage_stats": True},
        "temperature": 0,
    }
