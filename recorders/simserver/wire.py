"""When a request's bytes reached the server: a socket-read stamp in front of aiohttp's connection protocol.

The handler's own start is late by whatever the server's event loop ran first (HTTP parsing, routing, other
connections' reads, a tick writing hundreds of chunks). The ground truth of a request's arrival, against
which a client's ``t_send`` is judged, is when the server process read it off the socket:
:class:`ReadStamps` wraps each connection's protocol (aiohttp's ``RequestHandler``, made by the runner's
public protocol factory ``runner.server``) in one that stamps ``time.monotonic_ns()`` on every read before
passing it on. A client sends its next request on a connection only after the previous response ended (no
pipelining), so once a handler has read its request's body, its connection's latest read is the one that
completed the request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


class _Stamped(asyncio.Protocol):
    """One connection's protocol, behind a read stamp."""

    __slots__ = ("inner", "last_read_ns", "registry", "transport")

    def __init__(self, inner: asyncio.Protocol, registry: dict[Any, _Stamped]) -> None:
        self.inner = inner
        self.registry = registry
        self.last_read_ns = 0
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.registry[transport] = self
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.last_read_ns = time.monotonic_ns()
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.registry.pop(self.transport, None)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class ReadStamps:
    """Per connection (keyed by its transport), the monotonic ns of its latest socket read."""

    def __init__(self) -> None:
        self._by_transport: dict[Any, _Stamped] = {}

    def wrap(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for ``loop.create_server`` whose connections are stamped."""
        return lambda: _Stamped(factory(), self._by_transport)

    def last_read_ns(self, transport: asyncio.BaseTransport | None) -> int | None:
        """When ``transport``'s connection last read from its socket (None: not a stamped connection)."""
        stamped = self._by_transport.get(transport)
        return None if stamped is None or not stamped.last_read_ns else stamped.last_read_ns
