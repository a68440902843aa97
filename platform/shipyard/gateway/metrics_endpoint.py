"""``GET /metrics``: the gateway's Prometheus endpoint.

Each worker serves it on a loopback port of its own (``MetricsEndpoint``), and its
dispatch sends ``/metrics`` there like any other call: a scrape goes through the same
size limits, timeouts, access log and request ids as everything else on the data path,
which needs no special case, and it is answered by the worker that took it (with several
workers, from all of their metrics merged, see ``gateway.metrics``).

Who may scrape: a holder of the ``metrics_token`` setting, sent as ``Authorization:
Bearer <token>`` (compared in constant time), or an administrator, with a SigV4
signature (checked off the event loop, as the store may be read). Without either, the
answer is 401; with credentials that do not hold, 403 — both in the error shape every
Shipyard answer has.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import cast

import httptools

from shipyard.errors import Forbidden, InvalidInput, NotFound, ShipyardError, Unauthorized
from shipyard.gateway.authentication import SIGV4, GatewayGuard, bearer_token, credentials_kind
from shipyard.gateway.dispatch import METRICS_PATH
from shipyard.gateway.headers import request_id_of
from shipyard.gateway.metrics import GatewayMetrics
from shipyard.gateway.responses import error_response

__all__ = ["SCRAPE_CREDENTIALS_NEEDED", "MetricsEndpoint"]

log = logging.getLogger(__name__)

SCRAPE_CREDENTIALS_NEEDED = (
    "/metrics needs credentials: the metrics token as 'Authorization: Bearer <token>', or "
    "an administrator's AWS Signature Version 4."
)
_MAX_REQUEST_BYTES = 64 * 1024


@dataclass(frozen=True)
class _Scrape:
    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body_sha256: str
    keep_alive: bool

    def header(self, wanted: bytes) -> bytes | None:
        for name, value in self.headers:
            if name.lower() == wanted:
                return value
        return None


class MetricsEndpoint:
    """Serves one worker's ``/metrics`` on a loopback port; ``start`` it on the loop."""

    def __init__(self, metrics: GatewayMetrics, guard: GatewayGuard, token: str) -> None:
        self.metrics = metrics
        self.guard = guard
        self._token = token.encode("latin-1") if token else None
        self._server: asyncio.Server | None = None
        self.connections: set[_ScrapeConnection] = set()

    async def start(self) -> tuple[str, int]:
        """Listen on a free loopback port; returns its address."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _ScrapeConnection(self), host="127.0.0.1", port=0
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def answer(self, scrape: _Scrape) -> bytes:
        """The whole HTTP/1.1 answer to one request."""
        request_id = request_id_of(scrape.header(b"x-request-id"))
        close = not scrape.keep_alive
        try:
            if scrape.target.partition(b"?")[0] != METRICS_PATH:
                raise NotFound("this port serves /metrics only")
            if scrape.method not in (b"GET", b"HEAD"):
                raise InvalidInput("/metrics answers GET and HEAD only")
            await self._authorize(scrape)
            self.metrics.flush()
            accept = scrape.header(b"accept")
            body, content_type = await asyncio.get_running_loop().run_in_executor(
                None, self.metrics.render, accept.decode("latin-1") if accept else None
            )
        except ShipyardError as error:
            return error_response(error, request_id, close)
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n"
        ).encode()
        connection = b"Connection: close\r\n" if close else b""
        if scrape.method == b"HEAD":
            body = b""
        return b"".join((head, b"X-Request-Id: ", request_id, b"\r\n", connection, b"\r\n", body))

    async def _authorize(self, scrape: _Scrape) -> None:
        token = bearer_token(scrape.headers)
        if token is not None:
            if self._token is not None and hmac.compare_digest(
                token.encode("latin-1"), self._token
            ):
                return
            raise Forbidden("the metrics token is not valid")
        if credentials_kind(scrape.target, scrape.headers) != SIGV4:
            raise Unauthorized(SCRAPE_CREDENTIALS_NEEDED)
        try:
            caller = await asyncio.get_running_loop().run_in_executor(
                None, self.guard.signer, scrape.method, scrape.target, scrape.headers,
                scrape.body_sha256,
            )
        except ShipyardError:
            raise  # a signature that does not hold: 403
        except Exception as error:
            log.error("checking a scraper's signature failed", exc_info=error)
            raise ShipyardError("the gateway could not check the credentials") from error
        if not caller.is_admin:
            raise Forbidden("only an administrator, or a holder of the metrics token, may "
                            "read /metrics")


class _ScrapeConnection(asyncio.Protocol):
    """One connection to the endpoint (the gateway's pooled one, usually): requests
    parsed with llhttp, answered in order."""

    def __init__(self, endpoint: MetricsEndpoint) -> None:
        self.endpoint = endpoint
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.closed = False
        self._size = 0
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body = hashlib.sha256()
        self._waiting: collections.deque[_Scrape] = collections.deque()
        self._serving: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.endpoint.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.endpoint.connections.discard(self)
        if self._serving is not None:
            self._serving.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, InvalidInput):
            self.close()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()

    # -- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._size = 0
        self._url = b""
        self._headers = []
        self._body = hashlib.sha256()

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        self._count(len(name) + len(value))

    def on_body(self, body: bytes) -> None:
        self._body.update(body)
        self._count(len(body))

    def on_message_complete(self) -> None:
        self._waiting.append(_Scrape(
            self.parser.get_method(), self._url, self._headers, self._body.hexdigest(),
            self.parser.should_keep_alive(),
        ))
        if self._serving is None:
            self._serving = asyncio.get_running_loop().create_task(self._serve())

    def _count(self, size: int) -> None:
        self._size += size
        if self._size > _MAX_REQUEST_BYTES:
            raise InvalidInput("request too large")

    async def _serve(self) -> None:
        while self._waiting and not self.closed:
            scrape = self._waiting.popleft()
            answer = await self.endpoint.answer(scrape)
            if self.closed or self.transport is None:
                return
            self.transport.write(answer)
            if not scrape.keep_alive:
                self.close()
                return
        self._serving = None
