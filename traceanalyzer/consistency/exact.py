"""Exact-match rate and key-information accuracy (DESIGN section 4 and 5); no embeddings needed.

Exact-match rate of a prompt group = share of its answers equal, after whitespace normalisation, to the
group's most common answer. Overall = the same share over all answers of groups with two or more answers
(``sum(most common count) / sum(answers)``).

Key-information accuracy = share of answers that contain every ``expected`` item of their prompt. An item is
a case-insensitive substring (whitespace-normalised on both sides), or a regular expression when written
``/pattern/`` (optionally followed by flags from ``imsx``, e.g. ``/paris/i``) or ``re:pattern``; a regular
expression is searched in the raw answer text, case-sensitive unless a flag or ``(?i)`` says otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from traceanalyzer.errors import BadInputError

_SLASHED = re.compile(r"/(?P<pattern>.*)/(?P<flags>[imsx]*)", re.S)
_FLAGS = {"i": re.I, "m": re.M, "s": re.S, "x": re.X}


def normalize_whitespace(text: str) -> str:
    """``text`` with leading/trailing whitespace removed and every inner run of whitespace made one space."""
    return " ".join(text.split())


def normalized_codes(texts: Sequence[str]) -> np.ndarray:
    """For each distinct text, a code shared by exactly the texts equal after whitespace normalisation."""
    codes: dict[str, int] = {}
    return np.fromiter(
        (codes.setdefault(normalize_whitespace(text), len(codes)) for text in texts),
        dtype=np.int64,
        count=len(texts),
    )


def most_common_count(codes: np.ndarray) -> int:
    """How many of ``codes`` equal the most common one (0 for none); the numerator of the exact-match rate."""
    if codes.size == 0:
        return 0
    return int(np.bincount(codes).max())


@dataclass(frozen=True)
class ExpectedItem:
    """One parsed ``expected`` item: a regular expression (``regex``) or a case-folded ``needle``."""

    raw: str
    regex: re.Pattern[str] | None
    needle: str

    def found_in(self, text: str, folded: str) -> bool:
        """Whether the item occurs in ``text`` (``folded`` = its normalised, case-folded form)."""
        if self.regex is not None:
            return self.regex.search(text) is not None
        return self.needle in folded


@lru_cache(maxsize=4096)
def parse_expected(item: str) -> ExpectedItem:
    """Read one ``expected`` item: ``/pattern/flags`` or ``re:pattern`` is a regex, anything else a substring.

    Raises :class:`BadInputError` for a regular expression that does not compile.
    """
    pattern: str | None = None
    flags = 0
    slashed = _SLASHED.fullmatch(item) if len(item) >= 2 else None
    if slashed is not None:
        pattern = slashed["pattern"]
        for flag in slashed["flags"]:
            flags |= _FLAGS[flag]
    elif item.startswith("re:"):
        pattern = item[3:]
    if pattern is None:
        return ExpectedItem(item, None, normalize_whitespace(item).casefold())
    try:
        return ExpectedItem(item, re.compile(pattern, flags), "")
    except re.error as exc:
        raise BadInputError(f"expected answer {item!r} is not a valid regular expression: {exc}") from None


def contains_all(text: str, expected: Sequence[str]) -> bool:
    """Whether ``text`` contains every item of ``expected`` (see the module docstring for the convention)."""
    folded = normalize_whitespace(text).casefold()
    return all(parse_expected(item).found_in(text, folded) for item in expected)


@dataclass(frozen=True)
class KeyInfoAccuracy:
    """Answers checked against their prompt's ``expected`` items, and how many contained all of them."""

    checked: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        """``correct / checked``; None when no answer had expected items."""
        return self.correct / self.checked if self.checked else None


def key_info_accuracy(
    texts: Sequence[str],
    text_index: np.ndarray,
    expected: Sequence[tuple[str, ...]],
    *,
    prompt_id: str | None = None,
) -> KeyInfoAccuracy:
    """Check each answer (``texts[text_index[i]]``) that has expected items; each (text, items) pair once.

    ``prompt_id`` only names the prompt in the error raised for an invalid regular expression.
    """
    verdicts: dict[tuple[int, tuple[str, ...]], bool] = {}
    checked = correct = 0
    for index, items in zip(text_index.tolist(), expected, strict=True):
        if not items:
            continue
        key = (index, items)
        if key not in verdicts:
            try:
                verdicts[key] = contains_all(texts[index], items)
            except BadInputError as exc:
                where = f"prompt {prompt_id!r}: " if prompt_id is not None else ""
                raise BadInputError(f"{where}{exc.problem}") from None
        checked += 1
        correct += verdicts[key]
    return KeyInfoAccuracy(checked, correct)
