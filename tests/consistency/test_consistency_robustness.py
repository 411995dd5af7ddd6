"""Robustness verdicts on hand-built requests: graceful vs bad, per scenario."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pyarrow as pa
import pytest

from traceanalyzer.consistency import judge_robustness, measure_consistency
from traceanalyzer.consistency.robustness import is_robustness_scenario, judge_request

RequestsFactory = Callable[..., pa.Table]


@pytest.mark.parametrize(
    ("error_class", "message", "text", "tokens", "expected"),
    [
        (None, None, "I cannot parse that input.", 7, ("graceful", "answer")),
        (None, None, "   \n", 1, ("bad", "empty_answer")),
        (None, None, "", 0, ("bad", "empty_answer")),
        (None, None, None, 7, ("graceful", "answer")),  # --no-text capture: judged by output tokens
        (None, None, None, 0, ("bad", "empty_answer")),
        (
            "context_length",
            "This model's maximum context length is 4096 tokens",
            None,
            0,
            ("graceful", "context_length"),
        ),
        ("client_4xx", "invalid request: messages must not be empty", None, 0, ("graceful", "client_4xx")),
        ("rate_limited", "Too many requests", None, 0, ("graceful", "rate_limited")),
        ("client_4xx", "", None, 0, ("bad", "refused_without_message")),
        ("context_length", None, None, 0, ("bad", "refused_without_message")),
        ("server_5xx", "Internal Server Error", None, 0, ("bad", "server_5xx")),
        ("oom", "CUDA out of memory", None, 0, ("bad", "oom")),
        ("timeout", "TTFT timeout after 30 s", None, 0, ("bad", "timeout")),
        ("stream_broken", "connection closed mid-stream", "partial", 3, ("bad", "stream_broken")),
        ("connection", "connection refused", None, 0, ("bad", "connection")),
        ("aborted", "recorder stopped", None, 0, ("not_judged", "aborted")),
    ],
)
def test_judge_request(
    error_class: str | None, message: str | None, text: str | None, tokens: int, expected: tuple[str, str]
) -> None:
    assert judge_request(error_class, message, text, tokens) == expected


def test_robustness_scenarios_by_prefix_name_or_pattern() -> None:
    assert is_robustness_scenario("robustness/long")
    assert is_robustness_scenario("robustness")
    assert not is_robustness_scenario("consistency")
    assert is_robustness_scenario("edge-garbled", ["edge-*"])
    assert is_robustness_scenario("weird", ["weird"])
    assert not is_robustness_scenario("weirder", ["weird"])


def test_verdicts_per_scenario_with_counts_reasons_and_examples(make_requests: RequestsFactory) -> None:
    rows = [
        {
            "id": "long-1",
            "scenario": "robustness/long",
            "error_class": "context_length",
            "status": 400,
            "error_message": "maximum context length is 4096 tokens",
        },
        {"id": "long-2", "scenario": "robustness/long", "text": "Summary: ...", "output_tokens": 3},
        {
            "id": "garbled-1",
            "scenario": "robustness/garbled",
            "text": "I did not understand.",
            "output_tokens": 5,
        },
        {
            "id": "garbled-2",
            "scenario": "robustness/garbled",
            "error_class": "server_5xx",
            "status": 500,
            "error_message": "Internal Server Error",
        },
        {"id": "garbled-3", "scenario": "robustness/garbled", "text": "", "output_tokens": 0},
        {"id": "garbled-4", "scenario": "robustness/garbled", "error_class": "aborted"},
        {"id": "gone-1", "scenario": "robustness/injection", "error_class": "aborted"},
        {"id": "edge-1", "scenario": "edge", "error_class": "timeout", "error_message": "timed out"},
        {"id": "plain-1", "scenario": "short", "error_class": "server_5xx", "status": 500},
    ]
    verdicts = judge_robustness(make_requests(rows), scenarios=["edge"])
    assert list(verdicts) == ["edge", "robustness/garbled", "robustness/injection", "robustness/long"]

    assert verdicts["robustness/long"].to_summary() == {
        "requests": 2,
        "graceful": 2,
        "bad": 0,
        "verdict": "pass",
        "aborted": 0,
        "bad_reasons": {},
        "graceful_reasons": {"answer": 1, "context_length": 1},
        "examples": {"bad": [], "graceful": ["long-1", "long-2"]},
    }
    garbled = verdicts["robustness/garbled"]
    assert (garbled.requests, garbled.graceful, garbled.bad, garbled.aborted) == (4, 1, 2, 1)
    assert garbled.verdict == "fail"
    assert garbled.bad_reasons == {"empty_answer": 1, "server_5xx": 1}
    assert garbled.bad_examples == ("garbled-2", "garbled-3")
    assert verdicts["robustness/injection"].verdict == "inconclusive"
    assert verdicts["edge"].verdict == "fail" and verdicts["edge"].bad_reasons == {"timeout": 1}


def test_no_robustness_scenario_gives_no_verdict(make_requests: RequestsFactory) -> None:
    assert judge_robustness(make_requests([{"scenario": "short"}, {"scenario": None}])) == {}
    assert judge_robustness(make_requests([])) == {}


def test_examples_are_the_earliest_five(make_requests: RequestsFactory) -> None:
    rows = [
        {"id": f"r{n}", "scenario": "robustness/x", "error_class": "server_5xx", "t_send": 100 - n}
        for n in range(8)
    ]
    verdict = judge_robustness(make_requests(rows))["robustness/x"]
    assert verdict.bad == 8 and verdict.bad_examples == ("r7", "r6", "r5", "r4", "r3")


def test_summary_objects_match_the_summary_schema(make_requests: RequestsFactory) -> None:
    schema_file = Path(__file__).parents[2] / "docs" / "summary.schema.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    rows = [
        {"id": "a", "scenario": "robustness/x", "text": "fine", "prompt_id": "p", "output_tokens": 1},
        {"id": "b", "scenario": "robustness/x", "error_class": "oom", "prompt_id": "p"},
    ]
    requests = make_requests(rows)
    robustness = {name: v.to_summary() for name, v in judge_robustness(requests).items()}
    blind = measure_consistency(make_requests([{"text": "a"}])).to_summary()  # not measurable
    measured = measure_consistency(make_requests([{"prompt_id": "p", "text": t} for t in "aab"])).to_summary()
    assert measured["mean_cosine"] is not None
    for key, value in (("robustness", robustness), ("consistency", blind), ("consistency", measured)):
        validator = jsonschema.Draft202012Validator({"$defs": schema["$defs"], **schema["properties"][key]})
        validator.validate(json.loads(json.dumps(value, allow_nan=False)))
