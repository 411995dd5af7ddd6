"""Multi-turn chat sessions: conversation prompt files and the collector's conversation mode.

A conversation prompt file has one conversation per JSONL line (blank lines are skipped):

- ``id`` (string; default ``<file stem>-<line>``), optional ``system`` (the system prompt), optional
  ``scenario``, and ``turns``: a non-empty list whose items are either a string (the user message) or an
  object ``{"user", "expected", "max_tokens", "delay"}`` (``expected``: strings or regexes the answer must
  contain; ``delay``: think time before this turn, milliseconds, instead of ``--think-time``);
- AIPerf's multi-turn shape is read too: ``session_id`` for ``id``, turns ``{"text" | "messages", "delay"}``
  (``messages``: the OpenAI messages this turn adds).

A file is a conversation file when its first object has ``turns``.

Conversation mode (:class:`ConversationCollector`): each closed-loop user (``--concurrency``) runs whole
conversations one after another; open loop (``--rate``) starts conversations at that rate. Turn k sends the
system prompt, every earlier user turn with the answer actually received, and user turn k, with the chat id
in the ``x-session-id`` header. Between a turn's end and the next turn's send the user thinks
(``--think-time``: ``2s`` fixed or ``exp:2s`` exponential with that mean). ``--conversations N`` starts N
conversations (default with no other bound: each conversation of the file once); ``--requests`` counts turns;
a failed turn ends its conversation (``--on-turn-error continue``: the turn is left out of the history and the
conversation goes on). A conversation's history lives only while it runs.

Records gain ``session_id`` (unique in the run), ``turn`` (0-based), ``session_turns`` (the turns the
conversation was to have), ``history_chars`` (characters of the earlier messages resent) and
``cached_tokens`` (``usage.prompt_tokens_details.cached_tokens``; null when the server does not say).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recorders.http_stream.client import request_body
from recorders.http_stream.collector import Collector
from recorders.http_stream.driver import STOP_REQUESTS, Budget
from recorders.http_stream.load import parse_duration, split_count
from recorders.http_stream.prompts import BUILTIN_PREFIX, Prompt, builtin_path, parse_unique_lines
from recorders.http_stream.record import SessionInfo, classify_exchange, parse_exchange
from traceanalyzer.errors import BadInputError, UsageError

SESSION_HEADER = "x-session-id"
CONVERSATION_SETS: dict[str, str] = {
    "chat": "conversations of 2 to 12 turns, short and long, some with facts to recall",
}
"""Bundled conversation sets (``builtin:NAME``), beside the single-turn ones of :mod:`.prompts`."""
ON_TURN_ERROR = ("stop", "continue")
_SLICE_S = 0.25
"""Longest single sleep while thinking, so a stop is noticed promptly."""


@dataclass(frozen=True, slots=True)
class Turn:
    """One user turn: the messages it adds (one user message for the native shape)."""

    messages: tuple[dict[str, Any], ...]
    expected: tuple[str, ...] | None = None
    max_tokens: int | None = None
    delay_s: float | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    turns: tuple[Turn, ...]
    system: str | None = None
    scenario: str | None = None


def _fail(problem: str, path: str, line: int) -> BadInputError:
    return BadInputError(problem, path=path, line=line)


def _expected(value: Any, path: str, line: int) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
        raise _fail("'expected' must be a string or a list of strings", path, line)
    return tuple(value)


def _turn(item: Any, k: int, path: str, line: int) -> Turn:
    if isinstance(item, str):
        return Turn(({"role": "user", "content": item},))
    if not isinstance(item, dict):
        raise _fail(f"turns[{k}] must be a string or an object", path, line)
    user = item.get("user", item.get("text"))
    messages = item.get("messages")
    if (user is None) == (messages is None):
        raise _fail(f"turns[{k}] needs exactly one of 'user' (or 'text') and 'messages'", path, line)
    if user is not None:
        if not isinstance(user, str):
            raise _fail(f"turns[{k}].user must be a string", path, line)
        messages = [{"role": "user", "content": user}]
    elif not (
        isinstance(messages, list)
        and messages
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m for m in messages)
    ):
        raise _fail(f'turns[{k}].messages must be a non-empty list of {{"role", "content"}}', path, line)
    max_tokens = item.get("max_tokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise _fail(f"turns[{k}].max_tokens must be an integer >= 1", path, line)
    delay = item.get("delay")
    if delay is not None and (not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0):
        raise _fail(f"turns[{k}].delay must be a number of milliseconds >= 0", path, line)
    return Turn(
        tuple(messages),
        expected=_expected(item.get("expected"), path, line),
        max_tokens=max_tokens,
        delay_s=None if delay is None else float(delay) / 1000,
    )


def _conversation(obj: Any, path: str, line: int, stem: str) -> Conversation:
    if not isinstance(obj, dict):
        raise _fail("each line must be a JSON object", path, line)
    cid = obj.get("id", obj.get("session_id", f"{stem}-{line}"))
    if not isinstance(cid, (str, int)) or isinstance(cid, bool) or str(cid) == "":
        raise _fail("'id' must be a non-empty string", path, line)
    turns = obj.get("turns")
    if not isinstance(turns, list) or not turns:
        raise _fail("'turns' must be a non-empty list", path, line)
    system = obj.get("system")
    if system is not None and not isinstance(system, str):
        raise _fail("'system' must be a string", path, line)
    scenario = obj.get("scenario")
    if scenario is not None and not isinstance(scenario, str):
        raise _fail("'scenario' must be a string", path, line)
    return Conversation(
        id=str(cid),
        turns=tuple(_turn(t, k, path, line) for k, t in enumerate(turns)),
        system=system,
        scenario=scenario,
    )


def _read(spec: str) -> tuple[str, str]:
    """(text, name for messages) of a prompt spec (``builtin:NAME`` or a path)."""
    if spec.startswith(BUILTIN_PREFIX):
        name = spec[len(BUILTIN_PREFIX) :]
        if name not in CONVERSATION_SETS:
            return "", spec  # a single-turn set, or unknown: load_prompts says which
        return builtin_path(name).read_text(encoding="utf-8"), spec
    try:
        return Path(spec).read_text(encoding="utf-8"), spec
    except (OSError, UnicodeDecodeError):
        return "", spec  # load_prompts reports it


def load_conversations(spec: str | None) -> list[Conversation] | None:
    """The conversations of a conversation prompt file, or None when ``spec`` is not one."""
    if spec is None:
        return None
    text, where = _read(spec)
    lines = text.split("\n")
    first = next((n for n, raw in enumerate(lines, start=1) if raw.strip()), None)
    if first is None:
        return None
    try:
        head = json.loads(lines[first - 1])
    except json.JSONDecodeError:
        return None
    if not isinstance(head, dict) or "turns" not in head:
        return None
    stem = Path(where).name.split(".")[0] or "conversation"
    return parse_unique_lines(lines, where, lambda obj, n: _conversation(obj, where, n, stem))


# -- think time ----------------------------------------------------------------------------------------------
_THINK = re.compile(r"^\s*(?:(?P<kind>fixed|exp)\s*:)?\s*(?P<dur>.+?)\s*$", re.I)


@dataclass(frozen=True, slots=True)
class ThinkTime:
    """Seconds between a turn's end and the next turn's send: ``mean_s`` fixed, or exponential."""

    mean_s: float = 0.0
    exponential: bool = False

    def draw(self, rng: random.Random) -> float:
        if self.exponential and self.mean_s > 0:
            return rng.expovariate(1.0 / self.mean_s)
        return self.mean_s


def parse_think_time(text: str | None) -> ThinkTime:
    """``"2s"`` / ``"fixed:2s"`` (always 2 s) or ``"exp:2s"`` (exponential, mean 2 s); None: no thinking."""
    if text is None:
        return ThinkTime()
    m = _THINK.match(text)
    if m is None:
        raise UsageError(f"bad --think-time {text!r}: use e.g. 2s or exp:2s")
    seconds = parse_duration(m.group("dur"), what="--think-time")
    return ThinkTime(seconds, (m.group("kind") or "fixed").lower() == "exp")


# -- one running conversation --------------------------------------------------------------------------------
class Dialogue:
    """One conversation as it runs: the history so far (freed with the object), each turn's request and
    record fields, and the think time before a turn. Shared by the collector and Locust's ``LLMUser``."""

    def __init__(self, conv: Conversation, session_id: str, max_turns: int | None = None) -> None:
        self.conv = conv
        self.session_id = session_id
        self.turns = conv.turns[:max_turns] if max_turns else conv.turns
        self.history: list[dict[str, Any]] = (
            [] if conv.system is None else [{"role": "system", "content": conv.system}]
        )
        self.headers = {SESSION_HEADER: session_id}

    def delay(self, k: int, think: ThinkTime, rng: random.Random) -> float:
        """Seconds to wait before turn ``k``: the turn's own ``delay``, else a draw of ``think``."""
        turn = self.turns[k]
        return turn.delay_s if turn.delay_s is not None else think.draw(rng)

    def request(self, k: int) -> tuple[Prompt, SessionInfo]:
        """Turn ``k``'s prompt (the history and the turn's messages) and its record fields."""
        turn = self.turns[k]
        prompt = Prompt(
            id=f"{self.conv.id}/{k}",
            messages=(*self.history, *turn.messages),
            scenario=self.conv.scenario,
            max_tokens=turn.max_tokens,
            expected=turn.expected,
        )
        chars = sum(len(str(m.get("content", ""))) for m in self.history)
        return prompt, SessionInfo(self.session_id, k, len(self.turns), chars)

    def answered(self, k: int, text: str | None) -> bool:
        """Turn ``k`` ended with ``text`` (None: it failed, and stays out of the history); True on success."""
        if text is None:
            return False
        self.history.extend(self.turns[k].messages)
        self.history.append({"role": "assistant", "content": text})
        return True


# -- the collector's conversation mode -----------------------------------------------------------------------
class ConversationCollector(Collector):
    """A :class:`Collector` whose load driver starts conversations instead of single requests."""

    def __init__(self, *args: Any, conversations: Sequence[Conversation], **kwargs: Any) -> None:
        if not conversations:
            raise UsageError("no conversations to run")
        placeholder = [Prompt(id=c.id, messages=c.turns[0].messages) for c in conversations]
        super().__init__(*args, prompts=placeholder, **kwargs)
        config, spec = self.config, self.spec
        if config.on_turn_error not in ON_TURN_ERROR:
            raise UsageError(f"--on-turn-error must be one of {', '.join(ON_TURN_ERROR)}")
        self.conversations = list(conversations)
        limit = config.conversations
        if limit is None and config.requests is None and config.duration_s is None and not config.stages:
            limit = len(self.conversations)  # no other bound: each conversation once
        self.driver.budget = Budget(
            None if limit is None else split_count(limit, spec.count, spec.index),
            on_spent=lambda: self.driver.stop(STOP_REQUESTS),
        )
        self.turn_budget = Budget(
            None if config.requests is None else split_count(config.requests, spec.count, spec.index),
            on_spent=lambda: self.driver.stop(STOP_REQUESTS),
        )
        self.think = parse_think_time(config.think_time)
        self._think_rng = random.Random(f"{config.seed}:think:{spec.index}")
        self._order = itertools.count(spec.index, spec.count)
        self._sessions = 0

    def _halted(self) -> bool:
        """Whether conversations must end now (a stop other than a spent conversation budget)."""
        reason = self.driver.stop_reason
        return reason is not None and reason != STOP_REQUESTS

    async def _think_for(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless halted meanwhile; False when halted."""
        end = time.monotonic() + seconds
        while not self._halted():
            left = end - time.monotonic()
            if left <= 0:
                return True
            await asyncio.sleep(min(left, _SLICE_S))
        return False

    async def _fire(self, stage: str | None) -> None:
        """Run one whole conversation, one request record per turn sent."""
        conv = self.conversations[next(self._order) % len(self.conversations)]
        self._sessions += 1
        talk = Dialogue(conv, f"{self.spec.run}-{self.spec.label}-s{self._sessions}", self.config.max_turns)
        for k in range(len(talk.turns)):
            if k > 0:
                delay = talk.delay(k, self.think, self._think_rng)
                if delay > 0 and not await self._think_for(delay):
                    return
            if self._halted() or not self.turn_budget.take():
                return
            prompt, session = talk.request(k)
            body = request_body(
                prompt,
                api="chat",
                model=self.config.model,
                max_tokens=prompt.max_tokens or self.config.max_tokens,
                extra_body=self.config.extra_body,
                stream=self._streams(prompt),
            )
            ex = await self._send(prompt, body, stage, session=session, headers=talk.headers)
            parsed = session.parsed = parse_exchange(ex, chat=True)
            ok = talk.answered(k, None if classify_exchange(ex, parsed) else parsed.text)
            if not ok and self.config.on_turn_error == "stop":
                return
