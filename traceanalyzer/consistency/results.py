"""Typed results of the output-consistency stage, and their summary@1 form (``to_summary``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from traceanalyzer.consistency.exact import KeyInfoAccuracy


@dataclass(frozen=True)
class CosineStats:
    """Cosine similarity over a set of answer pairs (pairs of different requests of one prompt).

    - ``pairs``: number of pairs; the other fields are None when it is 0;
    - ``mean``: mean cosine; ``minimum``: the lowest, between requests ``min_pair_ids``;
    - ``share_above_threshold``: share of pairs with cosine >= the stage's threshold.
    """

    pairs: int
    mean: float | None
    minimum: float | None
    share_above_threshold: float | None
    min_pair_ids: tuple[str, str] | None

    def to_summary(self) -> dict[str, Any]:
        """``{"pairs", "mean_cosine", "min_cosine", "share_above_threshold", "min_pair_ids"}``."""
        return {
            "pairs": self.pairs,
            "mean_cosine": self.mean,
            "min_cosine": self.minimum,
            "share_above_threshold": self.share_above_threshold,
            "min_pair_ids": list(self.min_pair_ids) if self.min_pair_ids else None,
        }


@dataclass(frozen=True)
class GroupConsistency:
    """One prompt group.

    - ``answers``: successful requests with text; ``distinct_answers``: distinct texts after whitespace
      normalisation; ``hosts``: hosts that answered;
    - ``scored``: whether the group has two or more answers (a single answer is counted, not scored, and
      its ``exact_match_rate`` and similarity fields are None);
    - ``exact_match_rate``: share of answers equal to the group's most common answer;
    - ``cosine``: all pairs; ``early_vs_late``: the first third against the last third of the answers by
      ``t_send`` (n >= 3); ``across_hosts``: pairs from different hosts (None: one host or no embeddings);
    - ``key_info``: answers checked against the prompt's ``expected`` items, and how many passed;
    - ``sampled_answers``: when the group had too many distinct answers to embed whole, the size of the
      sample its similarity was estimated from (None: every answer was embedded).
    """

    prompt_id: str
    answers: int
    distinct_answers: int
    hosts: int
    scored: bool
    exact_match_rate: float | None
    cosine: CosineStats | None
    early_vs_late: CosineStats | None
    across_hosts: CosineStats | None
    key_info: KeyInfoAccuracy
    sampled_answers: int | None = None

    def to_summary(self) -> dict[str, Any]:
        """One row of the summary's ``consistency.per_group`` table."""
        return {
            "prompt_id": self.prompt_id,
            "answers": self.answers,
            "distinct_answers": self.distinct_answers,
            "hosts": self.hosts,
            "scored": self.scored,
            "exact_match_rate": self.exact_match_rate,
            "mean_cosine": self.cosine.mean if self.cosine else None,
            "min_cosine": self.cosine.minimum if self.cosine else None,
            "share_above_threshold": self.cosine.share_above_threshold if self.cosine else None,
            "min_pair_ids": self.cosine.to_summary()["min_pair_ids"] if self.cosine else None,
            "early_vs_late_cosine": self.early_vs_late.mean if self.early_vs_late else None,
            "across_hosts_cosine": self.across_hosts.mean if self.across_hosts else None,
            "key_info_checked": self.key_info.checked,
            "key_info_accuracy": self.key_info.accuracy,
            "sampled_answers": self.sampled_answers,
        }


@dataclass(frozen=True)
class Drift:
    """Early vs late answers, pooled over the groups with three or more answers.

    ``early_vs_late``: cosine statistics over every group's (first third x last third by ``t_send``) pairs;
    ``all_pairs_mean``: the mean cosine over all pairs of the same groups, the baseline to compare with;
    ``worst_group`` / ``worst_group_cosine``: the group whose early-vs-late mean is lowest.
    """

    groups: int
    early_vs_late: CosineStats
    all_pairs_mean: float | None
    worst_group: str | None
    worst_group_cosine: float | None

    def to_summary(self) -> dict[str, Any]:
        """``{"groups", "mean_cosine", "min_cosine", "share_above_threshold", "pairs",
        "all_pairs_mean_cosine", "worst_group": {"prompt_id", "mean_cosine"} | None}``."""
        worst = (
            {"prompt_id": self.worst_group, "mean_cosine": self.worst_group_cosine}
            if self.worst_group is not None
            else None
        )
        return {
            "groups": self.groups,
            "mean_cosine": self.early_vs_late.mean,
            "min_cosine": self.early_vs_late.minimum,
            "share_above_threshold": self.early_vs_late.share_above_threshold,
            "pairs": self.early_vs_late.pairs,
            "all_pairs_mean_cosine": self.all_pairs_mean,
            "worst_group": worst,
        }


@dataclass(frozen=True)
class HostAgreement:
    """Agreement between hosts, over the groups answered by two or more hosts.

    ``across``: pairs whose answers came from different hosts; ``same_host``: pairs from one host (the
    baseline); ``per_host``: for each host, the pairs between it and any other host (a host that disagrees
    with the rest has the lowest mean).
    """

    hosts: tuple[str, ...]
    groups: int
    across: CosineStats
    same_host: CosineStats
    per_host: dict[str, CosineStats]

    def to_summary(self) -> dict[str, Any]:
        """``{"hosts", "groups", "mean_cosine", "min_cosine", "share_above_threshold", "pairs",
        "same_host_mean_cosine", "per_host": {host: {"mean_cosine", "pairs"}}}``."""
        return {
            "hosts": list(self.hosts),
            "groups": self.groups,
            "mean_cosine": self.across.mean,
            "min_cosine": self.across.minimum,
            "share_above_threshold": self.across.share_above_threshold,
            "pairs": self.across.pairs,
            "same_host_mean_cosine": self.same_host.mean,
            "per_host": {h: {"mean_cosine": s.mean, "pairs": s.pairs} for h, s in self.per_host.items()},
        }


@dataclass(frozen=True)
class EmbeddingInfo:
    """The embedding model used and the work done: distinct ``texts``, ``embedded`` now, ``from_cache``;
    ``backend``: what ran the model (``torch`` or ``onnx``)."""

    name: str
    path: str
    dimension: int
    texts: int
    embedded: int
    from_cache: int
    backend: str = "torch"

    def to_summary(self) -> dict[str, Any]:
        """All fields, as a dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ConsistencyResult:
    """Output consistency of a capture (DESIGN section 5).

    - ``measurable``: False when the capture cannot say (no text recorded, no successful request, no
      prompt_id); ``reason`` says why, and every rate is None (not measurable is not 0 %);
    - ``groups``: prompt groups with at least one answer; ``scored_groups``: those with two or more;
      ``answers``: answers in all groups; ``scored_answers``: in scored groups;
    - ``exact_match_rate``: over all answers of scored groups, share equal (after whitespace normalisation)
      to their group's most common answer;
    - ``cosine``: pairwise cosine pooled over every pair of every scored group (None without embeddings);
    - ``drift``, ``across_hosts``: see :class:`Drift`, :class:`HostAgreement` (None when not computable);
    - ``key_info``: answers containing every ``expected`` item of their prompt, over those that have some;
    - ``per_group``: one row per prompt group, by prompt_id; ``model``: the embedding model (None without);
    - ``notes``: one-line remarks for the user (e.g. how to install semantic similarity);
    - ``embedded``: answers whose embeddings the similarity statistics were computed from (every answer of
      the groups embedded whole, the sample of the others; 0 without embeddings);
    - ``sampled``: whether some statistic comes from a sample (the means then estimate the full ones, the
      minimum is the minimum over the sampled pairs);
    - ``mean_cosine_ci95``: 95 % confidence interval ``(low, high)`` of ``mean_cosine``; the mean itself
      twice when nothing was sampled (:mod:`traceanalyzer.consistency.sampling` states the method).
    """

    measurable: bool
    reason: str | None
    threshold: float
    groups: int
    scored_groups: int
    answers: int
    scored_answers: int
    exact_match_rate: float | None
    cosine: CosineStats | None
    drift: Drift | None
    across_hosts: HostAgreement | None
    key_info: KeyInfoAccuracy
    per_group: tuple[GroupConsistency, ...]
    model: EmbeddingInfo | None
    notes: tuple[str, ...]
    embedded: int = 0
    sampled: bool = False
    mean_cosine_ci95: tuple[float, float] | None = None

    @property
    def mean_cosine(self) -> float | None:
        """Mean pairwise cosine over all scored pairs; None without embeddings or pairs."""
        return self.cosine.mean if self.cosine else None

    @property
    def min_cosine(self) -> float | None:
        """Lowest pairwise cosine; None without embeddings or pairs."""
        return self.cosine.minimum if self.cosine else None

    @property
    def share_above_threshold(self) -> float | None:
        """Share of pairs with cosine >= ``threshold``; None without embeddings or pairs."""
        return self.cosine.share_above_threshold if self.cosine else None

    def to_summary(self) -> dict[str, Any]:
        """The summary@1 ``consistency`` object: the contract keys ``groups``, ``exact_match_rate``,
        ``mean_cosine``, ``min_cosine``, ``share_above_threshold``, then the details."""
        return {
            "groups": self.groups,
            "exact_match_rate": self.exact_match_rate,
            "mean_cosine": self.mean_cosine,
            "min_cosine": self.min_cosine,
            "share_above_threshold": self.share_above_threshold,
            "measurable": self.measurable,
            "reason": self.reason,
            "threshold": self.threshold,
            "scored_groups": self.scored_groups,
            "answers": self.answers,
            "scored_answers": self.scored_answers,
            "embedded": self.embedded,
            "sampled": self.sampled,
            "mean_cosine_ci95": list(self.mean_cosine_ci95) if self.mean_cosine_ci95 else None,
            "pairs": self.cosine.pairs if self.cosine else None,
            "min_pair_ids": self.cosine.to_summary()["min_pair_ids"] if self.cosine else None,
            "key_info_accuracy": self.key_info.accuracy,
            "key_info": {"checked": self.key_info.checked, "correct": self.key_info.correct},
            "drift": self.drift.to_summary() if self.drift else None,
            "across_hosts": self.across_hosts.to_summary() if self.across_hosts else None,
            "model": self.model.to_summary() if self.model else None,
            "notes": list(self.notes),
            "per_group": [group.to_summary() for group in self.per_group],
        }
