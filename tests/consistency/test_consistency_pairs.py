"""Pair statistics on distinct texts with multiplicities equal brute force over every answer pair."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traceanalyzer.consistency import similarity
from traceanalyzer.consistency.similarity import Bag, PairStats, cross_pairs, group_similarity, within_pairs


def _cosine(vectors: np.ndarray, texts: np.ndarray, a: int, b: int) -> float:
    if texts[a] == texts[b]:
        return 1.0
    return float(np.clip(vectors[texts[a]] @ vectors[texts[b]], -1.0, 1.0))


def _brute(
    vectors: np.ndarray, texts: np.ndarray, pairs: list[tuple[int, int]], threshold: float
) -> PairStats:
    stats = PairStats()
    for a, b in pairs:
        value = _cosine(vectors, texts, a, b)
        stats.add(PairStats(1, value, int(value >= threshold), value, (a, b)))
    return stats


def _assert_same(fast: PairStats, slow: PairStats, vectors: np.ndarray, texts: np.ndarray) -> None:
    assert fast.pairs == slow.pairs
    assert fast.above == slow.above
    if slow.pairs:
        assert fast.total == pytest.approx(slow.total, abs=1e-4)
        assert fast.minimum == pytest.approx(slow.minimum, abs=1e-6)
        assert fast.min_pair is not None
        # the reported pair really has the minimum cosine (ties may name another pair)
        assert _cosine(vectors, texts, *fast.min_pair) == pytest.approx(slow.minimum, abs=1e-6)
    else:
        assert fast.min_pair is None and fast.mean is None and fast.share_above is None


@st.composite
def _groups(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    distinct = draw(st.integers(1, 6))
    answers = draw(st.integers(1, 14))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(distinct, 5)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = np.array(draw(st.lists(st.integers(0, distinct - 1), min_size=answers, max_size=answers)))
    hosts = np.array(draw(st.lists(st.integers(0, 2), min_size=answers, max_size=answers)))
    threshold = draw(st.sampled_from([-0.5, 0.0, 0.3, 0.8, 1.0]))
    return vectors, texts, hosts, threshold


@settings(max_examples=150, deadline=None)
@given(_groups())
def test_within_and_cross_pairs_match_brute_force(
    group: tuple[np.ndarray, np.ndarray, np.ndarray, float],
) -> None:
    vectors, texts, _, threshold = group
    rows = np.arange(len(texts))
    all_pairs = list(itertools.combinations(rows.tolist(), 2))
    _assert_same(
        within_pairs(vectors, Bag.of(rows, texts), threshold),
        _brute(vectors, texts, all_pairs, threshold),
        vectors,
        texts,
    )

    left, right = rows[: len(rows) // 2], rows[len(rows) // 2 :]
    cross = [(a, b) for a in left.tolist() for b in right.tolist()]
    fast = cross_pairs(vectors, Bag.of(left, texts), Bag.of(right, texts), threshold)
    _assert_same(fast, _brute(vectors, texts, cross, threshold), vectors, texts)


@settings(max_examples=100, deadline=None)
@given(_groups())
def test_group_similarity_thirds_and_hosts_match_brute_force(
    group: tuple[np.ndarray, np.ndarray, np.ndarray, float],
) -> None:
    vectors, texts, hosts, threshold = group
    n = len(texts)
    result = group_similarity(vectors, texts, hosts, 0, n, threshold)

    third = n // 3
    if third:
        early, late = range(third), range(n - third, n)
        expected = _brute(vectors, texts, [(a, b) for a in early for b in late], threshold)
        assert result.early_late is not None
        _assert_same(result.early_late, expected, vectors, texts)
    else:
        assert result.early_late is None

    pairs = list(itertools.combinations(range(n), 2))
    if len(set(hosts.tolist())) > 1:
        assert result.across_hosts is not None and result.same_host is not None
        across = [(a, b) for a, b in pairs if hosts[a] != hosts[b]]
        same = [(a, b) for a, b in pairs if hosts[a] == hosts[b]]
        _assert_same(result.across_hosts, _brute(vectors, texts, across, threshold), vectors, texts)
        _assert_same(result.same_host, _brute(vectors, texts, same, threshold), vectors, texts)
        for host, stats in result.per_host.items():
            mine = [(a, b) for a, b in across if host in (hosts[a], hosts[b])]
            _assert_same(stats, _brute(vectors, texts, mine, threshold), vectors, texts)
    else:
        assert result.across_hosts is None and not result.per_host


def test_blocks_give_the_same_answer_as_one_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(40, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = rng.integers(0, 40, size=120)
    bag = Bag.of(np.arange(120), texts)
    whole = within_pairs(vectors, bag, 0.1)
    monkeypatch.setattr(similarity, "BLOCK_CELLS", 50)  # one row of the 40 x 40 matrix per block
    blocked = within_pairs(vectors, bag, 0.1)
    assert (blocked.pairs, blocked.above, blocked.minimum) == (whole.pairs, whole.above, whole.minimum)
    assert blocked.total == pytest.approx(whole.total)
    assert whole.pairs == 120 * 119 // 2


def test_identical_answers_are_exactly_one() -> None:
    vectors = np.array([[0.6, 0.8]], dtype=np.float32)
    stats = within_pairs(vectors, Bag.of(np.arange(5), np.zeros(5, dtype=np.int64)), 0.8)
    assert (stats.pairs, stats.mean, stats.minimum, stats.share_above) == (10, 1.0, 1.0, 1.0)
