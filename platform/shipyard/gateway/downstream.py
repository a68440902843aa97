"""One client connection to the gateway: HTTP/1.x requests parsed with llhttp
(``httptools``), answered one after the other.

Each request becomes an ``Exchange`` as soon as its head is parsed; exchanges are started
in order, once the answers before them are done, so pipelined requests are answered in
order. The connection is closed after an answer when either side asked for it, when the
gateway is stopping, or when a request was answered before it was fully read (then the
gateway half-closes and discards what still arrives for a moment, so the client reads
the answer instead of a reset).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import TYPE_CHECKING, cast

import httptools

from shipyard.errors import InvalidInput
from shipyard.gateway.access import log_call
from shipyard.gateway.exchange import Exchange
from shipyard.gateway.headers import request_id_of
from shipyard.gateway.responses import error_response

if TYPE_CHECKING:
    from shipyard.gateway.server import Gateway

__all__ = ["ClientConnection"]

log = logging.getLogger(__name__)

# Pipelined requests parsed ahead of the one being answered, before reading pauses.
PIPELINE_LIMIT = 8
# llhttp bounds nothing: a request line and headers past this are refused.
MAX_HEAD_BYTES = 64 * 1024
LINGER_SECONDS = 2.0


class ClientConnection(asyncio.Protocol):
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.loop = gateway.loop
        self.transport: asyncio.Transport | None = None
        self.peer = b""
        self.write_paused = False
        self.closed = False
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_size = 0
        self._parsing: Exchange | None = None
        self._active: Exchange | None = None
        self._waiting: collections.deque[Exchange] = collections.deque()
        self._pauses: set[str] = set()
        self._advancing = False
        self._malformed = False
        self._lingering = False
        self._last_data = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]).encode() if peer else b"unknown"
        self.gateway.connections.add(self)
        self._last_data = self.loop.time()
        self._timer = self.loop.call_later(
            self.gateway.settings.client_timeout, self._check_client
        )

    def data_received(self, data: bytes) -> None:
        if self._lingering or self._malformed:
            return
        self._last_data = self.loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # The gateway switches no protocol: the request is answered as a plain one
            # (its Upgrade header dropped) and the connection closed after it; what the
            # client sent after it is not HTTP.
            self._stop_reading()
        except httptools.HttpParserError as exc:
            self._request_malformed(exc)
        self._advance()

    def eof_received(self) -> bool:
        if self._active is None or self._lingering:
            return False
        # Half-closed by the client after its request: the answer can still be sent.
        self._active.close_after = True
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.gateway.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        active, self._active = self._active, None
        if active is not None:
            active.client_lost()
        while self._waiting:
            self._waiting.popleft().client_lost()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self._active is not None:
            self._active.client_write_paused(True)

    def resume_writing(self) -> None:
        self.write_paused = False
        if self._active is not None:
            self._active.client_write_paused(False)

    # -- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._head_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        self._count_head(len(name) + len(value) + 4)

    def _count_head(self, size: int) -> None:
        self._head_size += size
        if self._head_size > MAX_HEAD_BYTES:
            raise InvalidInput(f"the request head is over {MAX_HEAD_BYTES} bytes")

    def on_headers_complete(self) -> None:
        parser = self._parser
        exchange = Exchange(
            self, parser.get_method(), self._url, self._headers,
            parser.get_http_version() == "1.1", parser.should_keep_alive(),
        )
        if self.gateway.stopping or parser.should_upgrade():
            exchange.close_after = True
        self._parsing = exchange
        self._waiting.append(exchange)
        if len(self._waiting) > PIPELINE_LIMIT:
            self.pause_reading("pipeline")

    def on_body(self, body: bytes) -> None:
        if self._parsing is not None:
            self._parsing.feed_body(body)

    def on_message_complete(self) -> None:
        if self._parsing is not None:
            self._parsing.end_body()
            self._parsing = None

    # -- used by exchanges ---------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.gateway.writes.write(self.transport, data)

    def pause_reading(self, reason: str) -> None:
        if not self._pauses and self.transport is not None and not self.closed:
            self.transport.pause_reading()
        self._pauses.add(reason)

    def resume_reading(self, reason: str) -> None:
        if reason not in self._pauses:
            return
        self._pauses.discard(reason)
        if not self._pauses and self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def exchange_finished(self, exchange: Exchange) -> None:
        """``exchange`` has answered; go on with the next request, or close."""
        if exchange is not self._active:
            return
        self._active = None
        self._last_data = self.loop.time()
        if exchange.close_after or self.gateway.stopping:
            if exchange.body_complete and self._parsing is None:
                self.close()
            else:
                self._linger()
            return
        if not self._advancing:
            self._advance()

    def abort(self) -> None:
        """Cut the connection: an answer already begun cannot be completed."""
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.gateway.writes.flush()  # what is held for it leaves first
            self.transport.close()

    def shutdown(self) -> None:
        """The gateway is stopping: close now if idle, else after the answer in flight."""
        if self._active is None and not self._waiting:
            self.close()

    # -- internals -----------------------------------------------------------------------

    def _advance(self) -> None:
        self._advancing = True
        try:
            while self._active is None and self._waiting and not self.closed:
                exchange = self._waiting.popleft()
                if len(self._waiting) <= PIPELINE_LIMIT:
                    self.resume_reading("pipeline")
                self._active = exchange
                exchange.start()
        finally:
            self._advancing = False
        if self._malformed and self._active is None and not self._waiting:
            self._linger()

    def _request_malformed(self, exc: Exception) -> None:
        cause = exc.__context__
        if isinstance(cause, InvalidInput):
            error = cause
        else:
            if isinstance(exc, httptools.HttpParserCallbackError):
                log.error("handling a request failed", exc_info=cause)
            error = InvalidInput(f"malformed HTTP request: {exc}")
        self._malformed = True
        self._stop_reading()
        exchange, self._parsing = self._parsing, None
        if exchange is not None:
            exchange.fail(error)
        elif self._active is None and not self._waiting:
            request_id = request_id_of(None)
            self.write(error_response(error, request_id, close=True))
            if self.gateway.settings.access_log:
                log_call("-", None, b"-", self._url or b"-", error.http_status, 0.0, 0,
                         request_id)

    def _stop_reading(self) -> None:
        self.pause_reading("stopped")

    def _linger(self) -> None:
        transport = self.transport
        if transport is None or self.closed or self._lingering:
            return
        self._lingering = True
        self._pauses.clear()
        transport.resume_reading()
        if transport.can_write_eof():
            self.gateway.writes.flush()
            transport.write_eof()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(LINGER_SECONDS, self.close)

    def _check_client(self) -> None:
        """Close a connection idle, or stalled mid-request, for ``client_timeout``."""
        self._timer = None
        if self.closed:
            return
        timeout = self.gateway.settings.client_timeout
        active = self._active
        waiting_on_client = active is None or not active.body_complete
        waited = self.loop.time() - self._last_data
        if waiting_on_client and waited >= timeout:
            if active is not None:
                self.abort()
            else:
                self.close()
            return
        delay = timeout - waited if waiting_on_client else timeout
        self._timer = self.loop.call_later(max(delay, 0.05), self._check_client)
