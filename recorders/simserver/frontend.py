"""Request parsing, validation and admission control of the front end (before the engine sees a request).

Checks, in the order a client meets them: rate limit and concurrency cap (429), a JSON object body (400),
the model name (404), the parameters (400), the context length ``prompt_tokens + max_tokens <=
max_model_len`` (400, vLLM's message), then the scenario's seeded validation failures (400).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recorders.simserver import errors
from recorders.simserver.errors import ApiError
from recorders.simserver.scenario import Scenario
from recorders.simserver.text import count_prompt_tokens

_ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})
_CHAT_OVERHEAD_PER_MESSAGE = 4  # role and separators of the chat template, tokens
_CHAT_OVERHEAD = 3  # assistant turn header
_INJECTED_BAD_PARAMS = (
    ("logit_bias", "logit_bias: token id 152064 is out of vocabulary range [0, 128256)."),
    ("stop", "stop: at most 4 stop sequences are allowed, got 6."),
    ("response_format", "response_format: the JSON schema could not be compiled: unresolvable $ref."),
)


@dataclass(frozen=True)
class ParsedRequest:
    """What the engine and the response writer need from one request body."""

    api: str  # "chat" or "completions"
    model: str
    prompt: str  # the text the answer depends on (chat: the messages' contents joined)
    prompt_tokens: int
    max_tokens: int
    stream: bool
    include_usage: bool
    ignore_eos: bool
    min_tokens: int
    parts: tuple[tuple[str, str, int], ...] = ()
    """The prompt's segments for the prefix cache: (role, text, tokens) per chat message; one for a
    completions prompt."""


def _content_text(content: Any) -> str | None:
    """A message's text: a string, or the text parts of a content list (None when malformed)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text"]
        return "\n".join(str(p) for p in parts)
    return None


def message_tokens(text: str) -> int:
    """Tokens one chat message of ``text`` takes, chat template included."""
    return count_prompt_tokens(text) + _CHAT_OVERHEAD_PER_MESSAGE


def _number(body: Mapping[str, Any], key: str, lo: float, hi: float) -> ApiError | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        return errors.bad_request(f"{key} must be a number in [{lo:g}, {hi:g}], got {value!r}.", key)
    return None


def _prompt(
    api: str, body: Mapping[str, Any]
) -> tuple[str, int, tuple[tuple[str, str, int], ...]] | ApiError:
    """The prompt text, its token count and its segments, or the error for a malformed prompt."""
    if api == "chat":
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return errors.bad_request("messages must be a non-empty list.", "messages")
        texts: list[str] = []
        roles: list[str] = []
        for i, message in enumerate(messages):
            if not isinstance(message, Mapping) or message.get("role") not in _ROLES:
                return errors.bad_request(f"messages[{i}] needs a role in {sorted(_ROLES)}.", "messages")
            text = _content_text(message.get("content", ""))
            if text is None:
                return errors.bad_request(
                    f"messages[{i}].content must be a string or a list of parts.", "messages"
                )
            texts.append(text)
            roles.append(str(message["role"]))
        prompt = "\n".join(texts)
        costs = [message_tokens(t) for t in texts]
        parts = tuple(zip(roles, texts, costs, strict=True))
        return prompt, sum(costs) + _CHAT_OVERHEAD, parts
    raw = body.get("prompt")
    if isinstance(raw, list) and len(raw) == 1 and isinstance(raw[0], str):
        raw = raw[0]
    if not isinstance(raw, str):
        return errors.bad_request("prompt must be a string (batched prompts are not supported).", "prompt")
    tokens = count_prompt_tokens(raw)
    return raw, tokens, (("prompt", raw, tokens),)


def parse_request(api: str, body: Any, scenario: Scenario) -> ParsedRequest | ApiError:
    """Validate one request body of ``api`` ("chat" or "completions") against the scenario's model limits."""
    model_cfg = scenario.model
    if not isinstance(body, Mapping):
        return errors.bad_request("The request body must be a JSON object.")
    model = body.get("model", model_cfg.name)
    if model != model_cfg.name:
        return errors.model_not_found(str(model))
    prompt = _prompt(api, body)
    if isinstance(prompt, ApiError):
        return prompt
    text, prompt_tokens, parts = prompt
    for key, lo, hi in (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0), ("presence_penalty", -2.0, 2.0)):
        problem = _number(body, key, lo, hi)
        if problem is not None:
            return problem
    if body.get("n", 1) != 1:
        return errors.bad_request("n must be 1 (the simulated server returns one choice).", "n")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        return errors.bad_request("stream must be a boolean.", "stream")
    limit = model_cfg.max_tokens_limit
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is None:
        max_tokens = max(1, min(model_cfg.default_max_tokens, model_cfg.max_model_len - prompt_tokens))
    elif isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= limit:
        return errors.bad_request(
            f"max_tokens must be an integer in [1, {limit}], got {max_tokens!r}.", "max_tokens"
        )
    if prompt_tokens + max_tokens > model_cfg.max_model_len:
        return errors.context_length(model_cfg.max_model_len, prompt_tokens, max_tokens)
    min_tokens = body.get("min_tokens", 0)
    if isinstance(min_tokens, bool) or not isinstance(min_tokens, int) or not 0 <= min_tokens <= max_tokens:
        return errors.bad_request("min_tokens must be an integer in [0, max_tokens].", "min_tokens")
    options = body.get("stream_options") or {}
    include_usage = bool(options.get("include_usage")) if isinstance(options, Mapping) else False
    return ParsedRequest(
        api=api,
        model=model_cfg.name,
        prompt=text,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        stream=stream,
        include_usage=include_usage,
        ignore_eos=bool(body.get("ignore_eos", False)),
        min_tokens=min_tokens,
        parts=parts,
    )


def injected_rejection(parsed: ParsedRequest, scenario: Scenario, rng: random.Random) -> ApiError | None:
    """The scenario's seeded validation failures (``context_length_fraction``, ``bad_request_fraction``)."""
    faults = scenario.faults
    draw = rng.random()
    if draw < faults.context_length_fraction:
        max_len = scenario.model.max_model_len
        claimed = max_len - parsed.max_tokens + rng.randint(1, max(1, max_len // 4))
        return errors.context_length(max_len, claimed, parsed.max_tokens)
    if draw < faults.context_length_fraction + faults.bad_request_fraction:
        param, message = rng.choice(_INJECTED_BAD_PARAMS)
        return errors.bad_request(message, param)
    return None


class RateLimiter:
    """Token bucket: ``rps`` tokens a second up to ``burst``; one request takes one token, else 429.

    Also refuses requests beyond ``max_concurrent`` in flight. Times are monotonic ns.
    """

    def __init__(self, rps: float, burst: int, max_concurrent: int) -> None:
        self.rps = rps
        self.burst = float(burst or max(1.0, rps))
        self.max_concurrent = max_concurrent
        self._tokens = self.burst
        self._last_ns: int | None = None

    def check(self, now_ns: int, in_flight: int) -> ApiError | None:
        if self.max_concurrent and in_flight >= self.max_concurrent:
            return errors.rate_limited(f"{self.max_concurrent} concurrent requests at most")
        if self.rps <= 0:
            return None
        if self._last_ns is not None:
            self._tokens = min(self.burst, self._tokens + (now_ns - self._last_ns) / 1e9 * self.rps)
        self._last_ns = now_ns
        if self._tokens < 1.0:
            return errors.rate_limited(f"{self.rps:g} requests per second")
        self._tokens -= 1.0
        return None
