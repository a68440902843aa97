"""Who may call a service through the gateway.

A call to a service that is not public is held (nothing is forwarded, its body is kept)
until its credentials are checked: an API key or a browser's session cookie as soon as the
head has arrived, a SigV4 signature once the whole body has (its hash is part of what was
signed). A session's call that changes state (any method but GET, HEAD and OPTIONS) also
needs its CSRF token, as on the API. A check whose
key is cached runs at once, on the event loop; one that must look a key up in the store
runs in a worker thread, while the loop goes on serving other calls. The ``/metrics``
endpoint asks who signed a scrape (``GatewayGuard.signer``) or reads its bearer token
(``bearer_token``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime

from shipyard.contracts.routing_table import ServiceRoute
from shipyard.errors import Forbidden, ShipyardError, Unauthorized
from shipyard.iam.authenticator import CREDENTIALS_NEEDED, Authenticator, NotCached
from shipyard.iam.browser_sessions import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE
from shipyard.iam.canonical import SignedRequest
from shipyard.iam.principals import Caller, may_invoke

__all__ = [
    "API_KEY", "SESSION", "SIGV4", "GatewayGuard", "bearer_token", "credentials_kind",
    "session_token",
]

SIGV4 = "sigv4"
API_KEY = "api_key"
SESSION = "session"
_SESSION_COOKIE = SESSION_COOKIE.encode("ascii")
_CSRF_HEADER = CSRF_HEADER.lower().encode("ascii")
_SAFE_METHODS = frozenset(method.encode("ascii") for method in SAFE_METHODS)
_PRESIGN_MARKER = re.compile(rb"X-Amz-(?:Signature|Credential|Algorithm)=")

Outcome = Callable[[Caller | None, ShipyardError | None], None]


def credentials_kind(target: bytes, raw_headers: list[tuple[bytes, bytes]]) -> str | None:
    """``SIGV4``, ``API_KEY``, ``SESSION`` or None: what the request offers to prove who it
    is, in that order of preference."""
    for name, value in raw_headers:
        lowered = name.lower()
        if lowered == b"authorization" and value.lstrip().startswith(b"AWS4-"):
            return SIGV4
    _, _, query = target.partition(b"?")
    if query and _PRESIGN_MARKER.search(query) is not None:
        return SIGV4
    for name, _ in raw_headers:
        if name.lower() == b"x-api-key":
            return API_KEY
    if session_token(raw_headers) is not None:
        return SESSION
    return None


def session_token(raw_headers: list[tuple[bytes, bytes]]) -> str | None:
    """The console session's token from the ``Cookie`` headers, or None."""
    for name, value in raw_headers:
        if name.lower() == b"cookie" and _SESSION_COOKIE in value:
            for pair in value.split(b";"):
                key, _, token = pair.strip().partition(b"=")
                if key == _SESSION_COOKIE and token:
                    return token.decode("latin-1")
    return None


def _header(raw_headers: list[tuple[bytes, bytes]], lowered: bytes) -> str | None:
    for name, value in raw_headers:
        if name.lower() == lowered:
            return value.decode("latin-1").strip()
    return None


def api_key_of(raw_headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in raw_headers:
        if name.lower() == b"x-api-key":
            return value.decode("latin-1").strip()
    return None


def bearer_token(raw_headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    for name, value in raw_headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer":
                return token.strip().decode("latin-1")
    return None


class GatewayGuard:
    """Checks callers against a service's access level, off the event loop."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    def check(
        self,
        loop: asyncio.AbstractEventLoop,
        route: ServiceRoute,
        method: bytes,
        target: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        body_sha256: str | None,
        done: Outcome,
    ) -> None:
        """Check, and call ``done(caller, None)`` or ``done(None, error)`` on the loop."""
        arrived = datetime.now(UTC)
        try:
            caller = self._authorize(route, method, target, raw_headers, body_sha256, arrived,
                                     cached_only=True)
        except NotCached:
            pass
        except ShipyardError as error:
            done(None, error)
            return
        else:
            done(caller, None)
            return
        future = loop.run_in_executor(
            None, self._authorize, route, method, target, raw_headers, body_sha256, arrived
        )

        def _finished(result: asyncio.Future[Caller]) -> None:
            error = result.exception()
            if error is None:
                done(result.result(), None)
            elif isinstance(error, ShipyardError):
                done(None, error)
            else:
                done(None, ShipyardError("the gateway could not check the credentials"))

        future.add_done_callback(_finished)

    def signer(
        self,
        method: bytes,
        target: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        body_sha256: str,
    ) -> Caller:
        """Who signed this request (SigV4); raises ``SignatureRejected`` for a signature
        that does not hold. It may look a key up in the store: call it off the loop."""
        return self.authenticator.verify_signature(
            _signed_request(method, target, raw_headers, body_sha256, datetime.now(UTC))
        )

    def _authorize(
        self,
        route: ServiceRoute,
        method: bytes,
        target: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        body_sha256: str | None,
        arrived: datetime,
        cached_only: bool = False,
    ) -> Caller:
        if body_sha256 is not None:
            request = _signed_request(method, target, raw_headers, body_sha256, arrived)
            caller = self.authenticator.verify_signature(request, cached_only=cached_only)
        elif (api_key := api_key_of(raw_headers)) is not None:
            caller = self.authenticator.verify_api_key(api_key, cached_only=cached_only)
        elif (token := session_token(raw_headers)) is not None:
            caller = self.authenticator.verify_session(
                token, _header(raw_headers, _CSRF_HEADER),
                unsafe=method.upper() not in _SAFE_METHODS, cached_only=cached_only,
            )
        else:
            raise Unauthorized(CREDENTIALS_NEEDED)
        if not may_invoke(caller, route.id, route.access_level, route.project_id):
            raise Forbidden(f"you may not call service {route.name!r}")
        return caller


def _signed_request(
    method: bytes,
    target: bytes,
    raw_headers: list[tuple[bytes, bytes]],
    body_sha256: str,
    arrived: datetime,
) -> SignedRequest:
    return SignedRequest.received(method, target, raw_headers, now=arrived,
                                  body_sha256=body_sha256)
