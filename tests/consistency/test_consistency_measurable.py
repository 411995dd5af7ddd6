"""When consistency cannot be measured it says so (not zero); single answers are counted, not scored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from traceanalyzer.consistency import default_cache_dir, measure_consistency
from traceanalyzer.consistency.answers import NO_PROMPT_ID, NO_REQUESTS, NO_SUCCESS, NO_TEXT
from traceanalyzer.consistency.measure import SINGLE_ANSWERS_NOTE
from traceanalyzer.errors import BadInputError, UsageError

RequestsFactory = Callable[..., pa.Table]


def _assert_not_measurable(rows: list[dict[str, Any]], reason: str, make_requests: RequestsFactory) -> None:
    result = measure_consistency(make_requests(rows))
    assert result.measurable is False and result.reason == reason
    summary = result.to_summary()
    assert summary["measurable"] is False and summary["reason"] == reason
    for key in (
        "exact_match_rate",
        "mean_cosine",
        "min_cosine",
        "share_above_threshold",
        "key_info_accuracy",
    ):
        assert summary[key] is None, key


def test_capture_without_text_is_not_measurable(make_requests: RequestsFactory) -> None:
    rows = [{"prompt_id": "p", "output_tokens": 12, "expected": ["x"]} for _ in range(4)]
    _assert_not_measurable(rows, NO_TEXT, make_requests)
    assert "--no-text" in NO_TEXT


def test_no_requests_no_success_no_prompt_id(make_requests: RequestsFactory) -> None:
    _assert_not_measurable([], NO_REQUESTS, make_requests)
    failed = [{"prompt_id": "p", "error_class": "server_5xx", "status": 500, "text": ""} for _ in range(3)]
    _assert_not_measurable(failed, NO_SUCCESS, make_requests)
    _assert_not_measurable([{"text": "a"}, {"text": "a"}], NO_PROMPT_ID, make_requests)


def test_failed_requests_and_requests_without_text_are_not_answers(make_requests: RequestsFactory) -> None:
    rows = [
        {"prompt_id": "p", "text": "same"},
        {"prompt_id": "p", "text": "same"},
        {"prompt_id": "p", "text": "partial answ", "error_class": "stream_broken"},
        {"prompt_id": "p", "text": None},
    ]
    result = measure_consistency(make_requests(rows))
    assert (result.answers, result.exact_match_rate, result.mean_cosine) == (2, 1.0, 1.0)


def test_only_single_answers_are_counted_not_scored_and_load_no_model(make_requests: RequestsFactory) -> None:
    rows = [{"prompt_id": f"p{n}", "text": f"answer {n}", "expected": ["answer"]} for n in range(3)]
    result = measure_consistency(make_requests(rows))
    assert result.measurable and (result.groups, result.scored_groups, result.answers) == (3, 0, 3)
    assert result.exact_match_rate is None and result.cosine is None and result.model is None
    assert result.notes == (SINGLE_ANSWERS_NOTE,)
    assert result.key_info.accuracy == 1.0  # key information is checked on every answer, single or not
    assert all(not group.scored and group.exact_match_rate is None for group in result.per_group)


def test_invalid_expected_regex_is_bad_input(make_requests: RequestsFactory) -> None:
    rows = [{"prompt_id": "cons-x", "text": "a", "expected": ["/[a-/"]}]
    with pytest.raises(BadInputError, match="cons-x"):
        measure_consistency(make_requests(rows))


def test_threshold_must_be_a_cosine(make_requests: RequestsFactory) -> None:
    with pytest.raises(UsageError, match="threshold"):
        measure_consistency(make_requests([]), threshold=80)


def test_embedding_cache_sits_in_the_capture_cache_directory(tmp_path: Path) -> None:
    trace = tmp_path / "requests.jsonl"
    expected = tmp_path / ".traceanalyzer-cache" / "embeddings"
    assert default_cache_dir(tmp_path) == expected
    assert default_cache_dir(str(trace)) == expected
    assert default_cache_dir([trace, tmp_path / "other" / "gpu.jsonl"]) == expected
