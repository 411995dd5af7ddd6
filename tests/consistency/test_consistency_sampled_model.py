"""Sampled consistency with the real all-MiniLM-L6-v2 model: exact numbers where everything fits, an
interval that covers the full computation where it does not."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from traceanalyzer.consistency import measure_consistency

RequestsFactory = Callable[..., pa.Table]

SUBJECTS = ["The server", "Our cluster", "The scheduler", "Every replica", "The cache", "The gateway"]
VERBS = ["restarts", "slows down", "rejects requests", "runs out of memory", "recovers", "queues work"]
CAUSES = [
    "when the batch grows",
    "after a long prompt",
    "under heavy load",
    "because a disk fills up",
    "at midnight",
    "while the model reloads",
]


def _sentences(seed: int, count: int) -> list[str]:
    """``count`` distinct sentences about a serving incident, from a seeded shuffle of the combinations."""
    combos = list(itertools.product(SUBJECTS, VERBS, CAUSES))
    random.Random(seed).shuffle(combos)
    return [f"{s} {v} {c}." for s, v, c in combos[:count]]


def _rows(prompt_id: str, texts: list[str], repeat_first: int = 0) -> list[dict[str, Any]]:
    rows = [{"prompt_id": prompt_id, "text": text, "host": f"h{n % 2}"} for n, text in enumerate(texts)]
    rows += [{"prompt_id": prompt_id, "text": texts[0], "host": "h0"} for _ in range(repeat_first)]
    return rows


def test_small_groups_give_exact_numbers_whatever_the_sample(
    make_requests: RequestsFactory, tmp_path: Path
) -> None:
    rows = _rows("a", _sentences(1, 12), repeat_first=6) + _rows("b", _sentences(2, 8)) + _rows("c", ["x"])
    requests = make_requests(rows)
    everything = measure_consistency(requests, cache_dir=tmp_path, sample=None)
    default = measure_consistency(requests, cache_dir=tmp_path)
    summary = default.to_summary()
    assert summary["model"].pop("from_cache") == 19 and everything.to_summary()["model"]["from_cache"] == 0
    assert {**everything.to_summary(), "model": None} == {**summary, "model": None}
    assert summary["sampled"] is False and summary["embedded"] == summary["scored_answers"] == 26
    assert summary["mean_cosine_ci95"] == [summary["mean_cosine"], summary["mean_cosine"]]
    assert all(row["sampled_answers"] is None for row in summary["per_group"])
    json.dumps(summary, allow_nan=False)


@pytest.mark.slow
def test_sampled_interval_covers_the_full_mean(make_requests: RequestsFactory, tmp_path: Path) -> None:
    # three prompts, 216 distinct answers, some repeated: small enough to embed whole for the truth
    rows = (
        _rows("p1", _sentences(1, 90), repeat_first=30)
        + _rows("p2", _sentences(2, 72))
        + _rows("p3", _sentences(3, 54))
    )
    requests = make_requests(rows)
    full = measure_consistency(requests, cache_dir=tmp_path, sample=None)
    assert full.mean_cosine is not None and not full.sampled

    covered = 0
    seeds = range(20)
    for seed in seeds:
        sampled = measure_consistency(requests, cache_dir=tmp_path, sample=60, seed=seed)
        assert sampled.sampled and sampled.embedded == 60
        assert sampled.model is not None and sampled.model.embedded == 0  # every vector from the cache
        # exact-match rate, answers and key information are computed over every answer, sampled or not
        assert sampled.exact_match_rate == full.exact_match_rate
        assert (sampled.answers, sampled.scored_answers) == (full.answers, full.scored_answers)
        assert sampled.cosine is not None and full.cosine is not None
        assert sampled.cosine.pairs == full.cosine.pairs  # the pairs the estimate stands for
        assert sampled.min_cosine is not None and full.min_cosine is not None
        assert sampled.min_cosine >= full.min_cosine  # the minimum over the sample's pairs
        assert {g.prompt_id: g.sampled_answers for g in sampled.per_group} == {"p1": 20, "p2": 20, "p3": 20}
        assert sampled.mean_cosine_ci95 is not None
        low, high = sampled.mean_cosine_ci95
        assert low < high
        covered += low <= full.mean_cosine <= high
    # a 95 % interval; the seeds are fixed, so this count is too
    assert covered >= 16, covered
