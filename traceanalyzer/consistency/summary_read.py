"""The summary@1 ``consistency`` and ``robustness`` objects read back into their result types.

The inverse of ``ConsistencyResult.to_summary`` / ``RobustnessVerdict.to_summary`` as far as the summary goes:
what it leaves out (the minimum and share of the same-host and per-host cosines, the minimum of a group's
early-vs-late and across-host cosines) stays ``None``, and key-info counts come back from checked x accuracy.
``to_summary`` of the result is the object read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from traceanalyzer.consistency.exact import KeyInfoAccuracy
from traceanalyzer.consistency.results import (
    ConsistencyResult,
    CosineStats,
    Drift,
    EmbeddingInfo,
    GroupConsistency,
    HostAgreement,
)
from traceanalyzer.consistency.robustness import RobustnessVerdict


def _ids(value: Any) -> tuple[str, str] | None:
    return None if value is None else (str(value[0]), str(value[1]))


def _cosine(data: Mapping[str, Any], pairs: int | None) -> CosineStats | None:
    if pairs is None:
        return None
    return CosineStats(
        pairs=pairs,
        mean=data.get("mean_cosine"),
        minimum=data.get("min_cosine"),
        share_above_threshold=data.get("share_above_threshold"),
        min_pair_ids=_ids(data.get("min_pair_ids")),
    )


def _mean_only(mean: float | None) -> CosineStats | None:
    return None if mean is None else CosineStats(0, mean, None, None, None)


def _key_info(checked: int, accuracy: float | None) -> KeyInfoAccuracy:
    return KeyInfoAccuracy(checked=checked, correct=0 if accuracy is None else round(accuracy * checked))


def _group(data: Mapping[str, Any]) -> GroupConsistency:
    has_cosine = data["mean_cosine"] is not None or data["min_pair_ids"] is not None
    return GroupConsistency(
        prompt_id=data["prompt_id"],
        answers=data["answers"],
        distinct_answers=data["distinct_answers"],
        hosts=data["hosts"],
        scored=data["scored"],
        exact_match_rate=data["exact_match_rate"],
        cosine=_cosine(data, 0) if has_cosine else None,
        early_vs_late=_mean_only(data["early_vs_late_cosine"]),
        across_hosts=_mean_only(data["across_hosts_cosine"]),
        key_info=_key_info(data["key_info_checked"], data["key_info_accuracy"]),
        sampled_answers=data.get("sampled_answers"),
    )


def consistency_from_summary(data: Mapping[str, Any] | None) -> ConsistencyResult | None:
    """``consistency`` of a summary@1 as a :class:`ConsistencyResult` (module docstring)."""
    if data is None:
        return None
    drift, across, model = data["drift"], data["across_hosts"], data["model"]
    worst = drift["worst_group"] if drift else None
    return ConsistencyResult(
        measurable=data["measurable"],
        reason=data["reason"],
        threshold=data["threshold"],
        groups=data["groups"],
        scored_groups=data["scored_groups"],
        answers=data["answers"],
        scored_answers=data["scored_answers"],
        exact_match_rate=data["exact_match_rate"],
        cosine=_cosine(data, data["pairs"]),
        drift=None
        if drift is None
        else Drift(
            groups=drift["groups"],
            early_vs_late=CosineStats(
                drift["pairs"],
                drift["mean_cosine"],
                drift["min_cosine"],
                drift["share_above_threshold"],
                None,
            ),
            all_pairs_mean=drift["all_pairs_mean_cosine"],
            worst_group=None if worst is None else worst["prompt_id"],
            worst_group_cosine=None if worst is None else worst["mean_cosine"],
        ),
        across_hosts=None
        if across is None
        else HostAgreement(
            hosts=tuple(across["hosts"]),
            groups=across["groups"],
            across=CosineStats(
                across["pairs"],
                across["mean_cosine"],
                across["min_cosine"],
                across["share_above_threshold"],
                None,
            ),
            same_host=CosineStats(0, across["same_host_mean_cosine"], None, None, None),
            per_host={
                host: CosineStats(s["pairs"], s["mean_cosine"], None, None, None)
                for host, s in across["per_host"].items()
            },
        ),
        key_info=KeyInfoAccuracy(**data["key_info"]),
        per_group=tuple(_group(group) for group in data["per_group"]),
        model=None if model is None else EmbeddingInfo(**model),
        notes=tuple(data["notes"]),
        embedded=data.get("embedded", 0),
        sampled=data.get("sampled", False),
        mean_cosine_ci95=None if data.get("mean_cosine_ci95") is None else tuple(data["mean_cosine_ci95"]),
    )


def robustness_from_summary(data: Mapping[str, Any]) -> dict[str, RobustnessVerdict]:
    """``robustness`` of a summary@1: scenario -> :class:`RobustnessVerdict`."""
    return {
        scenario: RobustnessVerdict(
            scenario=scenario,
            requests=v["requests"],
            graceful=v["graceful"],
            bad=v["bad"],
            aborted=v["aborted"],
            verdict=v["verdict"],
            bad_reasons=dict(v["bad_reasons"]),
            graceful_reasons=dict(v["graceful_reasons"]),
            bad_examples=tuple(v["examples"]["bad"]),
            graceful_examples=tuple(v["examples"]["graceful"]),
        )
        for scenario, v in data.items()
    }
