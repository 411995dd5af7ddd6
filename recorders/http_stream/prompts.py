"""Prompt sets: JSONL prompt files, the bundled ``builtin:NAME`` sets, and the order prompts are sent in.

A prompt file has one JSON object per line (blank lines are skipped):

- ``id`` (string; default ``<file stem>-<line>``), unique in the file: the group key for output consistency;
- ``prompt`` (string) or ``messages`` (OpenAI chat messages: a list of ``{"role", "content"}``);
- optional ``scenario`` (string), ``max_tokens`` (int >= 1), ``expected`` (strings or regexes the answer
  must contain; copied into each request record), ``weight`` (> 0, for ``--order random``);
- optional ``repeat`` (int >= 1): the prompt text is repeated that many times (newline-joined), for very long
  inputs without a huge file;
- optional ``stream`` (bool): ``false`` sends this prompt as a non-streaming request.

Conversation files (a ``turns`` list per line) are read by :mod:`.conversations`.

``--api completions`` needs ``prompt``; ``--api chat`` sends ``prompt`` as one user message.
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar

from traceanalyzer.errors import BadInputError, UsageError

BUILTIN_PREFIX = "builtin:"
BUILTIN_SETS: dict[str, str] = {
    "mixed": "short and long prompts mixed by weight (scenarios short, long)",
    "consistency": "questions meant to be repeated, with expected key facts (scenario consistency)",
    "robustness": "abnormal inputs: very long, garbled, mixed-script, special characters, injection, vague",
}
ORDERS = ("cycle", "random")
_KNOWN_KEYS = {"id", "prompt", "messages", "scenario", "max_tokens", "expected", "weight", "repeat", "stream"}


@dataclass(frozen=True, slots=True, eq=False)
class Prompt:
    """One prompt as the collector sends it. Exactly one of ``prompt`` and ``messages`` is set."""

    id: str
    prompt: str | None = None
    messages: tuple[dict[str, Any], ...] | None = None
    scenario: str | None = None
    max_tokens: int | None = None
    expected: tuple[str, ...] | None = None
    weight: float = 1.0
    stream: bool | None = None
    """False: sent as a non-streaming request (None: per ``--no-stream``)."""


def _fail(problem: str, path: str, line: int) -> BadInputError:
    return BadInputError(problem, path=path, line=line)


def _parse_line(obj: Any, *, path: str, line: int, stem: str) -> Prompt:
    if not isinstance(obj, dict):
        raise _fail("each line must be a JSON object", path, line)
    pid = obj.get("id", f"{stem}-{line}")
    if not isinstance(pid, (str, int)) or isinstance(pid, bool) or str(pid) == "":
        raise _fail("'id' must be a non-empty string", path, line)
    text, messages = obj.get("prompt"), obj.get("messages")
    if (text is None) == (messages is None):
        raise _fail("give exactly one of 'prompt' and 'messages'", path, line)
    if text is not None and not isinstance(text, str):
        raise _fail("'prompt' must be a string", path, line)
    if messages is not None:
        ok = isinstance(messages, list) and len(messages) > 0
        ok = ok and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m for m in messages
        )
        if not ok:
            raise _fail('\'messages\' must be a non-empty list of {"role", "content"} objects', path, line)
    repeat = obj.get("repeat", 1)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
        raise _fail("'repeat' must be an integer >= 1", path, line)
    if repeat > 1:
        if text is not None:
            text = "\n".join(itertools.repeat(text, repeat))
        else:
            assert messages is not None
            last = messages[-1]
            if not isinstance(last.get("content"), str):
                raise _fail("'repeat' needs the last message's content to be a string", path, line)
            messages = [
                *messages[:-1],
                {**last, "content": "\n".join(itertools.repeat(last["content"], repeat))},
            ]
    scenario = obj.get("scenario")
    if scenario is not None and not isinstance(scenario, str):
        raise _fail("'scenario' must be a string", path, line)
    max_tokens = obj.get("max_tokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise _fail("'max_tokens' must be an integer >= 1", path, line)
    expected = obj.get("expected")
    if expected is not None:
        if isinstance(expected, str):
            expected = [expected]
        if not isinstance(expected, list) or not all(isinstance(e, str) for e in expected):
            raise _fail("'expected' must be a string or a list of strings", path, line)
    weight = obj.get("weight", 1.0)
    if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not weight > 0:
        raise _fail("'weight' must be a number > 0", path, line)
    stream = obj.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _fail("'stream' must be true or false", path, line)
    return Prompt(
        id=str(pid),
        prompt=text,
        messages=tuple(messages) if messages is not None else None,
        scenario=scenario,
        max_tokens=max_tokens,
        expected=tuple(expected) if expected is not None else None,
        weight=float(weight),
        stream=stream,
    )


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


_Item = TypeVar("_Item", bound=_HasId)


def parse_unique_lines(lines: Sequence[str], path: str, parse: Callable[[Any, int], _Item]) -> list[_Item]:
    """``parse(object, line number)`` of every non-blank JSONL line; a line that is not JSON, or an ``id``
    seen before, raises :class:`BadInputError` naming ``path`` and the line."""
    items: list[_Item] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _fail(f"not valid JSON: {exc.msg} (column {exc.colno})", path, n) from None
        item = parse(obj, n)
        if item.id in seen:
            raise _fail(f"duplicate id {item.id!r} (first on line {seen[item.id]})", path, n)
        seen[item.id] = n
        items.append(item)
    return items


def parse_prompt_lines(lines: Sequence[str], *, path: str) -> list[Prompt]:
    """Parse prompt-file lines; a bad line raises :class:`BadInputError` naming ``path`` and the line."""
    stem = Path(path).name.split(".")[0] or "prompt"
    prompts = parse_unique_lines(lines, path, lambda obj, n: _parse_line(obj, path=path, line=n, stem=stem))
    if not prompts:
        raise BadInputError("no prompts in the file", path=path)
    return prompts


def _lines(text: str) -> list[str]:
    """JSONL lines: split on ``\\n`` only (``str.splitlines`` would also split on U+2028 inside strings)."""
    return text.split("\n")


def builtin_path(name: str) -> Path:
    """Path of a bundled prompt set's data file."""
    return Path(str(resources.files("recorders.http_stream").joinpath("data", f"{name}.jsonl")))


def load_prompts(spec: str | None) -> list[Prompt]:
    """Prompts from ``builtin:NAME`` (default ``builtin:mixed``) or a JSONL file path."""
    spec = spec or f"{BUILTIN_PREFIX}mixed"
    if spec.startswith(BUILTIN_PREFIX):
        name = spec[len(BUILTIN_PREFIX) :]
        if name not in BUILTIN_SETS:
            raise UsageError(
                f"unknown prompt set {spec!r}; known: {', '.join(BUILTIN_PREFIX + k for k in BUILTIN_SETS)}"
            )
        path = builtin_path(name)
        return parse_prompt_lines(_lines(path.read_text(encoding="utf-8")), path=spec)
    try:
        text = Path(spec).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInputError("prompt file not found", path=spec) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"cannot read the prompt file: {exc}", path=spec) from None
    return parse_prompt_lines(_lines(text), path=spec)


def check_api(prompts: Sequence[Prompt], api: str, source: str) -> None:
    """``--api completions`` sends raw text: every prompt must have ``prompt``, not ``messages``."""
    if api == "completions":
        bad = [p.id for p in prompts if p.prompt is None]
        if bad:
            raise BadInputError(
                f"--api completions needs 'prompt' text; prompt {bad[0]!r} has only 'messages'", path=source
            )


class PromptPicker:
    """Which prompt goes next, deterministic for a seed.

    ``cycle``: the file order, round robin; worker ``w`` of ``W`` takes global positions ``w, w + W, ...``, so
    the workers together cycle the file once per ``len(prompts)`` requests. ``random``: sampled with
    probability proportional to ``weight`` from ``rng``. ``order=None`` picks ``random`` when any weight
    differs from 1, else ``cycle``.
    """

    def __init__(
        self,
        prompts: Sequence[Prompt],
        *,
        order: str | None,
        rng: random.Random,
        worker: int = 0,
        workers: int = 1,
    ) -> None:
        if not prompts:
            raise UsageError("no prompts to send")
        if order is None:
            order = "random" if any(p.weight != 1.0 for p in prompts) else "cycle"
        if order not in ORDERS:
            raise UsageError(f"unknown order {order!r}; known: {', '.join(ORDERS)}")
        self.order = order
        self.prompts = list(prompts)
        self._rng = rng
        self._cum = list(itertools.accumulate(p.weight for p in prompts))
        self._pos = worker
        self._step = workers

    def next(self) -> tuple[int, Prompt]:
        """The next prompt and its index in the set."""
        if self.order == "cycle":
            i = self._pos % len(self.prompts)
            self._pos += self._step
        else:
            i = bisect.bisect_right(self._cum, self._rng.random() * self._cum[-1])
            i = min(i, len(self.prompts) - 1)
        return i, self.prompts[i]
