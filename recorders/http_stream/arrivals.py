"""Arrival stamps taken where the socket's bytes enter Python, before aiohttp parses them.

A stamp taken when ``readany()`` returns is late by everything the event loop runs between the socket read
and the reading task's turn: the other connections' reads of the same poll, other tasks' steps, a record
being built. Under load (hundreds of streams whose chunks land together) that is most of a client's error.
So the connection protocol stamps: :class:`StampingResponseHandler` is aiohttp's own ``ResponseHandler``
with one step added to ``data_received``, the callback the event loop makes for each socket read. It takes
``time.monotonic_ns()`` before aiohttp parses the bytes and, once they are parsed, notes in the response's
:class:`ArrivalLog` how many body bytes the response had then. After the stream, the body offset where an
SSE event ends maps to the read that completed it (:meth:`ArrivalLog.stamp_of`).

The body itself is taken from aiohttp's reader in batches (every :data:`DRAIN_BYTES`, at the end, or before
a connection drops), not per chunk; until the first output arrives the client may ask for every read
(:attr:`BodySink.eager`, to switch from its TTFT timeout to the total one). The request's task is not woken
per chunk at all: it waits for the end of the body (``StreamReader.wait_eof``). A chunk costs one protocol
callback instead of a callback, a future, a task step and a read.

:func:`stamping_connector` makes a ``TCPConnector`` whose connections use this protocol. aiohttp has no
public switch for a connector's protocol class; the connector keeps its protocol factory in ``_factory``
(so since aiohttp 3.0). Where that is missing the connector is a plain one and :func:`stamping_protocol`
returns None; the client then stamps reads as its task sees them.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from typing import Any, Protocol

import aiohttp
from aiohttp.client_proto import ResponseHandler

DRAIN_BYTES = 16 * 1024
"""Body bytes left in aiohttp's reader before they are taken: below its flow-control mark (twice the
session's ``read_bufsize``, 64 KiB by default), so reading from the socket does not pause; should it pause
(a smaller buffer, a burst of tiny chunks), the bytes are taken at once, which resumes it."""


class ArrivalLog:
    """When the bytes of one response body arrived: ``ns[i]`` is the monotonic ns of a socket read,
    ``upto[i]`` how many body bytes had arrived once it was parsed (strictly increasing; chunked framing and
    headers do not count)."""

    __slots__ = ("ns", "upto")

    def __init__(self) -> None:
        self.ns: list[int] = []
        self.upto: list[int] = []

    @classmethod
    def of_reads(cls, stamps: Sequence[int], reads: Sequence[bytes]) -> ArrivalLog:
        """The log of body ``reads`` where ``stamps[i]`` is when ``reads[i]`` arrived."""
        log, total = cls(), 0
        for stamp, data in zip(stamps, reads, strict=True):
            total += len(data)
            log.add(stamp, total)
        return log

    def __len__(self) -> int:
        return len(self.ns)

    @property
    def received(self) -> int:
        """Body bytes logged so far."""
        return self.upto[-1] if self.upto else 0

    def add(self, ns: int, upto: int) -> None:
        """Note that body bytes up to ``upto`` had arrived at ``ns`` (ignored unless it adds bytes)."""
        if upto > self.received:
            self.ns.append(ns)
            self.upto.append(upto)

    def stamp_of(self, offset: int, start: int = 0) -> tuple[int | None, int]:
        """``(stamp, index)`` of the first read at or after index ``start`` by which ``offset`` body bytes
        had arrived; ``(None, len)`` when none had. Pass the index back as ``start`` for increasing offsets:
        a walk over a whole body is linear."""
        upto = self.upto
        i, n = start, len(upto)
        while i < n and upto[i] < offset:
            i += 1
        return (self.ns[i] if i < n else None), i


class BodySink(Protocol):
    """Where a followed response's body goes."""

    arrivals: ArrivalLog

    @property
    def eager(self) -> bool:
        """True: hand over the bytes of every read as it arrives (else in batches)."""

    def take(self, data: bytes) -> None:
        """The next body bytes, in order (their arrival is already in :attr:`arrivals`)."""

    def eof(self, now: int) -> None:
        """The body is complete; ``now``: the monotonic ns of the read that completed it."""


class StampingResponseHandler(ResponseHandler):
    """aiohttp's client connection protocol, stamping every socket read before aiohttp parses it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.last_read_ns = 0
        """Monotonic ns of this connection's latest socket read."""
        self._body: aiohttp.StreamReader | None = None
        self._sink: BodySink | None = None
        self._ns: list[int] = []
        self._upto: list[int] = []
        self._taken = 0
        self._taking = False
        self._held = False

    def pause_reading(self) -> None:
        self._held = True
        super().pause_reading()

    def resume_reading(self, resume_parser: bool = True) -> None:
        """aiohttp's reader calls this after every piece it hands out, and the protocol then runs its parser
        on ``b""`` to resume what a pause held back. While :meth:`_take` reads and nothing was paused, there
        is nothing to resume: skipped, which saves a parser call per chunk."""
        if self._taking and not self._held:
            return
        self._held = False
        super().resume_reading(resume_parser)

    def data_received(self, data: bytes) -> None:
        if data:  # b"": aiohttp re-running its parser on what it holds (each time its reader is read)
            self.last_read_ns = time.monotonic_ns()
        super().data_received(data)
        if self._sink is not None:
            self._arrived()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._sink is not None:
            self.last_read_ns = time.monotonic_ns()  # a body that ends with the connection ends now
            self._take()  # what came before the break, while aiohttp still lets it be read
        super().connection_lost(exc)
        if self._sink is not None:
            self._arrived()

    def follow(self, body: aiohttp.StreamReader, sink: BodySink) -> None:
        """Log the arrivals of ``body`` (a response's ``content``) into ``sink`` and hand it the bytes. What
        has arrived already counts as arrived with the latest read (the one that completed the headers,
        when called as soon as the response is there). Nobody may await ``body``'s data meanwhile."""
        self._body, self._sink, self._taken = body, sink, 0
        self._ns, self._upto = sink.arrivals.ns, sink.arrivals.upto
        self._arrived()

    def unfollow(self) -> None:
        """Stop following, after handing the sink what has arrived (a request given up keeps its output)."""
        if self._sink is not None and not self._taking:
            self._take()
        self._body = self._sink = None

    def _arrived(self) -> None:
        """After a read: log it if it brought body bytes; take the bytes when due; see the end."""
        body, sink = self._body, self._sink
        assert body is not None and sink is not None
        total, upto = body.total_bytes, self._upto  # ArrivalLog.add, inlined: this runs for every chunk
        if not upto or total > upto[-1]:
            self._ns.append(self.last_read_ns)
            upto.append(total)
        if self._taking:
            return
        if body.is_eof() or body.exception() is not None:
            self.unfollow()
            if body.exception() is None:
                sink.eof(self.last_read_ns)
        elif sink.eager or self._held or total - self._taken >= DRAIN_BYTES:
            self._take()  # (held: aiohttp's reader stopped the socket past its mark; taking resumes it)

    def _take(self) -> None:
        body, sink = self._body, self._sink
        assert body is not None and sink is not None
        self._taking = True  # reading makes aiohttp call data_received(b"") again
        try:
            while body.exception() is None and (data := body.read_nowait()):
                self._taken += len(data)
                sink.take(data)
        finally:
            self._taking = False


def stamping_connector(**options: Any) -> aiohttp.TCPConnector:
    """A ``TCPConnector(**options)`` whose connections stamp arrivals (see the module docstring). Call it
    with the event loop running."""
    connector = aiohttp.TCPConnector(**options)
    if isinstance(getattr(connector, "_factory", None), functools.partial):
        connector._factory = functools.partial(  # type: ignore[assignment]
            StampingResponseHandler, loop=asyncio.get_running_loop()
        )
    return connector


def stamping_protocol(resp: aiohttp.ClientResponse) -> StampingResponseHandler | None:
    """The stamping protocol of ``resp``'s connection, None when the connection does not stamp."""
    conn = resp.connection
    proto = None if conn is None else conn.protocol
    return proto if isinstance(proto, StampingResponseHandler) else None
