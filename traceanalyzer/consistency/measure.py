"""The output-consistency stage: requests table in, :class:`ConsistencyResult` out (DESIGN section 5)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from traceanalyzer.consistency.answers import Answers, PromptGroup, collect_answers
from traceanalyzer.consistency.embed import DEFAULT_BACKEND, EmbeddingUnavailable, embed_texts, resolve_model
from traceanalyzer.consistency.exact import (
    KeyInfoAccuracy,
    key_info_accuracy,
    most_common_count,
    normalized_codes,
)
from traceanalyzer.consistency.results import (
    ConsistencyResult,
    CosineStats,
    Drift,
    EmbeddingInfo,
    GroupConsistency,
    HostAgreement,
)
from traceanalyzer.consistency.sampling import (
    DEFAULT_SAMPLE,
    DEFAULT_SEED,
    GroupSample,
    IntervalParts,
    group_variance,
    plan_sample,
)
from traceanalyzer.consistency.similarity import GroupSimilarity, PairStats, rows_similarity, scaled_to_group
from traceanalyzer.errors import UsageError

SINGLE_ANSWERS_NOTE = "every prompt has a single answer, so there was nothing to compare"


def measure_consistency(
    requests: pa.Table,
    *,
    threshold: float = 0.8,
    model_path: str | None = None,
    cache_dir: Path | None = None,
    progress: bool = False,
    sample: int | None = DEFAULT_SAMPLE,
    seed: int = DEFAULT_SEED,
    backend: str = DEFAULT_BACKEND,
) -> ConsistencyResult:
    """Measure how consistently the service answered each prompt.

    ``requests`` is the loader's requests table. Answers (successful requests with text) are grouped by
    ``prompt_id``; groups with one answer are counted, not scored. Exact-match rate and key-information
    accuracy need no model. Semantic similarity embeds the distinct texts of scored groups with the model in
    ``model_path`` (a local directory; default: the bundled all-MiniLM-L6-v2), reusing and filling the
    embedding cache in ``cache_dir`` when given; without sentence-transformers the similarity fields are None
    and ``notes`` says how to install it. ``threshold`` is the cosine a pair must reach to count as agreeing.
    ``progress`` shows a progress bar on stderr while embedding.

    ``sample`` bounds the embedding work: at most that many answers are embedded (None: all), drawn per
    prompt group and time slice with ``seed`` (:mod:`traceanalyzer.consistency.sampling`); groups small
    enough are embedded whole, and when all fit, every number is exact. ``embedded``, ``sampled`` and
    ``mean_cosine_ci95`` say what was sampled and how sure the mean is. ``backend`` runs the model with
    ``torch`` or ``onnx`` (ONNX Runtime; :mod:`traceanalyzer.consistency.embed`).

    Raises :class:`UsageError` for a threshold outside [-1, 1] or a ``model_path`` that is not a directory,
    :class:`BadInputError` for an ``expected`` regular expression that does not compile.
    """
    if not -1.0 <= threshold <= 1.0:
        raise UsageError(f"consistency threshold {threshold} is not a cosine similarity (between -1 and 1)")
    answers = collect_answers(requests)
    if isinstance(answers, str):
        return _not_measurable(answers, threshold)

    codes = normalized_codes(answers.texts)
    scored = [group for group in answers.groups if group.size >= 2]
    notes: list[str] = []
    vectors, model = (None, None)
    plan = {s.group.prompt_id: s for s in plan_sample(answers, scored, sample, seed)}
    if scored:
        where = _Where(model_path, cache_dir, backend, progress)
        vectors, model = _embed(answers, list(plan.values()), where, notes)
    else:
        notes.append(SINGLE_ANSWERS_NOTE)

    similarities: dict[str, GroupSimilarity] = {}
    interval = IntervalParts()
    if vectors is not None:
        similarities, interval = sample_similarities(vectors, answers, list(plan.values()), threshold)

    rows: list[GroupConsistency] = []
    pooled = _Pooled()
    key_checked = key_correct = matching = 0
    for group in answers.groups:
        span = slice(group.start, group.stop)
        group_codes = codes[answers.text_index[span]]
        key_info = key_info_accuracy(
            answers.texts, answers.text_index[span], answers.expected[span], prompt_id=group.prompt_id
        )
        key_checked, key_correct = key_checked + key_info.checked, key_correct + key_info.correct
        similarity = None
        if group.size >= 2:
            matching += most_common_count(group_codes)
            similarity = similarities.get(group.prompt_id)
            if similarity is not None:
                pooled.add(group.prompt_id, similarity)
        sampled = None if group.size < 2 or plan[group.prompt_id].whole else len(plan[group.prompt_id].rows)
        rows.append(_group_row(answers, group, group_codes, key_info, similarity, sampled))

    scored_answers = sum(group.size for group in scored)
    cosine = _cosine(pooled.all_pairs, answers) if vectors is not None else None
    return ConsistencyResult(
        measurable=True,
        reason=None,
        threshold=threshold,
        groups=len(answers.groups),
        scored_groups=len(scored),
        answers=len(answers),
        scored_answers=scored_answers,
        exact_match_rate=matching / scored_answers if scored_answers else None,
        cosine=cosine,
        drift=pooled.drift(answers),
        across_hosts=pooled.host_agreement(answers),
        key_info=KeyInfoAccuracy(key_checked, key_correct),
        per_group=tuple(rows),
        model=model,
        notes=tuple(dict.fromkeys(notes)),
        embedded=sum(len(s.rows) for s in plan.values()) if vectors is not None else 0,
        sampled=vectors is not None and pooled.all_pairs.sampled,
        mean_cosine_ci95=interval.interval(cosine.mean) if cosine is not None else None,
    )


def sample_similarities(
    vectors: np.ndarray, answers: Answers, plan: list[GroupSample], threshold: float
) -> tuple[dict[str, GroupSimilarity], IntervalParts]:
    """Pair statistics of each planned group (by prompt_id), a sampled group's standing for all its
    answers, and the parts of the pooled mean's confidence interval."""
    interval = IntervalParts()
    similarities = {}
    for sample in plan:
        similarity = rows_similarity(vectors, answers.text_index, answers.hosts, sample.rows, threshold)
        if not sample.whole:
            similarity = scaled_to_group(similarity, answers.hosts[sample.group.start : sample.group.stop])
        interval.add(similarity.all_pairs.pairs, group_variance(vectors, sample, answers.text_index))
        similarities[sample.group.prompt_id] = similarity
    return similarities, interval


@dataclass
class _Pooled:
    """Pair statistics pooled over the scored groups: all pairs, early-vs-late, across and within hosts."""

    all_pairs: PairStats = field(default_factory=PairStats)
    early_late: PairStats = field(default_factory=PairStats)
    drift_baseline: PairStats = field(default_factory=PairStats)
    drift_groups: int = 0
    worst: tuple[float, str] | None = None
    across: PairStats = field(default_factory=PairStats)
    same_host: PairStats = field(default_factory=PairStats)
    per_host: defaultdict[int, PairStats] = field(default_factory=lambda: defaultdict(PairStats))
    host_groups: int = 0

    def add(self, prompt_id: str, group: GroupSimilarity) -> None:
        self.all_pairs.add(group.all_pairs)
        if group.early_late is not None and group.early_late.mean is not None:
            self.drift_groups += 1
            self.early_late.add(group.early_late)
            self.drift_baseline.add(group.all_pairs)
            if self.worst is None or group.early_late.mean < self.worst[0]:
                self.worst = (group.early_late.mean, prompt_id)
        if group.across_hosts is not None and group.same_host is not None:
            self.host_groups += 1
            self.across.add(group.across_hosts)
            self.same_host.add(group.same_host)
            for host, stats in group.per_host.items():
                self.per_host[host].add(stats)

    def drift(self, answers: Answers) -> Drift | None:
        if self.worst is None:
            return None
        return Drift(
            groups=self.drift_groups,
            early_vs_late=_cosine(self.early_late, answers),
            all_pairs_mean=self.drift_baseline.mean,
            worst_group=self.worst[1],
            worst_group_cosine=self.worst[0],
        )

    def host_agreement(self, answers: Answers) -> HostAgreement | None:
        if not self.host_groups:
            return None
        per_host = {answers.host_names[h]: _cosine(stats, answers) for h, stats in self.per_host.items()}
        return HostAgreement(
            hosts=tuple(sorted(per_host)),
            groups=self.host_groups,
            across=_cosine(self.across, answers),
            same_host=_cosine(self.same_host, answers),
            per_host=dict(sorted(per_host.items())),
        )


@dataclass(frozen=True)
class _Where:
    """How to embed: model directory, embedding cache, backend, progress bar."""

    model_path: str | None
    cache_dir: Path | None
    backend: str
    progress: bool


def _embed(
    answers: Answers, plan: list[GroupSample], where: _Where, notes: list[str]
) -> tuple[np.ndarray | None, EmbeddingInfo | None]:
    """Vectors for every text (rows of texts outside the sample stay zero), or (None, None) plus a note."""
    try:
        model_ref = resolve_model(where.model_path)
    except EmbeddingUnavailable as exc:
        notes.append(str(exc))
        return None, None
    needed = np.unique(np.concatenate([answers.text_index[s.rows] for s in plan]))
    try:
        embedded = embed_texts(
            [answers.texts[i] for i in needed.tolist()],
            model_ref,
            cache_dir=where.cache_dir,
            progress=where.progress,
            backend=where.backend,
        )
    except EmbeddingUnavailable as exc:
        notes.append(str(exc))
        return None, None
    notes.extend(embedded.notes)
    vectors = np.zeros((len(answers.texts), embedded.dimension), dtype=np.float32)
    vectors[needed] = embedded.vectors
    info = EmbeddingInfo(
        name=model_ref.name,
        path=str(model_ref.path),
        dimension=embedded.dimension,
        texts=len(needed),
        embedded=embedded.embedded,
        from_cache=embedded.from_cache,
        backend=embedded.backend,
    )
    return vectors, info


def _cosine(stats: PairStats, answers: Answers) -> CosineStats:
    """Pooled pair statistics as a result record, the minimum's answer rows turned into request ids."""
    pair = None
    if stats.min_pair is not None:
        pair = (answers.ids[stats.min_pair[0]], answers.ids[stats.min_pair[1]])
    return CosineStats(
        pairs=stats.pairs,
        mean=stats.mean,
        minimum=stats.minimum if stats.pairs else None,
        share_above_threshold=stats.share_above,
        min_pair_ids=pair,
    )


def _maybe_cosine(stats: PairStats | None, answers: Answers) -> CosineStats | None:
    return _cosine(stats, answers) if stats is not None else None


def _group_row(
    answers: Answers,
    group: PromptGroup,
    group_codes: np.ndarray,
    key_info: KeyInfoAccuracy,
    similarity: GroupSimilarity | None,
    sampled_answers: int | None,
) -> GroupConsistency:
    scored = group.size >= 2
    return GroupConsistency(
        prompt_id=group.prompt_id,
        answers=group.size,
        distinct_answers=len(np.unique(group_codes)),
        hosts=len(np.unique(answers.hosts[group.start : group.stop])),
        scored=scored,
        exact_match_rate=most_common_count(group_codes) / group.size if scored else None,
        cosine=_cosine(similarity.all_pairs, answers) if similarity else None,
        early_vs_late=_maybe_cosine(similarity.early_late if similarity else None, answers),
        across_hosts=_maybe_cosine(similarity.across_hosts if similarity else None, answers),
        key_info=key_info,
        sampled_answers=sampled_answers if similarity else None,
    )


def _not_measurable(reason: str, threshold: float) -> ConsistencyResult:
    return ConsistencyResult(
        measurable=False,
        reason=reason,
        threshold=threshold,
        groups=0,
        scored_groups=0,
        answers=0,
        scored_answers=0,
        exact_match_rate=None,
        cosine=None,
        drift=None,
        across_hosts=None,
        key_info=KeyInfoAccuracy(0, 0),
        per_group=(),
        model=None,
        notes=(),
    )
