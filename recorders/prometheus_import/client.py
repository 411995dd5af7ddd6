"""A client of the Prometheus HTTP query API (Prometheus, Thanos, Mimir, VictoriaMetrics) over aiohttp.

Every request is retried with exponential backoff (``backoff_s``, doubled each time, at most 8 s) on a
timeout, a refused or reset connection, HTTP 429 and 5xx, up to ``attempts`` tries in all. What is not
worth retrying fails at once: 401/403 (:class:`SourceUnreachableError`, exit code 3: check the token),
404 (not a query API at that URL, exit code 3), and an error Prometheus reports about the query itself
(400/422, :class:`QueryError` with Prometheus' own text). When the tries run out the last failure is a
:class:`SourceUnreachableError`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from recorders.prometheus_import.series import QueryError
from recorders.prometheus_import.window import Window
from recorders.tracefile import redact
from traceanalyzer.errors import SourceUnreachableError

MAX_BACKOFF_S = 8.0


class _Retry(Exception):
    """A failure worth another try; ``str`` says what happened."""


def api_base(url: str) -> str:
    """The base URL without a trailing ``/`` or ``/api/v1`` (both forms are accepted)."""
    base = url.rstrip("/")
    for suffix in ("/api/v1/query_range", "/api/v1"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class PrometheusClient:
    """GETs on ``BASE/api/v1/...`` with the given headers; use as an async context manager.

    ``sleep`` is injectable so the backoff is tested without waiting.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 60.0,
        attempts: int = 5,
        backoff_s: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base = api_base(url)
        self.shown = str(redact(self.base))  # for messages: a password in the URL is not printed
        self.headers = dict(headers or {})
        self.timeout_s = timeout_s
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.retries = 0  # retried requests, for the summary
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PrometheusClient:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout_s), headers=self.headers
        )
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def metric_names(self, window: Window) -> list[str]:
        """``/api/v1/label/__name__/values`` for the window: the metric names that have data in it."""
        body = await self.get(
            "/api/v1/label/__name__/values",
            {"start": _seconds(window.start_ms), "end": _seconds(window.end_ms)},
            what="the metric names",
        )
        try:
            doc = json.loads(body)
        except json.JSONDecodeError:
            raise SourceUnreachableError(
                f"{self.shown} does not answer as a Prometheus query API (not JSON)"
            ) from None
        if doc.get("status") != "success":
            raise QueryError(f"{doc.get('errorType') or 'error'}: {doc.get('error') or 'no error text'}")
        return [str(name) for name in doc.get("data") or []]

    async def query_range(self, promql: str, window: Window, *, what: str) -> bytes:
        """The body of ``/api/v1/query_range`` for ``promql`` over ``window`` (parsed by the caller)."""
        return await self.get(
            "/api/v1/query_range",
            {
                "query": promql,
                "start": _seconds(window.start_ms),
                "end": _seconds(window.end_ms),
                "step": _seconds(window.step_ms),
            },
            what=what,
        )

    async def get(self, path: str, params: Mapping[str, str], *, what: str) -> bytes:
        """The body of a 200 answer, with the retries described in the module docstring."""
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                return await self._get_once(path, params)
            except _Retry as exc:
                if attempt == self.attempts:
                    raise SourceUnreachableError(
                        f"cannot get {what} from {self.shown}: {exc} (tried {self.attempts} times)"
                    ) from None
                self.retries += 1
                await self._sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _get_once(self, path: str, params: Mapping[str, str]) -> bytes:
        if self._session is None:
            await self.__aenter__()
        assert self._session is not None
        url = self.base + path
        shown = self.shown + path
        try:
            async with self._session.get(url, params=dict(params)) as resp:
                body = await resp.read()
                status, reason = resp.status, resp.reason or ""
        except TimeoutError:
            raise _Retry(f"timed out after {self.timeout_s:g} s") from None
        except aiohttp.InvalidURL:
            raise SourceUnreachableError(f"invalid URL {shown!r}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise _Retry(f"{type(exc).__name__}: {_short(str(exc))}") from None
        if status == 200:
            return body
        if status == 429 or status >= 500:
            raise _Retry(f"HTTP {status} {reason}".strip() + _error_text(body))
        if status in (401, 403):
            raise SourceUnreachableError(
                f"{shown}: HTTP {status} {reason}; check --header / --bearer-token-env"
            )
        if status in (400, 422):
            raise QueryError(_error_text(body).removeprefix(": ") or f"HTTP {status} {reason}")
        raise SourceUnreachableError(
            f"{shown}: HTTP {status} {reason}; is {self.shown} a Prometheus query API?".replace("  ", " ")
        )


def _error_text(body: bytes) -> str:
    """Prometheus' ``errorType: error`` from an error body, prefixed with ``": "``; else the body's start."""
    try:
        doc = json.loads(body)
        if isinstance(doc, dict) and doc.get("error"):
            return f": {doc.get('errorType') or 'error'}: {doc['error']}"
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass
    text = body.decode("utf-8", "replace").strip()
    return f": {_short(text, 200)}" if text else ""


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.3f}"
