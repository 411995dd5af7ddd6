"""Pages of generations from the Langfuse public API.

- v2 ``GET {base}/api/public/v2/observations``: ``type=GENERATION``, ``fromStartTime`` / ``toStartTime``
  (ISO 8601), ``fields=core,basic,time,usage,model``, ``limit``, then ``cursor`` from ``meta.cursor`` until
  a page comes without one. Langfuse v4+ and Cloud.
- v1 ``GET {base}/api/public/observations`` (deprecated, older self-hosted servers), used when v2 answers
  404: the same filters with ``page`` (from 1) and ``limit`` until ``meta.totalPages``.
- Basic auth: public key as user, secret key as password (never written anywhere). 401/403 stop with a
  message naming the key variables; 429 waits ``Retry-After`` seconds (else a backoff) and asks again; 5xx
  and connection errors are retried with backoff, then the source counts as unreachable (exit 3).
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from traceanalyzer.errors import SourceUnreachableError, UsageError

V2_PATH = "/api/public/v2/observations"
V1_PATH = "/api/public/observations"
V2_FIELDS = "core,basic,time,usage,model,metadata"
KEY_ENV = ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY")


@dataclass(frozen=True)
class Query:
    """What to fetch: generations whose start time is in [``from_iso``, ``to_iso``), optionally with one
    ``name`` and ``environment`` (server-side filters)."""

    from_iso: str
    to_iso: str
    name: str | None = None
    environment: str | None = None
    page_size: int = 100

    def params(self) -> dict[str, str]:
        params = {
            "type": "GENERATION",
            "fromStartTime": self.from_iso,
            "toStartTime": self.to_iso,
            "limit": str(self.page_size),
        }
        if self.name is not None:
            params["name"] = self.name
        if self.environment is not None:
            params["environment"] = self.environment
        return params


@dataclass(frozen=True)
class Retry:
    """``attempts`` per page for 429, 5xx and connection errors; ``backoff_s`` doubles each time;
    ``max_wait_s`` caps one wait (a ``Retry-After`` too)."""

    attempts: int = 6
    backoff_s: float = 1.0
    max_wait_s: float = 60.0


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - time.time(), 0.0)


class NotFound(Exception):
    """The server has no such endpoint (404)."""


class LangfuseClient:
    """GETs JSON pages from one Langfuse server with retries; ``authorization`` is the header value (never
    logged)."""

    def __init__(
        self, base_url: str, authorization: str, *, retry: Retry = Retry(), timeout_s: float = 60.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": authorization}
        self.retry = retry
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.waits: list[float] = []
        """Every wait before a retry, in seconds (what the user waited for)."""

    async def get(self, session: aiohttp.ClientSession, path: str, params: Mapping[str, str]) -> Any:
        url = self.base_url + path
        last = ""
        for attempt in range(self.retry.attempts):
            wait = min(self.retry.backoff_s * 2**attempt, self.retry.max_wait_s)
            try:
                async with session.get(
                    url, params=params, headers=self.headers, timeout=self.timeout
                ) as resp:
                    if resp.status == 200:
                        return await resp.json(content_type=None)
                    body = (await resp.text())[:200].strip()
                    if resp.status in (401, 403):
                        raise UsageError(
                            f"Langfuse at {self.base_url} answered {resp.status} {resp.reason}: check "
                            f"{KEY_ENV[0]} and {KEY_ENV[1]} (the keys of the project to read)"
                        )
                    if resp.status == 404:
                        raise NotFound(path)
                    if resp.status != 429 and resp.status < 500:
                        raise UsageError(f"Langfuse {path} answered {resp.status} {resp.reason}: {body}")
                    last = f"{resp.status} {resp.reason}"
                    if resp.status == 429:
                        after = _retry_after(resp.headers.get("Retry-After"))
                        wait = min(after if after is not None else wait, self.retry.max_wait_s)
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if attempt + 1 < self.retry.attempts:
                self.waits.append(wait)
                await asyncio.sleep(wait)
        raise SourceUnreachableError(f"cannot read {url} ({last}) after {self.retry.attempts} attempts")


async def iter_pages(client: LangfuseClient, query: Query) -> AsyncIterator[tuple[str, list[Any]]]:
    """Yield (``"v2"`` or ``"v1"``, the page's observations) until the listing ends."""
    async with aiohttp.ClientSession() as session:
        params = {**query.params(), "fields": V2_FIELDS}
        try:
            page = await client.get(session, V2_PATH, params)
        except NotFound:
            page = None
        if page is not None:
            while True:
                yield "v2", _data(page, V2_PATH)
                cursor = (page.get("meta") or {}).get("cursor")
                if not cursor:
                    return
                page = await client.get(session, V2_PATH, {**params, "cursor": str(cursor)})
        number = 1
        while True:
            try:
                page = await client.get(session, V1_PATH, {**query.params(), "page": str(number)})
            except NotFound:
                raise UsageError(
                    f"{client.base_url} has neither {V2_PATH} nor {V1_PATH}: is it a Langfuse server?"
                ) from None
            yield "v1", _data(page, V1_PATH)
            total_pages = _int((page.get("meta") or {}).get("totalPages"))
            if total_pages is None or number >= total_pages or not page.get("data"):
                return
            number += 1


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _data(page: Any, path: str) -> list[Any]:
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise UsageError(f"Langfuse {path} answered JSON without a 'data' list: not the observations API")
    return list(page["data"])
