"""Headers across the gateway: what is kept, what is dropped, what is added, both ways.

Hop-by-hop headers (``Connection`` and the names it lists, ``Keep-Alive``, ``Proxy-*``,
``TE``, ``Trailer``, ``Transfer-Encoding``, ``Upgrade``) describe one connection, so they
never cross the gateway; it frames each side itself. ``X-Request-Id`` and the
``X-Forwarded-*`` headers are the gateway's to set (``X-Forwarded-Prefix`` is the route's,
among its ``instance_headers``).

A browser's console credentials (its session and CSRF cookies, the ``X-CSRF-Token``
header) go to the control plane only, never to a service's code: the gateway checks them
itself. And every answer of a service is sandboxed (``Content-Security-Policy: sandbox``),
so that a page a service serves, on the console's own origin, runs as an origin of its
own: it cannot read the console's cookies nor call the API with them.
"""

from __future__ import annotations

import random
import re

from shipyard.contracts.query_record import (
    ASSOCIATION_COLUMNS_HEADER,
    ASSOCIATION_ID_HEADER,
    ASSOCIATION_REQUIRED_HEADER,
    BATCH_JOB_HEADER,
    PREDICTIONS_HEADER,
    WARNING_BOUNDARIES_HEADER,
    WARNINGS_HEADER,
)
from shipyard.errors import InvalidInput

__all__ = [
    "RequestHeaders",
    "ResponseHeaders",
    "request_id_of",
]

HeaderList = list[tuple[bytes, bytes]]

_HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade",
})
_REQUEST_REPLACED = frozenset({
    b"x-request-id", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host",
    b"x-forwarded-prefix", b"expect", b"host",
})
_RESPONSE_REPLACED = frozenset({b"x-request-id", b"x-shipyard-generation"})
# Set by the gateway alone (from the service's settings), never passed on from a caller.
_GATEWAY_ONLY = frozenset({ASSOCIATION_COLUMNS_HEADER.lower().encode(),
                           ASSOCIATION_REQUIRED_HEADER.lower().encode(),
                           WARNING_BOUNDARIES_HEADER.lower().encode()})
_CONNECTION_OPTIONS = frozenset({b"close", b"keep-alive"})
_CONSOLE_COOKIES = (b"shipyard_session=", b"shipyard_csrf=")
_CSRF_HEADER = b"x-csrf-token"
SERVICE_SANDBOX = (b"Content-Security-Policy: sandbox allow-scripts allow-forms allow-popups "
                   b"allow-downloads\r\n")
# A page a service serves runs sandboxed, in an opaque origin ("null", and no Referer), so
# what it fetches from its service is a cross-origin read. A sandboxed page may read what a
# public service answers a GET or HEAD, which any caller may: never with credentials (an
# opaque origin sends none, and this does not allow them), never another access level's.
SERVED_PAGE_READ = b"Access-Control-Allow-Origin: null\r\nVary: Origin\r\n"
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:+=/-]{0,127}")
_DIGITS = re.compile(rb"[0-9]{1,18}")
_ASSOCIATION_ID = ASSOCIATION_ID_HEADER.lower().encode("ascii")
_BATCH_JOB = BATCH_JOB_HEADER.lower().encode("ascii")
_BATCH_JOB_CHARS = 64
# The query log's association_id column holds this many characters.
_ASSOCIATION_ID_CHARS = 255


# The version (4) and variant (10) bits of a random UUID.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def request_id_of(value: bytes | None) -> bytes:
    """The caller's request id when it is a sane token of at most 128 characters, else a
    new one (a random UUID, as 32 hex digits)."""
    if value is not None and _SANE_REQUEST_ID.fullmatch(value):
        return value
    # The random module's generator, reseeded in every forked worker, instead of uuid4():
    # ids need to be unique, not secret, and this costs no system call.
    return b"%032x" % ((random.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET)


def _hop_names(connection_values: list[bytes]) -> frozenset[bytes]:
    named = {
        token.strip().lower() for value in connection_values for token in value.split(b",")
    }
    return frozenset(named - _CONNECTION_OPTIONS - {b""})


def _is_hop_by_hop(lowered: bytes) -> bool:
    return lowered in _HOP_BY_HOP or lowered.startswith(b"proxy-")


class RequestHeaders:
    """One request's headers, sorted into what is forwarded and what the gateway uses."""

    __slots__ = (
        "association_id", "batch_job", "chunked", "console", "content_length", "expect_continue",
        "forwarded_for", "forwarded_host", "forwarded_proto", "host", "kept", "null_origin",
        "request_id", "target_generation",
    )

    def __init__(self, headers: HeaderList) -> None:
        kept: HeaderList = []
        connection: list[bytes] = []
        self.host: bytes | None = None
        self.content_length: int | None = None
        self.chunked = False
        self.expect_continue = False
        self.target_generation: str | None = None
        self.association_id: str | None = None
        # The batch job the call says it is of; the gateway holds it to its credentials.
        self.batch_job: str | None = None
        self.forwarded_for: bytes | None = None
        self.forwarded_proto: bytes | None = None
        self.forwarded_host: bytes | None = None
        # Whether the console's credentials came, which go to the control plane only.
        self.console = False
        given_id: bytes | None = None
        transfer_encoding = False
        # A sandboxed page's request (see ``SERVED_PAGE_READ``).
        self.null_origin = False
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-length":
                if self.content_length is not None or not _DIGITS.fullmatch(value.strip()):
                    raise InvalidInput("invalid Content-Length header")
                self.content_length = int(value)
                kept.append((name, value))
            elif _is_hop_by_hop(lowered):
                if lowered == b"connection":
                    connection.append(value)
                elif lowered == b"transfer-encoding":
                    transfer_encoding = True
                    self.chunked = value.strip().lower() == b"chunked"
            elif lowered in _REQUEST_REPLACED:
                if lowered == b"host":
                    if self.host is not None:  # RFC 9112, 3.2: answered 400
                        raise InvalidInput("a request may carry only one Host header")
                    self.host = value
                elif lowered == b"x-request-id":
                    given_id = value
                elif lowered == b"expect":
                    self.expect_continue = value.strip().lower() == b"100-continue"
                elif lowered == b"x-forwarded-for":
                    self.forwarded_for = value
                elif lowered == b"x-forwarded-proto":
                    self.forwarded_proto = value
                elif lowered == b"x-forwarded-host":
                    self.forwarded_host = value
                # x-forwarded-prefix is the route's to set (``instance_headers``).
            else:
                if lowered.startswith(b"x-shipyard-"):
                    if lowered == b"x-shipyard-target-generation":
                        self.target_generation = value.strip().decode("latin-1")
                    elif lowered == _ASSOCIATION_ID:
                        self.association_id = (
                            value.strip()[:_ASSOCIATION_ID_CHARS].decode("latin-1")
                        )
                    elif lowered == _BATCH_JOB:
                        self.batch_job = value.strip()[:_BATCH_JOB_CHARS].decode("latin-1")
                    elif lowered in _GATEWAY_ONLY:
                        continue
                elif lowered == _CSRF_HEADER or (
                    lowered == b"cookie" and b"shipyard_" in value
                ):
                    self.console = True
                elif lowered == b"origin" and value == b"null":
                    self.null_origin = True
                kept.append((name, value))
        if transfer_encoding and self.content_length is not None:
            raise InvalidInput("a request may not carry both Transfer-Encoding and Content-Length")
        if transfer_encoding and not self.chunked:
            raise InvalidInput("the only transfer coding accepted is chunked")
        if connection:
            named = _hop_names(connection)
            if named:
                kept = [(n, v) for n, v in kept if n.lower() not in named]
        self.kept = kept
        self.request_id = request_id_of(given_id)

    def head(
        self,
        method: bytes,
        path: bytes,
        default_host: bytes,
        peer: bytes,
        trust_forwarded: bool,
        added: bytes = b"",
        to_control_plane: bool = False,
    ) -> list[bytes]:
        """The request head for the upstream, as pieces to join, with the ``added`` header
        lines (the route's ``instance_headers``) and without the framing header (the
        caller adds ``Transfer-Encoding`` when it re-chunks). The console's credentials
        go only ``to_control_plane``."""
        host = self.host if self.host is not None else default_host
        forwarded_for = peer
        proto = b"http"
        forwarded_host = host
        if trust_forwarded:
            if self.forwarded_for:
                forwarded_for = self.forwarded_for + b", " + peer
            proto = self.forwarded_proto or proto
            forwarded_host = self.forwarded_host or host
        pieces = [method, b" ", path, b" HTTP/1.1\r\nHost: ", host, b"\r\n"]
        kept = self.kept
        if self.console and not to_control_plane:
            kept = _without_console_credentials(kept)
        for name, value in kept:
            pieces += (name, b": ", value, b"\r\n")
        pieces += (
            b"X-Request-Id: ", self.request_id,
            b"\r\nX-Forwarded-For: ", forwarded_for,
            b"\r\nX-Forwarded-Proto: ", proto,
            b"\r\nX-Forwarded-Host: ", forwarded_host, b"\r\n",
        )
        if added:
            pieces.append(added)
        if self.chunked:
            pieces.append(b"Transfer-Encoding: chunked\r\n")
        pieces.append(b"\r\n")
        return pieces


def _without_console_credentials(headers: HeaderList) -> HeaderList:
    kept: HeaderList = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == _CSRF_HEADER:
            continue
        if lowered == b"cookie":
            value = b"; ".join(
                pair for pair in (piece.strip() for piece in value.split(b";"))
                if pair and not pair.startswith(_CONSOLE_COOKIES)
            )
            if not value:
                continue
        kept.append((name, value))
    return kept


_PREDICTIONS = PREDICTIONS_HEADER.lower().encode()
_WARNINGS = WARNINGS_HEADER.lower().encode()
_MAX_PREDICTIONS = 2**53


def _count(value: bytes) -> int | None:
    """A non-negative decimal count, or None for anything else."""
    text = value.strip()
    if not text.isdigit() or len(text) > 16:
        return None
    count = int(text)
    return count if count <= _MAX_PREDICTIONS else None


class ResponseHeaders:
    """An upstream answer's headers, sorted into what is passed back and its framing."""

    __slots__ = ("allows_origins", "chunked", "content_length", "kept", "predictions",
                 "warnings")

    def __init__(self, headers: HeaderList) -> None:
        kept: HeaderList = []
        connection: list[bytes] = []
        # The service answers CORS itself: the gateway adds no second Allow-Origin, which
        # a browser would refuse.
        self.allows_origins = False
        self.content_length: bytes | None = None
        self.chunked = False
        self.predictions: int | None = None
        self.warnings: int | None = None
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-length":
                self.content_length = value
            elif lowered == _PREDICTIONS:
                self.predictions = _count(value)
                kept.append((name, value))
            elif lowered == _WARNINGS:
                self.warnings = _count(value)
                kept.append((name, value))
            elif _is_hop_by_hop(lowered):
                if lowered == b"connection":
                    connection.append(value)
                elif lowered == b"transfer-encoding":
                    self.chunked = True
            elif lowered not in _RESPONSE_REPLACED:
                if lowered == b"access-control-allow-origin":
                    self.allows_origins = True
                kept.append((name, value))
        if connection:
            named = _hop_names(connection)
            if named:
                kept = [(n, v) for n, v in kept if n.lower() not in named]
        self.kept = kept

    @property
    def sized(self) -> bool:
        """Whether the body's length is declared (and not overridden by chunking)."""
        return self.content_length is not None and not self.chunked

    def head(
        self,
        status: int,
        reason: bytes,
        chunked: bool,
        close: bool,
        http11: bool,
        generation: str | None,
        request_id: bytes,
        control_plane_line: bytes = b"",
        served_page: bool = False,
    ) -> bytes:
        """The answer's head for the client. ``chunked``: the gateway re-chunks the body;
        ``close``: the connection closes after this answer; ``control_plane_line``: a
        header line added to an answer that is not a service's (the routing table's
        serial); ``served_page``: a service's answer to a page the gateway served, which
        may read it (``SERVED_PAGE_READ``)."""
        pieces = [b"HTTP/1.1 %d " % status, reason, b"\r\n"]
        for name, value in self.kept:
            pieces += (name, b": ", value, b"\r\n")
        if chunked:
            pieces.append(b"Transfer-Encoding: chunked\r\n")
        elif self.content_length is not None and not self.chunked:
            pieces += (b"Content-Length: ", self.content_length, b"\r\n")
        if close:
            pieces.append(b"Connection: close\r\n")
        elif not http11:
            pieces.append(b"Connection: keep-alive\r\n")
        if generation is not None:  # a service's answer
            pieces += (b"X-Shipyard-Generation: ", generation.encode(), b"\r\n",
                       SERVICE_SANDBOX)
            if served_page and not self.allows_origins:
                pieces.append(SERVED_PAGE_READ)
        else:
            pieces.append(control_plane_line)
        pieces += (b"X-Request-Id: ", request_id, b"\r\n\r\n")
        return b"".join(pieces)
