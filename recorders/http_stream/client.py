"""One streaming request, stamped at the lowest level aiohttp allows.

Timing (all on one monotonic clock, nanoseconds):

- ``t_send``: taken in aiohttp's ``on_request_chunk_sent`` trace hook, which runs right before the request's
  headers and body go to the socket in one write; when nothing was written (connection refused) it is the
  time the attempt started.
- ``t_headers``: the response's status line and headers are parsed.
- every body read: ``resp.content.readany()`` returns whatever bytes the socket delivered; the stamp is taken
  right after, before any parsing. SSE is decoded after the stream ends (:mod:`.sse`), except that before the
  first output the few events are checked as they come, to switch from the TTFT timeout to the total one.
- ``t_end``: the stream closed, or the failure was seen.

Failures are kept as facts (what went wrong, when, the HTTP status and message); the error class is decided
when the record is built (:mod:`.record`), once in-stream error events are known too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp
from yarl import URL

from recorders.http_stream.prompts import Prompt
from recorders.http_stream.sse import SSEDecoder, error_text, is_output_event
from traceanalyzer.errors import SourceUnreachableError

ENDPOINTS = {"chat": "/chat/completions", "completions": "/completions"}
ERROR_BODY_LIMIT = 64 * 1024
"""Bytes of an error response body kept for its message."""

# What went wrong, as seen by the client (the record turns these into error classes).
FAIL_HTTP = "http"  # a non-2xx status
FAIL_TIMEOUT = "timeout"  # --ttft-timeout or --timeout
FAIL_CONNECTION = "connection"  # refused / reset / closed before a response
FAIL_BROKEN = "broken"  # the body broke off mid-way
FAIL_ABORTED = "aborted"  # the recorder stopped while in flight


@dataclass(slots=True)
class Failure:
    kind: str
    message: str


class Exchange:
    """Raw observations of one request: monotonic stamps, status, raw body reads (filled by the client)."""

    __slots__ = (
        "content_type",
        "failure",
        "reads",
        "request_id_header",
        "stamps",
        "status",
        "t_end",
        "t_first_seen",
        "t_headers",
        "t_send",
        "t_start",
    )

    def __init__(self, t_start: int) -> None:
        self.t_start = t_start
        self.t_send: int | None = None
        self.t_headers: int | None = None
        self.t_first_seen: int | None = None
        self.t_end: int | None = None
        self.status: int | None = None
        self.request_id_header: str | None = None
        self.content_type = ""
        self.stamps: list[int] = []
        self.reads: list[bytes] = []
        self.failure: Failure | None = None

    def fail(self, kind: str, message: str, now: int) -> None:
        """Note the first failure (later ones are consequences) and when it was seen."""
        if self.failure is None:
            self.failure = Failure(kind, message)
        if self.t_end is None:
            self.t_end = now


def request_body(
    prompt: Prompt, *, api: str, model: str, max_tokens: int | None, extra_body: Mapping[str, Any]
) -> bytes:
    """The JSON body of one streaming request (``stream_options.include_usage`` asks for the usage chunk).

    ``extra_body`` keys are merged on top (``stream_options`` merged key by key).
    """
    body: dict[str, Any] = {"model": model}
    if api == "chat":
        body["messages"] = (
            list(prompt.messages)
            if prompt.messages is not None
            else [{"role": "user", "content": prompt.prompt}]
        )
    else:
        body["prompt"] = prompt.prompt
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}
    for key, value in extra_body.items():
        if key == "stream_options" and isinstance(value, dict):
            body["stream_options"] = {**body["stream_options"], **value}
        else:
            body[key] = value
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


async def _on_chunk_sent(session: Any, ctx: SimpleNamespace, params: Any) -> None:
    ex = ctx.trace_request_ctx
    if isinstance(ex, Exchange):
        ex.t_send = time.monotonic_ns()


def _session(headers: Mapping[str, str], connect_timeout_s: float | None) -> aiohttp.ClientSession:
    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(_on_chunk_sent)
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=False)
    return aiohttp.ClientSession(
        connector=connector,
        headers=dict(headers),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s),
        trace_configs=[trace],
        auto_decompress=False,
    )


def base_headers(extra: Mapping[str, str], api_key: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
        "Accept-Encoding": "identity",
        "User-Agent": "traceanalyzer-collector",
    }
    headers.update(extra)
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


class StreamClient:
    """Sends streaming requests over one pooled aiohttp session. Use ``async with``.

    ``timeout_s`` bounds a whole request; ``ttft_timeout_s`` bounds the wait for the first output chunk.
    The clock is ``time.monotonic_ns`` (the trace writer's clock reads the same one).
    """

    def __init__(
        self,
        *,
        url: str,
        api: str,
        headers: Mapping[str, str],
        timeout_s: float | None,
        ttft_timeout_s: float | None = None,
        connect_timeout_s: float | None = 30.0,
    ) -> None:
        self.url = URL(url.rstrip("/") + ENDPOINTS[api])
        self.models_url = URL(url.rstrip("/") + "/models")
        self.chat = api == "chat"
        self.headers = dict(headers)
        self.timeout_s = timeout_s
        self.ttft_timeout_s = ttft_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> StreamClient:
        self._session = _session(self.headers, self.connect_timeout_s)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    def _deadlines(self, loop_now: float) -> tuple[float | None, float | None]:
        total = None if self.timeout_s is None else loop_now + self.timeout_s
        ttft = None if self.ttft_timeout_s is None else loop_now + self.ttft_timeout_s
        first = ttft if total is None else (total if ttft is None else min(ttft, total))
        return first, total

    async def preconnect(self, n: int) -> None:
        """Open ``n`` pooled keep-alive connections now (``GET {url}/models`` on each), so closed-loop users
        do not all connect at their first request. Failures are left to the requests themselves."""
        assert self._session is not None
        session = self._session

        async def one() -> None:
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with session.get(self.models_url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
                    await resp.read()

        await asyncio.gather(*(one() for _ in range(n)))

    def _timeout_message(self, ex: Exchange) -> str:
        ttft = self.ttft_timeout_s
        if (
            ttft is not None
            and ex.t_first_seen is None
            and (self.timeout_s is None or ttft <= self.timeout_s)
        ):
            return f"no output within the client TTFT timeout of {ttft:g} s"
        return f"client total timeout of {self.timeout_s:g} s"

    async def exchange(self, body: bytes, ex: Exchange) -> None:
        """Send ``body``, stream the response into ``ex``. Raises only ``CancelledError`` (noted first)."""
        assert self._session is not None, "use 'async with StreamClient(...)'"
        mono = time.monotonic_ns
        first_deadline, total_deadline = self._deadlines(asyncio.get_running_loop().time())
        try:
            async with asyncio.timeout_at(first_deadline) as deadline:
                async with self._session.post(
                    self.url, data=body, trace_request_ctx=ex, allow_redirects=False
                ) as resp:
                    ex.t_headers = mono()
                    ex.status = resp.status
                    ex.request_id_header = resp.headers.get("x-request-id")
                    ex.content_type = resp.headers.get("Content-Type", "")
                    if resp.status >= 300:
                        await self._read_error(resp, ex)
                        return
                    await self._read_stream(resp.content, ex, deadline, total_deadline)
        except TimeoutError as exc:  # ours, or aiohttp's connect timeout (also a ClientError)
            message = _describe(exc) if isinstance(exc, aiohttp.ClientError) else self._timeout_message(ex)
            ex.fail(FAIL_TIMEOUT, message, mono())
        except asyncio.CancelledError:
            ex.fail(FAIL_ABORTED, "recorder stopped while the request was in flight", mono())
            raise
        except (aiohttp.ClientError, OSError) as exc:
            kind = FAIL_CONNECTION if ex.t_headers is None else FAIL_BROKEN
            ex.fail(kind, _describe(exc), mono())
        finally:
            if ex.t_send is None:
                ex.t_send = ex.t_start
            if ex.t_end is None:
                ex.t_end = mono()

    async def _read_stream(
        self,
        content: aiohttp.StreamReader,
        ex: Exchange,
        deadline: asyncio.Timeout,
        total_deadline: float | None,
    ) -> None:
        mono = time.monotonic_ns
        stamps, reads = ex.stamps, ex.reads
        readany = content.readany
        # Until the first output chunk (only with a TTFT timeout), look at each event to know when to switch
        # to the total deadline; after it, the hot path only stamps and keeps the bytes.
        decoder = SSEDecoder() if self.ttft_timeout_s is not None else None
        chat = self.chat
        while True:
            data = await readany()
            now = mono()
            if not data:
                ex.t_end = now
                return
            stamps.append(now)
            reads.append(data)
            if decoder is not None and any(is_output_event(n, d, chat) for n, d in decoder.feed(data)):
                ex.t_first_seen = now
                deadline.reschedule(total_deadline)
                decoder = None

    async def _read_error(self, resp: aiohttp.ClientResponse, ex: Exchange) -> None:
        body = bytearray()
        while len(body) < ERROR_BODY_LIMIT:
            data = await resp.content.read(ERROR_BODY_LIMIT - len(body))
            if not data:
                break
            body += data
        ex.t_end = time.monotonic_ns()
        ex.fail(FAIL_HTTP, http_error_message(bytes(body), resp.reason), ex.t_end)


def http_error_message(body: bytes, reason: str | None) -> str:
    """The message of an error response: ``error.message`` of an OpenAI-style JSON body, else the text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        return error_text(obj)[0]
    return text or (reason or "")


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


async def check_reachable(url: str, headers: Mapping[str, str], timeout_s: float = 10.0) -> None:
    """GET ``{url}/models``: any HTTP answer means reachable, else ``SourceUnreachableError`` (exit 3)."""
    target = url.rstrip("/") + "/models"
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with aiohttp.ClientSession(headers=dict(headers), timeout=timeout) as s, s.get(target) as resp:
            await resp.read()
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise SourceUnreachableError(f"cannot reach {url}: {_describe(exc)}") from None


def check_reachable_sync(url: str, headers: Mapping[str, str], timeout_s: float = 10.0) -> None:
    """:func:`check_reachable` from synchronous code."""
    asyncio.run(check_reachable(url, headers, timeout_s))
