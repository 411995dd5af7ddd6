"""The consistency stage with the real all-MiniLM-L6-v2 model on small texts."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from traceanalyzer.consistency import INSTALL_HINT, ConsistencyResult, default_cache_dir, measure_consistency
from traceanalyzer.consistency import embed as embed_module
from traceanalyzer.errors import UsageError

RequestsFactory = Callable[..., pa.Table]

IDENTICAL = ["The capital of France is Paris."] * 4
PARAPHRASED = [
    "The capital of France is Paris.",
    "Paris is the capital city of France.",
    "France's capital is Paris.",
    "The French capital is the city of Paris.",
]
UNRELATED = [
    "I like turtles.",
    "The stock market fell sharply today.",
    "Photosynthesis converts light into chemical energy.",
    "Python is a programming language.",
]


def _rows(prompt_id: str, texts: list[str], **extra: Any) -> list[dict[str, Any]]:
    return [{"prompt_id": prompt_id, "text": text, **extra} for text in texts]


@pytest.fixture
def encode_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Texts passed to each call of the model's ``encode`` (wraps the real one)."""
    calls: list[int] = []
    real = embed_module.encode

    def counting(model: Any, texts: Any) -> Any:
        calls.append(len(texts))
        return real(model, texts)

    monkeypatch.setattr(embed_module, "encode", counting)
    yield calls


def _by_prompt(result: ConsistencyResult) -> dict[str, Any]:
    return {group.prompt_id: group for group in result.per_group}


def test_identical_paraphrased_and_unrelated_answers_score_in_that_order(
    make_requests: RequestsFactory, tmp_path: Path
) -> None:
    requests = make_requests(
        _rows("identical", IDENTICAL) + _rows("paraphrased", PARAPHRASED) + _rows("unrelated", UNRELATED)
    )
    result = measure_consistency(requests, cache_dir=tmp_path)
    groups = _by_prompt(result)

    identical = groups["identical"].cosine
    assert (identical.mean, identical.minimum, identical.share_above_threshold) == (1.0, 1.0, 1.0)
    assert groups["identical"].exact_match_rate == 1.0
    assert groups["paraphrased"].cosine.mean > 0.85
    assert groups["paraphrased"].cosine.share_above_threshold == 1.0
    assert groups["paraphrased"].exact_match_rate == 0.25
    assert groups["unrelated"].cosine.mean < 0.3
    assert groups["unrelated"].cosine.share_above_threshold == 0.0
    assert 1.0 == identical.mean > groups["paraphrased"].cosine.mean > groups["unrelated"].cosine.mean

    # overall: 3 groups x 6 pairs pooled; 12 identical answers of which exact matches 4 + 1 + 1
    assert result.scored_groups == 3 and result.cosine is not None and result.cosine.pairs == 18
    assert result.exact_match_rate == pytest.approx(6 / 12)
    assert result.share_above_threshold == pytest.approx(12 / 18)
    assert result.min_cosine == groups["unrelated"].cosine.minimum
    assert (
        result.model is not None and result.model.name == "all-MiniLM-L6-v2" and result.model.dimension == 384
    )
    assert (
        result.model.texts == 1 + 3 + 4
    )  # distinct texts, each embedded once (one paraphrase is IDENTICAL[0])
    json.dumps(result.to_summary(), allow_nan=False)
    json.dumps(dataclasses.asdict(result), allow_nan=False)


def test_summary_has_the_contract_keys_first(make_requests: RequestsFactory, tmp_path: Path) -> None:
    summary = measure_consistency(make_requests(_rows("p", PARAPHRASED)), cache_dir=tmp_path).to_summary()
    assert list(summary)[:5] == [
        "groups",
        "exact_match_rate",
        "mean_cosine",
        "min_cosine",
        "share_above_threshold",
    ]
    assert summary["groups"] == 1 and summary["measurable"] is True and summary["model"]["texts"] == 4


def test_drift_compares_the_first_third_with_the_last_third(
    make_requests: RequestsFactory, tmp_path: Path
) -> None:
    # one prompt: the first three answers are about Paris, the last three about turtles (ordered by t_send)
    early = ["The capital of France is Paris."] * 3
    late = ["Turtles are reptiles with a hard shell."] * 3
    steady = _rows("steady", PARAPHRASED[:3] * 2)
    requests = make_requests(_rows("drifting", [*early, *late]) + steady)
    result = measure_consistency(requests, cache_dir=tmp_path)

    drifting = _by_prompt(result)["drifting"]
    assert drifting.early_vs_late is not None and drifting.early_vs_late.pairs == 2 * 2
    assert drifting.early_vs_late.mean < 0.3 < drifting.cosine.mean
    assert _by_prompt(result)["steady"].early_vs_late.mean > 0.85
    assert result.drift is not None and result.drift.groups == 2
    assert result.drift.worst_group == "drifting"
    assert result.drift.early_vs_late.pairs == 8


def test_a_host_that_answers_differently_stands_out(make_requests: RequestsFactory, tmp_path: Path) -> None:
    rows = []
    for n in range(3):
        rows += [
            {"prompt_id": f"q{n}", "host": "gpu-a", "text": PARAPHRASED[0]},
            {"prompt_id": f"q{n}", "host": "gpu-a", "text": PARAPHRASED[2]},
            {"prompt_id": f"q{n}", "host": "gpu-b", "text": PARAPHRASED[1]},
            {"prompt_id": f"q{n}", "host": "gpu-c", "text": UNRELATED[n]},
        ]
    rows.append({"prompt_id": "one-host", "host": "gpu-a", "text": "x"})
    rows.append({"prompt_id": "one-host", "host": "gpu-a", "text": "y"})
    result = measure_consistency(make_requests(rows), cache_dir=tmp_path)

    hosts = result.across_hosts
    assert hosts is not None and hosts.groups == 3 and hosts.hosts == ("gpu-a", "gpu-b", "gpu-c")
    # per group 4 answers, 6 pairs: 1 from gpu-a alone, 5 across hosts; the one-host group is not counted
    assert hosts.across.pairs == 15 and hosts.same_host.pairs == 3
    assert hosts.same_host.mean > 0.85 > hosts.across.mean
    lowest = min(hosts.per_host, key=lambda h: hosts.per_host[h].mean or 0.0)
    assert lowest == "gpu-c"
    assert hosts.per_host["gpu-c"].mean < 0.3 < hosts.per_host["gpu-a"].mean
    assert _by_prompt(result)["one-host"].across_hosts is None


def test_many_runs_merge_their_cache_shards(
    make_requests: RequestsFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embed_module, "MAX_SHARDS", 2)
    for n in range(4):  # each run adds one new text, so one new shard
        measure_consistency(
            make_requests(_rows("p", [*IDENTICAL, f"Answer variant {n}."])), cache_dir=tmp_path
        )
    assert len(list(tmp_path.glob("*/*.npz"))) <= 2
    again = measure_consistency(
        make_requests(_rows("p", [*IDENTICAL, "Answer variant 0.", "Answer variant 3."])), cache_dir=tmp_path
    )
    assert again.model is not None and (again.model.embedded, again.model.from_cache) == (0, 3)


def test_second_run_embeds_nothing(
    make_requests: RequestsFactory, tmp_path: Path, encode_calls: list[int]
) -> None:
    requests = make_requests(_rows("p", PARAPHRASED) + _rows("u", UNRELATED))
    cache = default_cache_dir(tmp_path)
    first = measure_consistency(requests, cache_dir=cache)
    assert sum(encode_calls) == 8 and first.model is not None and first.model.embedded == 8
    assert list(cache.glob("all-MiniLM-L6-v2-*/*.npz"))

    encode_calls.clear()
    second = measure_consistency(requests, cache_dir=cache)
    assert encode_calls == []
    assert second.model is not None and (second.model.embedded, second.model.from_cache) == (0, 8)
    assert second.to_summary()["per_group"] == first.to_summary()["per_group"]

    more = make_requests(_rows("p", [*PARAPHRASED, "Paris, on the Seine, is the capital of France."]))
    third = measure_consistency(more, cache_dir=cache)
    assert encode_calls == [1] and third.model is not None and third.model.embedded == 1


def test_unreadable_cache_shard_is_skipped_and_rewritten(
    make_requests: RequestsFactory, tmp_path: Path
) -> None:
    requests = make_requests(_rows("p", PARAPHRASED))
    measure_consistency(requests, cache_dir=tmp_path)
    (shard,) = tmp_path.glob("*/*.npz")
    shard.write_bytes(b"not a zip file")
    again = measure_consistency(requests, cache_dir=tmp_path)
    assert again.model is not None and again.model.embedded == 4
    assert any("unreadable" in note for note in again.notes)
    assert not shard.exists()  # replaced by a good shard: the next run reads everything back
    third = measure_consistency(requests, cache_dir=tmp_path)
    assert third.model is not None and third.model.embedded == 0 and third.notes == ()


def test_cache_that_cannot_be_written_is_a_note(make_requests: RequestsFactory, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = measure_consistency(make_requests(_rows("p", PARAPHRASED)), cache_dir=blocker / "cache")
    assert result.mean_cosine is not None and result.mean_cosine > 0.85
    assert any("not writable" in note for note in result.notes)


def test_without_a_cache_dir_nothing_is_written(make_requests: RequestsFactory, tmp_path: Path) -> None:
    result = measure_consistency(make_requests(_rows("p", IDENTICAL)), progress=True)
    assert result.mean_cosine == 1.0 and not any(tmp_path.iterdir())


def test_another_local_model_by_path(make_requests: RequestsFactory, tmp_path: Path) -> None:
    model_dir = embed_module.default_model_path()
    assert model_dir is not None
    copy = tmp_path / "my-model"
    import shutil

    shutil.copytree(model_dir, copy)
    result = measure_consistency(
        make_requests(_rows("p", PARAPHRASED)), model_path=str(copy), cache_dir=tmp_path
    )
    assert result.model is not None and result.model.name == "my-model" and result.model.path == str(copy)
    assert result.mean_cosine is not None and result.mean_cosine > 0.85


def test_a_model_path_that_is_not_a_directory_is_a_usage_error(
    make_requests: RequestsFactory, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        measure_consistency(make_requests(_rows("p", IDENTICAL)), model_path=str(tmp_path / "missing"))


def test_without_sentence_transformers_exact_and_key_info_still_reported(
    make_requests: RequestsFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails as if not installed
    rows = _rows("a", ["x", "x ", " x\n", "y"], expected=["X"]) + _rows("b", ["a", "b"]) + _rows("c", ["z"])
    result = measure_consistency(make_requests(rows), cache_dir=tmp_path)

    assert result.measurable and result.notes == (INSTALL_HINT,)
    assert result.exact_match_rate == pytest.approx((3 + 1) / (4 + 2))
    assert result.key_info.accuracy == pytest.approx(3 / 4)
    assert (result.groups, result.scored_groups, result.answers, result.scored_answers) == (3, 2, 7, 6)
    assert result.cosine is None and result.model is None and result.drift is None
    summary = result.to_summary()
    assert summary["mean_cosine"] is None and summary["min_cosine"] is None
    assert summary["share_above_threshold"] is None and summary["notes"] == [INSTALL_HINT]
    assert not any(tmp_path.iterdir())


def test_vectors_stay_with_their_texts_across_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    # texts are embedded shortest first, a few per step: each vector must still land on its own text
    monkeypatch.setattr(embed_module, "PROGRESS_STEP", 2)
    texts = [*UNRELATED, "Paris.", *PARAPHRASED[1:]]
    model_ref = embed_module.resolve_model(None)
    embedded = embed_module.embed_texts(texts, model_ref, progress=True)
    model = embed_module.load_model(model_ref.path)
    for text, vector in zip(texts, embedded.vectors, strict=True):
        alone = embed_module.encode(model, [text])[0]
        assert float(vector @ alone) == pytest.approx(1.0, abs=1e-5), text
    assert embedded.embedded == len(texts) and embedded.dimension == 384
