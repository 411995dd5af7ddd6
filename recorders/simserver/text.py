"""Output text of the simulated model: English sentences, deterministic per (prompt, seed), with markers.

An answer is about one topic (``topics.toml``): a fixed list of facts, each a sentence template whose
``{a|b|c}`` groups are synonyms. Realising an answer picks one option per group.

- No marker: the picks and the topic come from (seed, prompt) only, so every request with the same prompt
  gets the identical answer (temperature-0 behaviour).
- ``[sim:paraphrase]``: same topic and facts, but the picks (and the opening phrase) come from (seed,
  prompt, k), k = how many requests with this prompt came before: answers are paraphrases of one another,
  which a sentence-embedding model scores high.
- ``[sim:diverge]``: the topic itself changes with k (16 topics, stepped so that 16 requests in a row never
  repeat one): unrelated answers that score low.
- ``[sim:say=SOME TEXT]``: the answer starts with SOME TEXT verbatim (a full stop added if it has no final
  punctuation; the text cannot contain ``]``).

Tokens are whitespace-led words (``" word"``); joining the tokens gives the text exactly. A natural answer
ends after ``n`` sentences, ``n`` drawn from (seed, prompt) in the scenario's range; ``ignore_eos`` and
``min_tokens`` continue it with further sentences of the same topic.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

_TOPICS: tuple[tuple[str, ...], ...] = tuple(
    tuple(topic["facts"])
    for topic in tomllib.loads(
        resources.files("recorders.simserver").joinpath("topics.toml").read_text("utf-8")
    )["topic"]
)
_OPENING = "Here {is a short answer|is a brief overview|is what you need to know|are the main points}."
_GROUP = re.compile(r"\{([^{}]*)\}")
_TOKEN = re.compile(r"\s*\S+")
_MARKER = re.compile(r"\[sim:(paraphrase|diverge|say=([^\]]*))\]")
_DIVERGE_STEP = 7  # coprime with the 16 topics: 16 requests in a row see 16 different topics


def stable_rng(*parts: object) -> random.Random:
    """A ``random.Random`` seeded from the parts' text (stable across processes, unlike ``hash``)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def realise(template: str, rng: random.Random) -> str:
    """Replace every ``{a|b|c}`` group by one option drawn from ``rng``."""
    return _GROUP.sub(lambda m: rng.choice(m.group(1).split("|")), template)


def split_tokens(text: str) -> list[str]:
    """Whitespace-led word tokens; ``"".join(split_tokens(t)) == t`` for text without leading blanks."""
    return _TOKEN.findall(text)


def count_prompt_tokens(text: str) -> int:
    """Prompt tokens, estimated as ceil(characters / 4) (the usual chars-per-token rule), at least 1."""
    return max(1, -(-len(text) // 4))


@dataclass(frozen=True)
class Markers:
    paraphrase: bool = False
    diverge: bool = False
    say: str | None = None


def parse_markers(prompt: str) -> Markers:
    """The ``[sim:...]`` markers in a prompt (paraphrase, diverge, say=TEXT)."""
    paraphrase = diverge = False
    say: str | None = None
    for m in _MARKER.finditer(prompt):
        if m.group(1) == "paraphrase":
            paraphrase = True
        elif m.group(1) == "diverge":
            diverge = True
        else:
            say = m.group(2)
    return Markers(paraphrase, diverge, say)


class TextModel:
    """Deterministic answers for a seed: ``answer_tokens(prompt, k, ...)`` is the k-th answer to a prompt."""

    def __init__(self, seed: int, sentences_min: int = 3, sentences_max: int = 7) -> None:
        self.seed = seed
        self.sentences_min = max(1, sentences_min)
        self.sentences_max = max(self.sentences_min, sentences_max)

    def sentences(self, prompt: str, k: int) -> Iterator[str]:
        """The answer as an endless sentence stream (the natural answer is a prefix of it)."""
        markers = parse_markers(prompt)
        base = stable_rng(self.seed, "topic", prompt).randrange(len(_TOPICS))
        topic = (base + _DIVERGE_STEP * k) % len(_TOPICS) if markers.diverge else base
        varies = markers.paraphrase or markers.diverge
        rng = stable_rng(self.seed, "words", prompt, k if varies else 0)
        facts = _TOPICS[topic]
        start = stable_rng(self.seed, "start", prompt).randrange(len(facts))
        if markers.say is not None and markers.say.strip():
            say = markers.say.strip()
            yield say if say[-1] in ".!?" else say + "."
        yield realise(_OPENING, rng)
        i = 0
        while True:
            yield realise(facts[(start + i) % len(facts)], rng)
            i += 1

    def natural_sentences(self, prompt: str) -> int:
        """How many sentences the natural answer has (opening and say-text included)."""
        n = stable_rng(self.seed, "length", prompt).randint(self.sentences_min, self.sentences_max)
        say = parse_markers(prompt).say
        return n + 1 + bool(say and say.strip())

    def answer_tokens(
        self, prompt: str, k: int, max_tokens: int, *, ignore_eos: bool = False, min_tokens: int = 0
    ) -> tuple[list[str], str]:
        """The tokens of the k-th answer to ``prompt`` and its finish reason (``"stop"`` or ``"length"``).

        The answer stops at its natural end (unless ``ignore_eos``, or fewer than ``min_tokens`` tokens were
        produced) or at ``max_tokens``, whichever comes first.
        """
        markers = parse_markers(prompt)
        varies = markers.paraphrase or markers.diverge
        tokens, finish = self._answer(prompt, k if varies else 0, max_tokens, ignore_eos, min_tokens)
        return list(tokens), finish

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one TextModel per server; bounded
    def _answer(
        self, prompt: str, k: int, max_tokens: int, ignore_eos: bool, min_tokens: int
    ) -> tuple[tuple[str, ...], str]:
        """``answer_tokens`` computed once per distinct answer (the same prompt gets the same answer unless
        its markers vary it by ``k``): a busy server asked the same prompts again and again answers fast."""
        natural = self.natural_sentences(prompt)
        tokens: list[str] = []
        for n, sentence in enumerate(self.sentences(prompt, k), start=1):
            words = split_tokens(sentence)
            if tokens and words:
                words[0] = " " + words[0].lstrip()
            tokens.extend(words)
            if len(tokens) >= max_tokens:
                return tuple(tokens[:max_tokens]), "length"
            if n >= natural and not ignore_eos and len(tokens) >= min_tokens:
                return tuple(tokens), "stop"
        raise AssertionError("unreachable: the sentence stream is endless")
