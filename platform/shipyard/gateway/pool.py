"""Keep-alive connections to upstreams, pooled per address and reused across requests.

An idle connection is taken last-in first-out (the warmest one); one the upstream closed
while idle drops out of the pool as soon as its close arrives. Idle connections are closed
after ``idle_timeout`` and when their address leaves the routing table (``sweep``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import socket
from collections.abc import Callable, Collection

from shipyard.gateway.coalescing import WriteCoalescer
from shipyard.gateway.upstream import UpstreamConnection

__all__ = ["ConnectionPool"]


class ConnectionPool:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        max_idle: int,
        idle_timeout: float,
        connect_timeout: float,
    ) -> None:
        self.loop = loop
        # Where its connections write; the gateway's client connections write there too.
        self.writes = WriteCoalescer(loop.call_soon)
        self.max_idle = max_idle
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self.closing = False
        self._idle: dict[tuple[str, int], list[UpstreamConnection]] = {}
        self._families: dict[str, socket.AddressFamily | None] = {}

    def dial(
        self, address: tuple[str, int], data: bytes
    ) -> tuple[socket.socket | None, int]:
        """Start connecting to ``address`` and send what ``data`` the socket takes at once;
        returns the socket and how much was sent, or ``(None, 0)`` for a host name, which
        ``open`` resolves. Raises ``OSError`` when the connection is refused outright.

        On loopback the handshake completes inside ``connect()``, so the request leaves in
        the same breath: a sync worker that accepts the connection finds it waiting,
        instead of going to sleep for it and being woken again.
        """
        family = self._family_of(address[0])
        if family is None:
            return None, 0
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            code = sock.connect_ex(address)
            if code not in (0, errno.EINPROGRESS):
                raise OSError(code, os.strerror(code))
            try:
                sent = sock.send(data)
            except BlockingIOError:
                sent = 0
        except BaseException:
            sock.close()
            raise
        return sock, sent

    async def open(
        self,
        address: tuple[str, int],
        ready: Callable[[UpstreamConnection], None] | None = None,
        sock: socket.socket | None = None,
        connected: bool = False,
    ) -> UpstreamConnection:
        """A connection to ``address``, over ``sock`` from ``dial`` when given (and still
        connecting unless ``connected``); raises ``OSError``. ``ready`` is called with it
        as soon as it is made. The caller bounds the time it takes by cancelling."""

        def made() -> UpstreamConnection:
            return UpstreamConnection(self, address, ready)

        if sock is None:
            _, connection = await self.loop.create_connection(made, address[0], address[1])
            return connection
        try:
            if not connected:
                await self.loop.sock_connect(sock, address)
            _, connection = await self.loop.create_connection(made, sock=sock)
        except BaseException:
            sock.close()
            raise
        return connection

    def _family_of(self, host: str) -> socket.AddressFamily | None:
        try:
            return self._families[host]
        except KeyError:
            pass
        try:
            family = (socket.AF_INET6 if ipaddress.ip_address(host).version == 6
                      else socket.AF_INET)
        except ValueError:
            family = None
        self._families[host] = family
        return family

    def take(self, address: tuple[str, int]) -> UpstreamConnection | None:
        """An idle connection to ``address``, or None."""
        idle = self._idle.get(address)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    def release(self, connection: UpstreamConnection) -> None:
        """Give back a connection whose last answer was complete and reusable."""
        connection.sink = None
        if connection.closed:
            return
        idle = self._idle.setdefault(connection.address, [])
        if self.closing or len(idle) >= self.max_idle:
            connection.close()
            return
        # A client slower than the answer pauses the upstream's reading (backpressure), and
        # the answer's last bytes may come in before it drains: the connection would then
        # come back paused, and the next request sent on it would never see its answer
        # (the gateway's 60 s upstream timeout, after a large download).
        connection.resume_reading()
        connection.idle_since = self.loop.time()
        idle.append(connection)

    def forget(self, connection: UpstreamConnection) -> None:
        """Drop a closed connection from the idle lists."""
        idle = self._idle.get(connection.address)
        if idle:
            with contextlib.suppress(ValueError):
                idle.remove(connection)

    def sweep(self, live: Collection[tuple[str, int]]) -> None:
        """Close connections idle too long, and those to addresses no longer ``live``."""
        oldest = self.loop.time() - self.idle_timeout
        for address in list(self._idle):
            idle = self._idle[address]
            keep = address in live
            for connection in list(idle):
                if not keep or connection.idle_since < oldest:
                    connection.close()
            if not self._idle.get(address):
                self._idle.pop(address, None)

    def idle_count(self, address: tuple[str, int]) -> int:
        return len(self._idle.get(address, ()))

    def close(self) -> None:
        """Close every idle connection; connections in use are closed when released."""
        self.closing = True
        for idle in list(self._idle.values()):
            for connection in list(idle):
                connection.close()
        self._idle.clear()
