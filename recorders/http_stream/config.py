"""The collector's options (DESIGN section 7, ``record http``), checked once, and what goes into ``meta``."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yarl import URL

from recorders.http_stream.client import ENDPOINTS
from recorders.http_stream.load import ARRIVALS, LoadPlan, make_plan
from recorders.http_stream.prompts import ORDERS
from recorders.tracefile import redact
from traceanalyzer.errors import UsageError


@dataclass(frozen=True)
class CollectorConfig:
    """Everything ``traceanalyzer record http`` was asked to do. Durations in seconds.

    The API key itself is never held here, only the name of the environment variable it is read from.
    """

    url: str
    model: str
    out: str
    api: str = "chat"
    prompts: str | None = None
    concurrency: int | None = None
    rate: float | None = None
    arrival: str = "poisson"
    stages: str | None = None
    requests: int | None = None
    duration_s: float | None = None
    max_tokens: int | None = None
    timeout_s: float | None = 600.0
    ttft_timeout_s: float | None = None
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    headers: tuple[tuple[str, str], ...] = ()
    api_key_env: str | None = None
    no_text: bool = False
    seed: int = 0
    warmup_s: float = 0.0
    workers: int = 1
    grace_s: float = 30.0
    order: str | None = None
    progress: bool = True
    host: str | None = None
    run: str | None = None
    id_header: str | None = "x-request-id"
    """Header that sends each request's client id to the server (None: no such header)."""
    stream: bool = True
    """False: ``--no-stream``, every request asks for the whole answer in one body."""
    conversations: int | None = None
    """Conversation mode (:mod:`.conversations`): conversations to start; None: see there."""
    think_time: str | None = None
    max_turns: int | None = None
    on_turn_error: str = "stop"

    def plan(self) -> LoadPlan:
        """The load plan; raises :class:`UsageError` for options that do not fit together."""
        url = URL(self.url)
        if url.scheme not in ("http", "https") or not url.host:
            raise UsageError(
                f"--url must be an http(s) API base such as http://host:8000/v1, not {self.url!r}"
            )
        if self.api not in ENDPOINTS:
            raise UsageError(f"unknown --api {self.api!r}; known: {', '.join(ENDPOINTS)}")
        if self.arrival not in ARRIVALS:
            raise UsageError(f"unknown --arrival {self.arrival!r}; known: {', '.join(ARRIVALS)}")
        if self.order is not None and self.order not in ORDERS:
            raise UsageError(f"unknown --order {self.order!r}; known: {', '.join(ORDERS)}")
        for name, value in (
            ("--requests", self.requests),
            ("--max-tokens", self.max_tokens),
            ("--workers", self.workers),
            ("--conversations", self.conversations),
            ("--max-turns", self.max_turns),
        ):
            if value is not None and value < 1:
                raise UsageError(f"{name} must be >= 1")
        for name, seconds in (
            ("--duration", self.duration_s),
            ("--timeout", self.timeout_s),
            ("--ttft-timeout", self.ttft_timeout_s),
        ):
            if seconds is not None and not (seconds > 0 and math.isfinite(seconds)):
                raise UsageError(f"{name} must be > 0 seconds")
        if self.grace_s < 0 or self.warmup_s < 0:
            raise UsageError("--grace and --warmup must be >= 0")
        plan = make_plan(concurrency=self.concurrency, rate=self.rate, stages=self.stages)
        if self.workers > 1 and self.concurrency is not None and self.concurrency < self.workers:
            raise UsageError(f"--concurrency {self.concurrency} is less than --workers {self.workers}")
        return plan

    def api_key(self) -> str | None:
        """The API key from ``--api-key-env``'s variable (None without the option)."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env, "")
        if not key:
            raise UsageError(
                f"--api-key-env {self.api_key_env}: that environment variable is not set or empty"
            )
        return key

    def meta(self) -> dict[str, Any]:
        """The options as the ``meta`` record's ``config``: no API key; credentials in the URL and
        secret-looking headers, body fields and query parameters redacted."""
        config: dict[str, Any] = {
            "url": safe_url(self.url),
            "model": self.model,
            "api": self.api,
            "prompts": self.prompts,
            "concurrency": self.concurrency,
            "rate": self.rate,
            "arrival": self.arrival,
            "stages": self.stages,
            "requests": self.requests,
            "duration_s": self.duration_s,
            "max_tokens": self.max_tokens,
            "timeout_s": self.timeout_s,
            "ttft_timeout_s": self.ttft_timeout_s,
            "extra_body": dict(self.extra_body),
            "headers": [f"{k}: {v}" for k, v in self.headers],
            "api_key_env": self.api_key_env,
            "no_text": self.no_text,
            "seed": self.seed,
            "warmup_s": self.warmup_s,
            "workers": self.workers,
            "grace_s": self.grace_s,
            "order": self.order,
            "out": self.out,
            "id_header": self.id_header,
        }
        if not self.stream:
            config["stream"] = False
        for key, value in (
            ("conversations", self.conversations),
            ("think_time", self.think_time),
            ("max_turns", self.max_turns),
        ):
            if value is not None:
                config[key] = value
        return dict(redact(config))

    def out_paths(self) -> list[Path]:
        """The file each worker writes: ``--out`` itself, or ``name.w0.jsonl``, ``name.w1.jsonl``, ..."""
        return [worker_path(self.out, i, self.workers) for i in range(self.workers)]


def worker_path(out: str, index: int, workers: int) -> Path:
    """``requests.jsonl`` -> ``requests.w{index}.jsonl`` (``.jsonl.gz`` kept) when there are workers."""
    path = Path(out)
    if workers == 1:
        return path
    name = path.name
    for suffix in (".jsonl.gz", ".jsonl", ".gz"):
        if name.endswith(suffix):
            return path.with_name(f"{name[: -len(suffix)]}.w{index}{suffix}")
    return path.with_name(f"{name}.w{index}")


def safe_url(url: str) -> str:
    """``url`` without user info, secret-looking query parameters redacted."""
    u = URL(url)
    if u.user is not None or u.password is not None:
        u = u.with_user(None)
    if u.query:
        u = u.with_query(redact(dict(u.query)))
    return str(u)


def parse_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` -> ``("Name", "value")``."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or " " in name.strip():
        raise UsageError(f"bad --header {text.split(':')[0]!r}...: use NAME:VALUE")
    return name.strip(), value.strip()


def parse_extra_body(text: str | None) -> dict[str, Any]:
    """``--extra-body`` JSON object (fields merged into every request body)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--extra-body is not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(value, dict):
        raise UsageError("--extra-body must be a JSON object")
    return value
