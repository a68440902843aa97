"""One keep-alive connection from the gateway to an upstream (an instance or the API).

It sends one request at a time and parses the answer with llhttp (``httptools``), handing
the head, each piece of the body and the end to a ``ResponseSink``. Parser callbacks only
record and forward; what follows the end of an answer (giving the connection back to the
pool, starting the next request) runs after the parser has returned, never inside it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, cast

import httptools

if TYPE_CHECKING:
    from shipyard.gateway.pool import ConnectionPool

__all__ = ["ResponseSink", "UpstreamConnection"]

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024


class _HeadTooLarge(Exception):
    pass


class ResponseSink(Protocol):
    """What receives an upstream's answer: the exchange that sent the request."""

    def response_head(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], keep_alive: bool
    ) -> None: ...

    def response_body(self, chunk: bytes) -> None: ...

    def response_flush(self, complete: bool) -> None: ...

    def upstream_lost(self, connection: UpstreamConnection, error: str | None) -> None: ...

    def upstream_write_paused(self, paused: bool) -> None: ...


class UpstreamConnection(asyncio.Protocol):
    """A connection to one upstream address, reused for one request after another."""

    def __init__(
        self,
        pool: ConnectionPool,
        address: tuple[str, int],
        ready: Callable[[UpstreamConnection], None] | None = None,
    ) -> None:
        self.pool = pool
        self.address = address
        self._ready = ready
        self.transport: asyncio.Transport | None = None
        self.sink: ResponseSink | None = None
        self.closed = False
        self.requests = 0
        self.received = False
        self.idle_since = 0.0
        self._parser: httptools.HttpResponseParser | None = None
        self._head_only = False
        self._interim = False
        self._headed = False
        self._complete = False
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_size = 0

    # -- used by the exchange ------------------------------------------------------------

    def send(self, sink: ResponseSink, data: bytes, head_only: bool) -> None:
        """Send a request (its head and what is known of its body) and expect its answer."""
        self.sink = sink
        self.requests += 1
        self.received = False
        if self._parser is None or self._head_only:
            # llhttp reads the answers of a keep-alive connection one after the other,
            # but cannot know that the answer to a HEAD has no body: after one, a new
            # parser, else it would take the next answer for that body.
            self._parser = httptools.HttpResponseParser(self)
        self._head_only = head_only
        self._interim = self._headed = self._complete = False
        self._reason = b""
        self._headers = []
        self._head_size = 0
        self.write(data)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.pool.writes.write(self.transport, data)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def close(self) -> None:
        """Close, dropping whatever is in flight; the connection is not reused."""
        self.sink = None
        if not self.closed:
            self.closed = True
            self.pool.forget(self)
            if self.transport is not None:
                self.transport.abort()

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        ready, self._ready = self._ready, None
        if ready is not None:
            ready(self)

    def data_received(self, data: bytes) -> None:
        sink = self.sink
        parser = self._parser
        if sink is None or parser is None:
            # Bytes nobody asked for: the connection's framing cannot be trusted any more.
            self.close()
            return
        self.received = True
        try:
            parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            # A protocol switch was never asked for (Upgrade is not forwarded): as invalid.
            reason = str(exc) or "a protocol switch"
            if isinstance(exc, httptools.HttpParserCallbackError):
                reason = str(exc.__context__)
                if not isinstance(exc.__context__, _HeadTooLarge):
                    log.error("handling an upstream answer failed", exc_info=exc.__context__)
            self.sink = None
            sink.upstream_lost(self, f"answered with invalid HTTP ({reason})")
            self.close()
            return
        if self.sink is sink:
            sink.response_flush(self._complete)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        sink, self.sink = self.sink, None
        if sink is not None:
            sink.upstream_lost(self, None if exc is None else f"connection failed: {exc}")

    def pause_writing(self) -> None:
        if self.sink is not None:
            self.sink.upstream_write_paused(True)

    def resume_writing(self) -> None:
        if self.sink is not None:
            self.sink.upstream_write_paused(False)

    # -- httptools callbacks -------------------------------------------------------------

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        self._head_size += len(name) + len(value) + 4
        if self._head_size > MAX_HEAD_BYTES:
            raise _HeadTooLarge(f"a head over {MAX_HEAD_BYTES} bytes")

    def on_headers_complete(self) -> None:
        assert self._parser is not None and self.sink is not None
        status = self._parser.get_status_code()
        if status < 200:
            # An interim answer (100 Continue, 103 Early Hints): skipped, the final one follows.
            self._interim = True
            return
        self._headed = True
        self.sink.response_head(status, self._reason, self._headers,
                                self._parser.should_keep_alive())
        if self._head_only:
            self._complete = True

    def on_body(self, body: bytes) -> None:
        if not self._complete and self.sink is not None:
            self.sink.response_body(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            self._reason = b""
            self._headers = []
            self._head_size = 0
            return
        self._complete = True

    @property
    def headed(self) -> bool:
        """Whether the current answer's head has arrived."""
        return self._headed
