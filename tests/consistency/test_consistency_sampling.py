"""Sampling plan, bounded pair work and the confidence interval, on synthetic unit vectors (no model)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pytest

from traceanalyzer.consistency import similarity
from traceanalyzer.consistency.answers import Answers, collect_answers
from traceanalyzer.consistency.measure import sample_similarities
from traceanalyzer.consistency.sampling import (
    MIN_PER_GROUP,
    TIME_SLICES,
    jackknife_variance,
    parse_sample,
    plan_sample,
)
from traceanalyzer.consistency.similarity import Bag, PairStats, cross_pairs, within_pairs
from traceanalyzer.errors import UsageError

RequestsFactory = Callable[..., pa.Table]


def _answers(make_requests: RequestsFactory, sizes: Sequence[int], repeats: int = 1) -> Answers:
    """Groups g0, g1, ... of ``sizes[g]`` answers on two hosts, each text given ``repeats`` times."""
    rows = []
    for g, size in enumerate(sizes):
        rows += [
            {"prompt_id": f"g{g}", "text": f"g{g}-t{n // repeats}", "host": f"h{n % 2}"} for n in range(size)
        ]
    answers = collect_answers(make_requests(rows))
    assert isinstance(answers, Answers)
    return answers


def _clustered_vectors(texts: int, seed: int = 3, dimension: int = 16) -> np.ndarray:
    """Unit vectors around a few directions, so that cosines spread between about -0.2 and 1."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, dimension))
    vectors = centres[rng.integers(0, 4, size=texts)] + rng.normal(scale=0.9, size=(texts, dimension))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_sample_option_values() -> None:
    assert parse_sample("all") is None and parse_sample("ALL") is None and parse_sample(None) is None
    assert parse_sample("3000") == 3000 and parse_sample("6,400") == 6400 and parse_sample(50) == 50
    for bad in ("lots", "1", "-5"):
        with pytest.raises(UsageError, match="consistency-sample"):
            parse_sample(bad)


def test_groups_that_fit_are_embedded_whole(make_requests: RequestsFactory) -> None:
    answers = _answers(make_requests, [5, 40, 3], repeats=2)  # 3 + 20 + 2 distinct texts
    scored = answers.groups
    for budget in (None, 25, 1000):
        plan = plan_sample(answers, scored, budget)
        assert all(s.whole for s in plan)
        assert [s.rows.tolist() for s in plan] == [list(range(g.start, g.stop)) for g in scored]


def test_budget_is_shared_out_by_water_filling(make_requests: RequestsFactory) -> None:
    answers = _answers(make_requests, [6, 300, 900, 40])
    plan = {s.group.prompt_id: s for s in plan_sample(answers, answers.groups, 200)}
    # 6 and 40 fit whole; the other two share the remaining 154 answers equally
    assert plan["g0"].whole and plan["g3"].whole
    assert not plan["g1"].whole and not plan["g2"].whole
    assert len(plan["g1"].rows) == len(plan["g2"].rows) == (200 - 6 - 40) // 2
    assert sum(len(s.rows) for s in plan.values()) <= 200
    for s in plan.values():
        rows = s.rows
        assert np.all(np.diff(rows) > 0) and rows[0] >= s.group.start and rows[-1] < s.group.stop


def test_each_time_slice_gives_its_share_and_the_seed_fixes_it(make_requests: RequestsFactory) -> None:
    answers = _answers(make_requests, [600, 600])
    first = plan_sample(answers, answers.groups, 120, seed=1)
    again = plan_sample(answers, answers.groups, 120, seed=1)
    other = plan_sample(answers, answers.groups, 120, seed=2)
    assert all(np.array_equal(a.rows, b.rows) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a.rows, b.rows) for a, b in zip(first, other, strict=True))
    for s in first:
        slices = (s.rows - s.group.start) * TIME_SLICES // s.group.size
        assert np.bincount(slices, minlength=TIME_SLICES).tolist() == [10] * TIME_SLICES
    # a group's sample does not depend on the other groups of the capture
    alone = _answers(make_requests, [600])
    (single,) = plan_sample(alone, alone.groups, 60, seed=1)
    assert np.array_equal(single.rows, first[0].rows)


def test_many_prompts_keep_a_minimum_sample_each(make_requests: RequestsFactory) -> None:
    answers = _answers(make_requests, [50] * 10)
    plan = plan_sample(answers, answers.groups, 20)
    assert all(len(s.rows) == MIN_PER_GROUP and not s.whole for s in plan)


def test_jackknife_of_a_u_statistic_from_sums_matches_leaving_out_by_hand() -> None:
    vectors = _clustered_vectors(9).astype(np.float64)
    k = len(vectors)

    def mean_pair(rows: np.ndarray) -> float:
        gram = rows @ rows.T
        return float((gram.sum() - np.trace(gram)) / (len(rows) * (len(rows) - 1)))

    leave_out = np.array([mean_pair(np.delete(vectors, i, axis=0)) for i in range(k)])
    by_hand = (k - 1) / k * float(np.sum((leave_out - leave_out.mean()) ** 2))
    assert jackknife_variance(vectors) == pytest.approx(by_hand, rel=1e-9)
    assert jackknife_variance(vectors[:2]) == 0.0


def test_large_bags_get_an_exact_mean_and_a_sampled_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    vectors = _clustered_vectors(60)
    rng = np.random.default_rng(5)
    texts = rng.integers(0, 60, size=400)
    left, right = Bag.of(np.arange(0, 200), texts), Bag.of(np.arange(200, 400), texts)
    whole = Bag.of(np.arange(400), texts)
    exact_within = within_pairs(vectors, whole, 0.5)
    exact_cross = cross_pairs(vectors, left, right, 0.5)
    monkeypatch.setattr(similarity, "PAIRWISE_TEXTS", 20)
    bounded_within = within_pairs(vectors, whole, 0.5)
    bounded_cross = cross_pairs(vectors, left, right, 0.5)
    for exact, bounded in ((exact_within, bounded_within), (exact_cross, bounded_cross)):
        assert not exact.sampled and bounded.sampled
        assert bounded.pairs == exact.pairs
        assert bounded.mean == pytest.approx(exact.mean, abs=1e-6)
        assert bounded.minimum >= exact.minimum
        assert bounded.share_above is not None and exact.share_above is not None
        assert abs(bounded.share_above - exact.share_above) < 0.2
        assert bounded.min_pair is not None


def test_scaled_statistics_stand_for_the_whole_group(make_requests: RequestsFactory) -> None:
    answers = _answers(make_requests, [300])
    vectors = _clustered_vectors(len(answers.texts))
    (sample,) = plan_sample(answers, answers.groups, 60, seed=4)
    (full,) = plan_sample(answers, answers.groups, None)
    sampled, _ = sample_similarities(vectors, answers, [sample], 0.5)
    exact, _ = sample_similarities(vectors, answers, [full], 0.5)
    estimate, truth = sampled["g0"], exact["g0"]
    assert estimate.all_pairs.pairs == truth.all_pairs.pairs == 300 * 299 // 2
    assert estimate.early_late is not None and truth.early_late is not None
    assert estimate.early_late.pairs == truth.early_late.pairs == 100 * 100
    assert estimate.across_hosts is not None and truth.across_hosts is not None
    assert estimate.across_hosts.pairs == truth.across_hosts.pairs == 150 * 150
    assert estimate.same_host is not None and estimate.same_host.pairs == 2 * 150 * 149 // 2
    assert {h: s.pairs for h, s in estimate.per_host.items()} == {0: 150 * 150, 1: 150 * 150}
    assert estimate.all_pairs.sampled and not truth.all_pairs.sampled
    assert estimate.all_pairs.minimum >= truth.all_pairs.minimum
    assert abs(estimate.all_pairs.mean - truth.all_pairs.mean) < 0.05  # type: ignore[operator]


def _pooled_mean(stats: dict[str, similarity.GroupSimilarity]) -> float:
    pooled = PairStats()
    for group in stats.values():
        pooled.add(group.all_pairs)
    assert pooled.mean is not None
    return pooled.mean


def test_interval_covers_the_full_mean_at_about_its_stated_rate(make_requests: RequestsFactory) -> None:
    # three groups of different sizes and spreads; the full computation is affordable
    answers = _answers(make_requests, [240, 400, 160])
    vectors = _clustered_vectors(len(answers.texts), seed=11)
    full, exact_interval = sample_similarities(
        vectors, answers, plan_sample(answers, answers.groups, None), 0.5
    )
    truth = _pooled_mean(full)
    assert exact_interval.interval(truth) == (truth, truth)  # nothing sampled: no uncertainty

    covered, widths = 0, []
    seeds = range(300)
    for seed in seeds:
        plan = plan_sample(answers, answers.groups, 150, seed=seed)
        stats, interval = sample_similarities(vectors, answers, plan, 0.5)
        estimate = _pooled_mean(stats)
        low, high = interval.interval(estimate) or (np.nan, np.nan)
        covered += low <= truth <= high
        widths.append(high - low)
    rate = covered / len(seeds)
    assert 0.88 <= rate <= 0.995, rate
    assert 0.0 < float(np.median(widths)) < 0.1
