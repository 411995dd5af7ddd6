"""The simulated server's prefix cache and what it knows of conversations.

A chat service resends the whole history every turn, so most of a turn's prompt was already prefilled for
the turn before. vLLM keeps the KV blocks of earlier prompts (and answers) and reuses the longest cached
prefix of a new prompt: only the rest is prefilled. The model here does the same at message granularity:

- a chat prompt is a chain of segments, one per message (role and text), each costing the tokens the front
  end counts for it (:func:`segments`); a completions prompt is one segment;
- a prefix is keyed by a hash chained over its segments, so two prompts share a key exactly when they share
  those messages, in order;
- :meth:`PrefixCache.lookup` walks a prompt's prefixes from the first and stops at the first one not cached;
  the cached tokens are the matched prefix's tokens rounded down to whole blocks (``block_tokens``, vLLM's
  16), and never the whole prompt (the last token is always computed, as in vLLM);
- a prompt's prefixes are cached when it is admitted, and its answer as one more (assistant) segment when it
  completes, so the next turn, which resends that answer, finds it;
- capacity is in tokens, least recently used first out; a lookup refreshes the prefixes it matched, longest
  first, so the shorter (shared) ones stay longer.

Sessions: the collector sends the chat id in the ``x-session-id`` header; the turn of a chat request is the
number of user messages before the last one.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

SESSION_HEADER = "x-session-id"

Segment = tuple[bytes, int]
"""A prefix's chained key and the tokens its last segment adds."""


def chain(texts: Sequence[tuple[str, str]], costs: Sequence[int], seed: bytes = b"") -> list[Segment]:
    """Keys of every prefix of ``texts`` ((role, text) pairs) with the tokens each adds."""
    out: list[Segment] = []
    key = seed
    for (role, text), cost in zip(texts, costs, strict=True):
        key = hashlib.blake2b(key + role.encode() + b"\0" + text.encode(), digest_size=16).digest()
        out.append((key, cost))
    return out


class PrefixCache:
    """LRU cache of prompt prefixes, ``capacity`` tokens in all (see the module docstring)."""

    def __init__(self, capacity: int, block_tokens: int = 16) -> None:
        self.capacity = capacity
        self.block = max(1, block_tokens)
        self._entries: OrderedDict[bytes, int] = OrderedDict()
        self.used = 0

    def lookup(self, prefixes: Sequence[Segment], prompt_tokens: int) -> int:
        """Tokens of the longest cached prefix, whole blocks only, less than ``prompt_tokens``."""
        matched: list[bytes] = []
        tokens = 0
        for key, cost in prefixes:
            if key not in self._entries:
                break
            matched.append(key)
            tokens += cost
        for key in reversed(matched):
            self._entries.move_to_end(key)
        cached = tokens // self.block * self.block
        return max(0, min(cached, (prompt_tokens - 1) // self.block * self.block))

    def insert(self, prefixes: Sequence[Segment]) -> None:
        """Cache every prefix of the chain (refreshing those already there), evicting the least recent."""
        for key, cost in reversed(prefixes):
            if key in self._entries:
                self._entries.move_to_end(key)
            else:
                self._entries[key] = cost
                self.used += cost
        while self.used > self.capacity and self._entries:
            _, cost = self._entries.popitem(last=False)
            self.used -= cost


def session_of(headers: Mapping[str, str], body: Any) -> tuple[str | None, int | None]:
    """The chat id (``x-session-id`` header) and turn (user messages before the last) of a request."""
    session = headers.get(SESSION_HEADER)
    if session is None:
        return None, None
    messages = body.get("messages") if isinstance(body, Mapping) else None
    if not isinstance(messages, list):
        return session, None
    users = sum(1 for m in messages if isinstance(m, Mapping) and m.get("role") == "user")
    return session, max(0, users - 1)


def prompt_digest(body: Any) -> str | None:
    """SHA-256 of what the prompt says: the ``[role, content]`` pairs of a chat request as compact JSON
    (``ensure_ascii=False``), or a completions request's ``prompt`` text. Lets a test check, from the truth
    file, that a turn resent exactly the history it should have."""
    if not isinstance(body, Mapping):
        return None
    messages = body.get("messages")
    if isinstance(messages, list):
        pairs = [[m.get("role"), m.get("content")] for m in messages if isinstance(m, Mapping)]
        text = json.dumps(pairs, ensure_ascii=False, separators=(",", ":"))
    elif isinstance(body.get("prompt"), str):
        text = body["prompt"]
    else:
        return None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
