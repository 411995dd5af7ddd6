"""Pairwise cosine similarity of answers within a prompt group: all pairs, early vs late, across hosts.

Vectors are L2-normalised, so cosine(a, b) = a . b (clipped to [-1, 1]). A *pair* is two different answers
(requests) of the same prompt; a group of n answers has n (n - 1) / 2 pairs. Two answers with identical text
have cosine exactly 1. Pairs are counted with multiplicity but computed on distinct texts: a text given
c times stands for c answers, so the work grows with distinct texts, not answers.

- All pairs of a group: mean, minimum, and share of pairs with cosine >= threshold.
- Drift (early vs late): the group's answers ordered by ``t_send``; with n >= 3, the first floor(n / 3) are
  early and the last floor(n / 3) late; statistics over the early x late pairs. A mean well below the
  group's all-pairs mean says the answers changed during the run.
- Across hosts: statistics over the pairs whose two answers came from different hosts; the same over pairs
  from one host for comparison; per host, the pairs between that host and any other.

Work stays bounded: a bag of more than :data:`PAIRWISE_TEXTS` distinct texts is not compared pair by pair.
Its mean is still exact, from the sum of the normalised vectors (the sum of the cosines over the pairs of
distinct answers is ``(|sum of vectors|^2 - sum of squared norms) / 2``, and the same for two bags with the
dot product of their sums), while the minimum and the share above threshold come from the pairs of a seeded
sample of :data:`PAIRWISE_TEXTS` of its answers (``sampled`` says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

BLOCK_CELLS = 2_000_000
"""Largest similarity block computed at once (cells), to bound memory on groups with many distinct texts."""
PAIRWISE_TEXTS = 4096
"""Most distinct texts of one bag compared pair by pair (see the module docstring)."""


@dataclass
class PairStats:
    """Running sums over answer pairs: count, sum of cosines, count >= threshold, the minimum and its pair.

    ``min_pair`` holds two answer rows (indices into :class:`~traceanalyzer.consistency.answers.Answers`).
    ``sampled``: the statistics were estimated from a sample of the pairs (``total`` and ``above`` scaled to
    ``pairs``, the minimum over the sample); ``above`` is then a fraction of a count.
    """

    pairs: int = 0
    total: float = 0.0
    above: float = 0
    minimum: float = math.inf
    min_pair: tuple[int, int] | None = None
    sampled: bool = False

    def add(self, other: PairStats) -> None:
        """Pool ``other`` into these statistics."""
        self.pairs += other.pairs
        self.total += other.total
        self.above += other.above
        self.sampled |= other.sampled
        if other.minimum < self.minimum:
            self.minimum, self.min_pair = other.minimum, other.min_pair

    def scaled(self, pairs: int) -> PairStats:
        """These statistics of a sample of pairs, standing for ``pairs`` pairs (unchanged without pairs)."""
        if not self.pairs or pairs == self.pairs:
            return self
        factor = pairs / self.pairs
        return PairStats(pairs, self.total * factor, self.above * factor, self.minimum, self.min_pair, True)

    @property
    def mean(self) -> float | None:
        """Mean cosine over the pairs; None without pairs."""
        return self.total / self.pairs if self.pairs else None

    @property
    def share_above(self) -> float | None:
        """Share of pairs with cosine >= threshold; None without pairs."""
        return self.above / self.pairs if self.pairs else None


@dataclass(frozen=True)
class Bag:
    """A multiset of answers by distinct text: ``texts`` (text indices), ``counts``, and for each text the
    first and second answer row giving it (``second`` is -1 when the text occurs once)."""

    texts: np.ndarray
    counts: np.ndarray
    first: np.ndarray
    second: np.ndarray

    @classmethod
    def of(cls, rows: np.ndarray, text_index: np.ndarray) -> Bag:
        """The bag of answer ``rows`` (row -> text via ``text_index``)."""
        order = np.argsort(text_index[rows], kind="stable")
        sorted_rows = rows[order]
        texts, starts, counts = np.unique(text_index[sorted_rows], return_index=True, return_counts=True)
        second = np.where(counts > 1, sorted_rows[np.minimum(starts + 1, len(rows) - 1)], -1)
        return cls(texts, counts.astype(np.int64), sorted_rows[starts], second)

    @property
    def size(self) -> int:
        """Number of answers in the bag."""
        return int(self.counts.sum())

    def subsample(self, answers: int) -> Bag:
        """A seeded sample of ``answers`` of the bag's answers, drawn without replacement."""
        counts = np.random.default_rng(0).multivariate_hypergeometric(self.counts, answers)
        keep = counts > 0
        second = np.where(counts[keep] > 1, self.second[keep], -1)
        return Bag(self.texts[keep], counts[keep].astype(np.int64), self.first[keep], second)

    def vector_sum(self, vectors: np.ndarray) -> np.ndarray:
        """``sum(count * vector)`` over the bag's texts, in float64."""
        return self.counts.astype(np.float64) @ vectors[self.texts].astype(np.float64)


def _similarities(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return np.clip(left @ right.T, -1.0, 1.0)


def within_pairs(vectors: np.ndarray, bag: Bag, threshold: float) -> PairStats:
    """Statistics over all pairs of answers in ``bag`` (``vectors[text]`` embeds text)."""
    if len(bag.texts) > PAIRWISE_TEXTS:
        sample = within_pairs(vectors, bag.subsample(PAIRWISE_TEXTS), threshold)
        pairs = bag.size * (bag.size - 1) // 2
        vector_sum = bag.vector_sum(vectors)
        norms = np.einsum("ij,ij->i", vectors[bag.texts], vectors[bag.texts]).astype(np.float64)
        repeats = bag.counts * (bag.counts - 1) // 2
        total = (vector_sum @ vector_sum - (bag.counts.astype(np.float64) ** 2) @ norms) / 2 + repeats.sum()
        return _with_exact_total(sample.scaled(pairs), float(total))
    stats = PairStats()
    same = bag.counts * (bag.counts - 1) // 2
    if same.any():
        repeated = int(np.flatnonzero(same)[0])
        stats.add(
            PairStats(
                pairs=int(same.sum()),
                total=float(same.sum()),
                above=int(same.sum()) if threshold <= 1.0 else 0,
                minimum=1.0,
                min_pair=(int(bag.first[repeated]), int(bag.second[repeated])),
            )
        )
    distinct = len(bag.texts)
    if distinct < 2:
        return stats
    matrix = vectors[bag.texts]
    step = max(1, BLOCK_CELLS // distinct)
    columns = np.arange(distinct)
    for start in range(0, distinct - 1, step):
        rows = np.arange(start, min(start + step, distinct))
        sims = _similarities(matrix[rows], matrix)
        upper = columns[None, :] > rows[:, None]
        weights = np.where(upper, bag.counts[rows, None] * bag.counts[None, :], 0)
        stats.add(_block_stats(sims, weights, threshold, bag.first[rows], bag.first))
    return stats


def cross_pairs(vectors: np.ndarray, left: Bag, right: Bag, threshold: float) -> PairStats:
    """Statistics over the pairs (one answer of ``left``, one of ``right``); the bags are disjoint."""
    stats = PairStats()
    if not len(left.texts) or not len(right.texts):
        return stats
    if len(left.texts) * len(right.texts) > PAIRWISE_TEXTS**2:
        small = [bag.subsample(PAIRWISE_TEXTS) if bag.size > PAIRWISE_TEXTS else bag for bag in (left, right)]
        sample = cross_pairs(vectors, small[0], small[1], threshold)
        total = left.vector_sum(vectors) @ right.vector_sum(vectors)
        _, in_left, in_right = np.intersect1d(
            left.texts, right.texts, assume_unique=True, return_indices=True
        )
        shared = vectors[left.texts[in_left]].astype(np.float64)
        # a text in both bags pairs with itself at cosine exactly 1, not its squared norm
        weights = left.counts[in_left] * right.counts[in_right]
        total += weights @ (1.0 - np.einsum("ij,ij->i", shared, shared))
        return _with_exact_total(sample.scaled(left.size * right.size), float(total))
    right_matrix = vectors[right.texts]
    step = max(1, BLOCK_CELLS // len(right.texts))
    for start in range(0, len(left.texts), step):
        rows = slice(start, start + step)
        sims = _similarities(vectors[left.texts[rows]], right_matrix)
        sims[left.texts[rows, None] == right.texts[None, :]] = 1.0
        weights = left.counts[rows, None] * right.counts[None, :]
        stats.add(_block_stats(sims, weights, threshold, left.first[rows], right.first))
    return stats


def _with_exact_total(stats: PairStats, total: float) -> PairStats:
    """``stats`` (estimated from a sample of pairs) with the exact sum of cosines over all its pairs."""
    return PairStats(stats.pairs, total, stats.above, stats.minimum, stats.min_pair, sampled=True)


def _block_stats(
    sims: np.ndarray,
    weights: np.ndarray,
    threshold: float,
    row_answers: np.ndarray,
    column_answers: np.ndarray,
) -> PairStats:
    """Pair statistics of one block: ``weights[i, j]`` answer pairs have cosine ``sims[i, j]`` (0: none)."""
    counted = weights > 0
    if not counted.any():
        return PairStats()
    masked = np.where(counted, sims, np.inf)
    i, j = np.unravel_index(int(np.argmin(masked)), masked.shape)
    return PairStats(
        pairs=int(weights.sum()),
        total=float((sims.astype(np.float64) * weights).sum()),
        above=int(weights[counted & (sims >= threshold)].sum()),
        minimum=float(sims[i, j]),
        min_pair=(int(row_answers[i]), int(column_answers[j])),
    )


@dataclass
class GroupSimilarity:
    """One prompt group's pair statistics (see the module docstring)."""

    all_pairs: PairStats
    early_late: PairStats | None
    across_hosts: PairStats | None
    same_host: PairStats | None
    per_host: dict[int, PairStats] = field(default_factory=dict)


def group_similarity(
    vectors: np.ndarray, text_index: np.ndarray, hosts: np.ndarray, start: int, stop: int, threshold: float
) -> GroupSimilarity:
    """Pair statistics of the answers ``start:stop`` (ordered by ``t_send``) of one prompt group."""
    return rows_similarity(vectors, text_index, hosts, np.arange(start, stop), threshold)


def rows_similarity(
    vectors: np.ndarray, text_index: np.ndarray, hosts: np.ndarray, rows: np.ndarray, threshold: float
) -> GroupSimilarity:
    """Pair statistics of the answer ``rows`` (ascending, so in ``t_send`` order) of one prompt group."""
    all_pairs = within_pairs(vectors, Bag.of(rows, text_index), threshold)

    early_late = None
    third = len(rows) // 3
    if third:
        early = Bag.of(rows[:third], text_index)
        late = Bag.of(rows[-third:], text_index)
        early_late = cross_pairs(vectors, early, late, threshold)

    across = same = None
    per_host: dict[int, PairStats] = {}
    host_codes = np.unique(hosts[rows])
    if len(host_codes) > 1:
        bags = {int(h): Bag.of(rows[hosts[rows] == h], text_index) for h in host_codes}
        across, same = PairStats(), PairStats()
        per_host = {h: PairStats() for h in bags}
        codes = sorted(bags)
        for n, h in enumerate(codes):
            same.add(within_pairs(vectors, bags[h], threshold))
            for other in codes[n + 1 :]:
                pair = cross_pairs(vectors, bags[h], bags[other], threshold)
                across.add(pair)
                per_host[h].add(pair)
                per_host[other].add(pair)
    return GroupSimilarity(all_pairs, early_late, across, same, per_host)


def scaled_to_group(sample: GroupSimilarity, hosts: np.ndarray) -> GroupSimilarity:
    """A sample's statistics standing for all the answers of its group, whose host codes are ``hosts``:
    each pair count becomes the group's (see :meth:`PairStats.scaled`)."""
    n = len(hosts)
    codes, counts = np.unique(hosts, return_counts=True)
    by_host = dict(zip(codes.tolist(), counts.tolist(), strict=True))
    same = sum(c * (c - 1) // 2 for c in by_host.values())
    return GroupSimilarity(
        all_pairs=sample.all_pairs.scaled(n * (n - 1) // 2),
        early_late=sample.early_late.scaled((n // 3) ** 2) if sample.early_late else None,
        across_hosts=sample.across_hosts.scaled(n * (n - 1) // 2 - same) if sample.across_hosts else None,
        same_host=sample.same_host.scaled(same) if sample.same_host else None,
        per_host={h: stats.scaled(by_host[h] * (n - by_host[h])) for h, stats in sample.per_host.items()},
    )
