"""Exact-match rate and key-information accuracy: hand-computed cases, no embedding model."""

from __future__ import annotations

import numpy as np
import pytest

from traceanalyzer.consistency.exact import (
    contains_all,
    key_info_accuracy,
    most_common_count,
    normalize_whitespace,
    normalized_codes,
    parse_expected,
)
from traceanalyzer.errors import BadInputError


def test_whitespace_normalisation_joins_runs_and_trims() -> None:
    assert normalize_whitespace("  Paris\n\tis  the capital. ") == "Paris is the capital."


def test_codes_equal_exactly_for_texts_equal_after_normalisation() -> None:
    codes = normalized_codes(["a b", "a  b", " a b\n", "a c", "A b"])
    assert codes[0] == codes[1] == codes[2]
    assert len({codes[0], codes[3], codes[4]}) == 3  # case is kept: only whitespace is normalised


def test_most_common_count_is_the_exact_match_numerator() -> None:
    # answers x, x, x, y: the most common answer (x) is given 3 times -> exact-match rate 3/4
    assert most_common_count(np.array([0, 0, 1, 0])) == 3
    assert most_common_count(np.array([], dtype=np.int64)) == 0


@pytest.mark.parametrize(
    ("text", "expected", "ok"),
    [
        ("The capital is Canberra.", ["canberra"], True),  # substring, case-insensitive
        ("The capital is Sydney.", ["Canberra"], False),
        ("The page was not\n  found.", ["Not Found"], True),  # whitespace normalised on both sides
        ("2, 3, 5, 7, 11, 13, 17, 19", ["2", "3", "5", "7", "11", "13", "17", "19"], True),  # every item
        ("2, 3, 5, 7, 11, 13, 17", ["2", "3", "5", "7", "11", "13", "17", "19"], False),
        ("There are eight planets.", ["re:(?i)\\b(8|eight)\\b"], True),  # re: prefix
        ("There are 8 planets.", ["re:\\b(8|eight)\\b"], True),
        ("There are Eight planets.", ["re:\\b(8|eight)\\b"], False),  # a regex is case-sensitive...
        ("There are Eight planets.", ["/\\b(8|eight)\\b/i"], True),  # ...unless a flag says otherwise
        ("Light travels at 300,000 km/s.", ["/300[ ,.]?000/"], True),  # /pattern/
        ("Light travels at 299792 km/s.", ["/300[ ,.]?000/"], False),
        ("It is H2O.", ["re:H2O|H₂O"], True),
        ("Plants take in CO₂.", ["re:(?i)carbon dioxide|CO2|CO₂"], True),
        ("a/b", ["a/b"], True),  # a slash inside is a plain substring
    ],
)
def test_expected_items_strings_and_regexes(text: str, expected: list[str], ok: bool) -> None:
    assert contains_all(text, expected) is ok


def test_slashed_item_is_a_regex_and_plain_item_is_a_needle() -> None:
    assert parse_expected("/ab+c/").regex is not None
    assert parse_expected("re:ab+c").regex is not None
    plain = parse_expected("Ab  C")
    assert plain.regex is None and plain.needle == "ab c"


def test_invalid_regex_is_a_bad_input_naming_the_prompt() -> None:
    with pytest.raises(BadInputError, match=r"prompt 'p1'.*'re:\(unclosed'.*not a valid regular expression"):
        key_info_accuracy(["text"], np.array([0]), [("re:(unclosed",)], prompt_id="p1")


def test_key_info_accuracy_counts_only_answers_with_expected_items() -> None:
    texts = ["Canberra is the capital.", "Sydney is the capital."]
    result = key_info_accuracy(
        texts, np.array([0, 0, 1, 1]), [("canberra",), ("canberra",), ("canberra",), ()]
    )
    assert (result.checked, result.correct) == (3, 2)
    assert result.accuracy == pytest.approx(2 / 3)
    assert key_info_accuracy(texts, np.array([0]), [()]).accuracy is None
