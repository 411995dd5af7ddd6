"""One streaming request, stamped at the lowest level aiohttp allows.

Timing (all on one monotonic clock, nanoseconds):

- ``t_send``: taken in aiohttp's ``on_request_chunk_sent`` trace hook, which runs right before the request's
  headers and body go to the socket in one write; when nothing was written (connection refused) it is the
  time the attempt started.
- ``t_headers`` and the body: the connection protocol stamps each socket read before aiohttp parses it and
  logs how much of the body had arrived with it (:mod:`.arrivals`); the request's task sleeps until the body
  ends. ``t_headers`` is the read that completed the headers. SSE is decoded after the stream ends
  (:mod:`.sse`), except that before the first output (with a TTFT timeout) the few events are checked as they
  come, to switch from the TTFT timeout to the total one. Where a connection does not stamp (see
  :func:`.arrivals.stamping_connector`), reads are stamped as ``readany()`` returns them.
- ``t_end``: the read that ended the stream, or when the failure was seen.

Failures are kept as facts (what went wrong, when, the HTTP status and message); the error class is decided
when the record is built (:mod:`.record`), once in-stream error events are known too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp
from yarl import URL

from recorders.http_stream.arrivals import (
    ArrivalLog,
    StampingResponseHandler,
    stamping_connector,
    stamping_protocol,
)
from recorders.http_stream.prompts import Prompt
from recorders.http_stream.sse import SSEDecoder, error_text, is_output_event
from traceanalyzer.errors import SourceUnreachableError

ENDPOINTS = {"chat": "/chat/completions", "completions": "/completions"}
ERROR_BODY_LIMIT = 64 * 1024
"""Bytes of an error response body kept for its message."""
READ_BUFSIZE = 64 * 1024
"""aiohttp's ``read_bufsize``: a response's reader pauses the socket past twice this, unread."""

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
    """Raw observations of one request (filled by the client): monotonic stamps, status, the body as it was
    read (``reads``, in pieces of any size) and when its bytes arrived (``arrivals``)."""

    __slots__ = (
        "arrivals",
        "content_type",
        "failure",
        "reads",
        "request_id_header",
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
        self.reads: list[bytes] = []
        self.arrivals = ArrivalLog()
        self.failure: Failure | None = None

    def fail(self, kind: str, message: str, now: int) -> None:
        """Note the first failure (later ones are consequences) and when it was seen."""
        if self.failure is None:
            self.failure = Failure(kind, message)
        if self.t_end is None:
            self.t_end = now


def request_body(
    prompt: Prompt,
    *,
    api: str,
    model: str,
    max_tokens: int | None,
    extra_body: Mapping[str, Any],
    stream: bool = True,
) -> bytes:
    """The JSON body of one streaming request (``stream_options.include_usage`` asks for the usage chunk),
    or with ``stream`` false of a non-streaming one (``"stream": false``; the answer's usage is in the body).

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
    body["stream"] = stream
    if stream:
        body["stream_options"] = {"include_usage": True}
    for key, value in extra_body.items():
        if key == "stream_options" and isinstance(value, dict) and stream:
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
    connector = stamping_connector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=False)
    return aiohttp.ClientSession(
        connector=connector,
        headers=dict(headers),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s),
        trace_configs=[trace],
        auto_decompress=False,
        read_bufsize=READ_BUFSIZE,
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


class SendGate:
    """Hands out one turn per event-loop pass, first come first served.

    Sending a request costs aiohttp a few hundred microseconds, and so does ending one. When many streams end
    together (closed-loop users all starting their next request), ending them and sending every next request
    in one pass would hold the loop for tens of milliseconds before it next reads its sockets, and the other
    streams' chunks would wait, their stamps late. A request's task takes a turn to send, and again once its
    response is whole; the end of one request and its task's next send (a closed-loop user's) share a turn.
    Between turns the loop reads, and stamps. A lone request passes at once.
    """

    def __init__(self) -> None:
        self._busy = False
        self.last_turn_ns = 0
        """Monotonic ns of the latest turn handed out."""
        self._holder: asyncio.Task[Any] | None = None
        self._waiting: deque[tuple[asyncio.Future[None], asyncio.Task[Any] | None]] = deque()

    async def turn(self) -> None:
        """Wait for this task's turn (at once when nothing else had one in this pass, or it has it)."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if self._busy and task is self._holder:
            return
        if not self._busy:
            self._busy, self._holder = True, task
            self.last_turn_ns = time.monotonic_ns()
            loop.call_soon(self._next)
            return
        waiter = loop.create_future()
        self._waiting.append((waiter, task))
        await waiter

    def _next(self) -> None:
        """A new pass: the next waiter's task has its turn in the next pass (after this one's reads), or the
        gate is free."""
        while self._waiting:
            waiter, task = self._waiting.popleft()
            if not waiter.done():  # a waiter cancelled meanwhile (a stop) is skipped
                waiter.set_result(None)
                self._holder = task
                self.last_turn_ns = time.monotonic_ns()
                asyncio.get_running_loop().call_soon(self._next)
                return
        self._busy, self._holder = False, None


class StreamClient:
    """Sends streaming requests over one pooled aiohttp session, one per event-loop pass (:class:`SendGate`).
    Use ``async with``.

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
        self.gate = SendGate()

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

    async def exchange(self, body: bytes, ex: Exchange, *, headers: Mapping[str, str] | None = None) -> None:
        """Send ``body`` (with ``headers`` beyond the session's), stream the response into ``ex``. Raises only
        ``CancelledError`` (noted first)."""
        assert self._session is not None, "use 'async with StreamClient(...)'"
        mono = time.monotonic_ns
        try:
            await self.gate.turn()
        except asyncio.CancelledError:
            ex.fail(FAIL_ABORTED, "recorder stopped while the request was in flight", mono())
            ex.t_send = ex.t_start
            raise
        first_deadline, total_deadline = self._deadlines(asyncio.get_running_loop().time())
        ended = False
        try:
            async with asyncio.timeout_at(first_deadline) as deadline:
                async with self._session.post(
                    self.url, data=body, headers=headers, trace_request_ctx=ex, allow_redirects=False
                ) as resp:
                    ex.t_headers = mono()
                    proto = stamping_protocol(resp)
                    if proto is not None:  # the read that completed the headers
                        ex.t_headers = min(ex.t_headers, proto.last_read_ns)
                    ex.status = resp.status
                    ex.request_id_header = resp.headers.get("x-request-id")
                    ex.content_type = resp.headers.get("Content-Type", "")
                    if resp.status >= 300:
                        await self._read_error(resp, ex)
                    else:
                        watch = self.ttft_timeout_s is not None
                        sink = _BodySink(ex, self.chat, watch, deadline, total_deadline)
                        await _read_body(resp.content, proto, sink)
                    ended = True
                    deadline.reschedule(None)  # the response is whole: the wait below is not the server's
                    # Its end and what its task does next (in a closed loop, the user's next send) take one
                    # pass, so that many streams ending together do not hold the loop off its sockets.
                    await self.gate.turn()
        except TimeoutError as exc:  # ours, or aiohttp's connect timeout (also a ClientError)
            message = _describe(exc) if isinstance(exc, aiohttp.ClientError) else self._timeout_message(ex)
            ex.fail(FAIL_TIMEOUT, message, mono())
        except asyncio.CancelledError:
            if not ended:
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

    async def _read_error(self, resp: aiohttp.ClientResponse, ex: Exchange) -> None:
        body = bytearray()
        while len(body) < ERROR_BODY_LIMIT:
            data = await resp.content.read(ERROR_BODY_LIMIT - len(body))
            if not data:
                break
            body += data
        ex.t_end = time.monotonic_ns()
        ex.fail(FAIL_HTTP, http_error_message(bytes(body), resp.reason), ex.t_end)


class _BodySink:
    """Keeps a streamed body and its arrival log in the exchange. Until the first output event (only with a
    TTFT timeout) it asks for every read and decodes its events, to switch from the TTFT deadline to the
    total one; after that it takes the body in whatever pieces come."""

    __slots__ = ("arrivals", "chat", "deadline", "decoder", "ex", "total_deadline")

    def __init__(
        self,
        ex: Exchange,
        chat: bool,
        watch_first: bool,
        deadline: asyncio.Timeout,
        total_deadline: float | None,
    ) -> None:
        self.ex = ex
        self.arrivals = ex.arrivals
        self.chat = chat
        self.decoder = SSEDecoder() if watch_first else None
        self.deadline = deadline
        self.total_deadline = total_deadline

    def take(self, data: bytes) -> None:
        self.ex.reads.append(data)
        decoder = self.decoder
        if decoder is not None and any(is_output_event(n, d, self.chat) for n, d in decoder.feed(data)):
            self.ex.t_first_seen = self.arrivals.ns[-1]
            self.deadline.reschedule(self.total_deadline)
            self.decoder = None

    @property
    def eager(self) -> bool:
        """Every read is wanted at once while the first output is awaited."""
        return self.decoder is not None

    def eof(self, now: int) -> None:
        self.ex.t_end = now


async def _read_body(
    content: aiohttp.StreamReader, proto: StampingResponseHandler | None, sink: _BodySink
) -> None:
    """Read a response body into ``sink`` until it ends (a broken body raises aiohttp's error)."""
    if proto is None:
        mono, readany, log = time.monotonic_ns, content.readany, sink.arrivals
        while data := await readany():
            log.add(mono(), log.received + len(data))
            sink.take(data)
        sink.eof(mono())
        return
    proto.follow(content, sink)
    try:
        await content.wait_eof()
    finally:
        proto.unfollow()
    if sink.ex.t_end is None:  # not seen by the protocol: take what is left
        while data := content.read_nowait():
            sink.take(data)
        sink.eof(time.monotonic_ns())


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
