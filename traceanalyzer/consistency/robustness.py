"""Robustness verdicts: did the service handle abnormal input gracefully? (DESIGN section 5)

A robustness scenario is any scenario whose name starts with ``robustness`` (the collector's builtin
robustness prompts, e.g. ``robustness/long``), or that the user names (exact names or shell-style patterns
such as ``edge-*``). Each of its requests is judged:

- graceful: an answer with non-empty text (when text was not recorded: ``output_tokens`` > 0), or a clean
  refusal: a 4xx (``context_length``, ``client_4xx``, ``rate_limited``) with a non-empty error message;
- bad: ``server_5xx``, ``oom``, ``timeout``, ``stream_broken``, ``connection`` (or any other failure class),
  an empty answer, or a 4xx without a message;
- not judged: ``aborted`` (the recorder stopped while the request was in flight).

Verdict per scenario: ``fail`` when any request was bad; ``pass`` when none was bad and at least one was
graceful; ``inconclusive`` when nothing could be judged (every request aborted).
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

ROBUSTNESS_PREFIX = "robustness"
REFUSALS = frozenset({"context_length", "client_4xx", "rate_limited"})
"""Error classes that are a clean refusal when they carry a message."""
NOT_JUDGED = frozenset({"aborted"})
EXAMPLES = 5
"""Example request ids kept per outcome."""

GRACEFUL = "graceful"
BAD = "bad"
SKIPPED = "not_judged"
EMPTY_ANSWER = "empty_answer"
REFUSED_WITHOUT_MESSAGE = "refused_without_message"


@dataclass(frozen=True)
class RobustnessVerdict:
    """How one robustness scenario was handled.

    - ``requests``: all its requests; ``graceful`` + ``bad`` + ``aborted`` = ``requests``;
    - ``verdict``: ``"pass"`` (no bad request, at least one graceful), ``"fail"`` (any bad request) or
      ``"inconclusive"`` (nothing judged);
    - ``bad_reasons``: count per reason (an error class, ``empty_answer`` or ``refused_without_message``);
      ``graceful_reasons``: ``answer`` or the refusal's error class;
    - ``bad_examples`` / ``graceful_examples``: up to five request ids each, earliest first.
    """

    scenario: str
    requests: int
    graceful: int
    bad: int
    aborted: int
    verdict: str
    bad_reasons: dict[str, int] = field(default_factory=dict)
    graceful_reasons: dict[str, int] = field(default_factory=dict)
    bad_examples: tuple[str, ...] = ()
    graceful_examples: tuple[str, ...] = ()

    def to_summary(self) -> dict[str, Any]:
        """The summary@1 ``robustness[scenario]`` object: ``requests``, ``graceful``, ``bad``, ``verdict``,
        then ``aborted``, the reasons and the example ids."""
        return {
            "requests": self.requests,
            "graceful": self.graceful,
            "bad": self.bad,
            "verdict": self.verdict,
            "aborted": self.aborted,
            "bad_reasons": dict(self.bad_reasons),
            "graceful_reasons": dict(self.graceful_reasons),
            "examples": {"bad": list(self.bad_examples), "graceful": list(self.graceful_examples)},
        }


def judge_request(
    error_class: str | None, error_message: str | None, text: str | None, output_tokens: int | None
) -> tuple[str, str]:
    """(outcome, reason) of one request: outcome is ``graceful``, ``bad`` or ``not_judged``."""
    if error_class is None:
        answered = bool(text.strip()) if text is not None else bool(output_tokens)
        return (GRACEFUL, "answer") if answered else (BAD, EMPTY_ANSWER)
    if error_class in NOT_JUDGED:
        return SKIPPED, error_class
    if error_class in REFUSALS:
        if error_message and error_message.strip():
            return GRACEFUL, error_class
        return BAD, REFUSED_WITHOUT_MESSAGE
    return BAD, error_class


def is_robustness_scenario(scenario: str, tagged: Collection[str] = ()) -> bool:
    """Whether ``scenario`` starts with ``robustness`` or matches one of ``tagged`` (names or patterns)."""
    if scenario.startswith(ROBUSTNESS_PREFIX):
        return True
    return any(scenario == tag or fnmatch.fnmatchcase(scenario, tag) for tag in tagged)


def judge_robustness(
    requests: pa.Table, *, scenarios: Collection[str] | None = None
) -> dict[str, RobustnessVerdict]:
    """A verdict per robustness scenario of ``requests`` (the loader's table), by scenario name.

    ``scenarios`` names more scenarios (exact names or shell-style patterns) to judge besides those whose
    name starts with ``robustness``. Scenarios without requests do not appear.
    """
    names = pc.unique(requests.column("scenario")).drop_null().to_pylist() if requests.num_rows else []
    wanted = sorted(name for name in names if is_robustness_scenario(name, scenarios or ()))
    if not wanted:
        return {}
    table = requests.filter(pc.is_in(requests.column("scenario"), value_set=pa.array(wanted, pa.string())))
    columns = ["scenario", "id", "error_class", "error_message", "text", "output_tokens"]
    present = [c for c in columns if c in table.column_names]
    table = table.sort_by([("t_send", "ascending")]) if "t_send" in table.column_names else table
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in wanted}
    for row in table.select(present).to_pylist():
        rows[row["scenario"]].append(row)
    return {name: _verdict(name, rows[name]) for name in wanted}


def _verdict(scenario: str, rows: list[dict[str, Any]]) -> RobustnessVerdict:
    outcomes: dict[str, Counter[str]] = {GRACEFUL: Counter(), BAD: Counter(), SKIPPED: Counter()}
    examples: dict[str, list[str]] = {GRACEFUL: [], BAD: []}
    for row in rows:
        outcome, reason = judge_request(
            row.get("error_class"), row.get("error_message"), row.get("text"), row.get("output_tokens")
        )
        outcomes[outcome][reason] += 1
        if outcome in examples and len(examples[outcome]) < EXAMPLES and row.get("id") is not None:
            examples[outcome].append(row["id"])
    graceful, bad = outcomes[GRACEFUL].total(), outcomes[BAD].total()
    verdict = "fail" if bad else "pass" if graceful else "inconclusive"
    return RobustnessVerdict(
        scenario=scenario,
        requests=len(rows),
        graceful=graceful,
        bad=bad,
        aborted=outcomes[SKIPPED].total(),
        verdict=verdict,
        bad_reasons=dict(sorted(outcomes[BAD].items())),
        graceful_reasons=dict(sorted(outcomes[GRACEFUL].items())),
        bad_examples=tuple(examples[BAD]),
        graceful_examples=tuple(examples[GRACEFUL]),
    )
