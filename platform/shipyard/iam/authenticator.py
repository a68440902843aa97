"""From a request's credentials to a ``Caller``: SigV4 (header or presigned query), an
API key, a browser's session cookie, or none.

The same ``Authenticator`` serves the Flask API (called in its request threads) and the
gateway (called in a worker thread, off its event loop). Keys are looked up in the store
and kept for ``cache_seconds``, so a revocation takes effect within that time; an unknown
key and a bad signature are told apart only in the server's log.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from shipyard.errors import Forbidden, Unauthorized, Unavailable
from shipyard.iam.access_keys import ResolvedKey
from shipyard.iam.authorization import is_sigv4_signed
from shipyard.iam.browser_sessions import SessionGrant, token_digest
from shipyard.iam.canonical import SignedRequest
from shipyard.iam.principals import ANONYMOUS, Caller
from shipyard.iam.rejection import SignatureRejected
from shipyard.iam.sigv4 import SigningSecret, Verifier

__all__ = [
    "API_KEY_REJECTED", "CREDENTIALS_NEEDED", "CSRF_REFUSED", "SESSION_ENDED", "Authenticator",
    "NotCached", "require_authenticated",
]

log = logging.getLogger(__name__)

API_KEY_REJECTED = "The API key is not valid."
CREDENTIALS_NEEDED = (
    "This needs credentials: sign the request with AWS Signature Version 4, or send an "
    "API key in the X-Api-Key header."
)
SESSION_ENDED = "The session has ended (signed out or expired): sign in again."
CSRF_REFUSED = (
    "A change made with a browser's session needs the session's CSRF token in the "
    "X-CSRF-Token header; it is missing or wrong."
)

KeyResolver = Callable[[str], "ResolvedKey | None"]
ApiKeyResolver = Callable[[str], "Caller | None"]
SessionResolver = Callable[[str], "SessionGrant | None"]


class NotCached(Exception):
    """A check asked to use only what is cached needs a key that is not (or is stale)."""


class _TimedCache:
    """Values looked up by key and kept for ``ttl`` seconds. Concurrent lookups of one
    stale key load it once: the others wait for that load rather than each asking the
    store (a busy gateway would otherwise send every call in flight to the store each
    time a key ages out).

    A stale value whose load fails because the store cannot be reached (``Unavailable``)
    is kept for another ``ttl``, so that the gateway goes on serving the callers it knows
    through a database outage. That lets nothing through that could have been refused:
    while the store is away nothing can be revoked either, and a key unknown here is
    still refused."""

    def __init__(self, ttl: float, max_size: int = 4096) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._entries: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, key: str, load: Callable[[str], object], cached_only: bool = False) -> object:
        """The value of ``key``, loaded when missing or stale; with ``cached_only``,
        ``NotCached`` rather than a load."""
        # A dict read is atomic: the hit path takes no lock.
        hit = self._entries.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        if cached_only:
            raise NotCached(key)
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        try:
            with loading:
                hit = self._entries.get(key)
                now = time.monotonic()
                if hit is not None and now - hit[0] < self.ttl:
                    return hit[1]  # loaded while this one waited
                try:
                    value = load(key)
                except Unavailable as exc:
                    if hit is None:
                        raise
                    log.warning("kept a credential known %.0f s ago: %s",
                                now - hit[0], exc.message)
                    value = hit[1]
                with self._lock:
                    if len(self._entries) >= self.max_size:
                        self._entries.clear()
                    self._entries[key] = (now, value)
                return value
        finally:
            with self._lock:
                if self._loading.get(key) is loading:
                    del self._loading[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class _KnownKey(SigningSecret):
    """One lookup of an access key: its secret with the signing keys derived from it (see
    ``SigningSecret``) and what else it resolved to, dropped together when the lookup
    ages out."""

    __slots__ = ("key_id", "resolved")

    def __init__(self, key_id: str, resolved: ResolvedKey) -> None:
        super().__init__(resolved.secret)
        self.key_id = key_id
        self.resolved = resolved


class Authenticator:
    def __init__(
        self,
        resolve_access_key: KeyResolver,
        resolve_api_key: ApiKeyResolver,
        *,
        services: Iterable[str],
        clock_skew: timedelta = timedelta(minutes=5),
        cache_seconds: float = 2.0,
        resolve_session: SessionResolver | None = None,
    ) -> None:
        self._access_keys = _TimedCache(cache_seconds)
        self._api_keys = _TimedCache(cache_seconds)
        self._sessions = _TimedCache(cache_seconds)
        self._resolve_access_key = resolve_access_key
        self._resolve_api_key = resolve_api_key
        self._resolve_session = resolve_session or (lambda _token: None)
        self.verifier = Verifier(self._secret_of, services, clock_skew=clock_skew)
        self._cached_verifier = Verifier(self._cached_secret_of, services,
                                         clock_skew=clock_skew)

    def authenticate(self, request: SignedRequest, api_key: str | None) -> Caller:
        """The caller a request's credentials stand for; ``ANONYMOUS`` when it has none.

        Raises ``SignatureRejected`` or ``Forbidden`` for credentials that do not hold.
        """
        if is_sigv4_signed(request):
            return self.verify_signature(request)
        if api_key is not None:
            return self.verify_api_key(api_key)
        return ANONYMOUS

    def verify_signature(self, request: SignedRequest, *, cached_only: bool = False) -> Caller:
        """The caller who signed ``request``. With ``cached_only``, raises ``NotCached``
        rather than look a key up in the store."""
        verifier = self._cached_verifier if cached_only else self.verifier
        try:
            known = verifier.signing_secret(request)
        except SignatureRejected as rejection:
            log.info("signature rejected: %s", rejection.reason)
            raise
        assert isinstance(known, _KnownKey)  # what this authenticator's lookups return
        resolved = known.resolved
        # Said only now: the signature proved the caller holds the key's secret.
        if resolved.expired(request.now):
            log.info("signature rejected: access key %s expired", known.key_id)
            raise SignatureRejected(SignatureRejected.KEY_EXPIRED,
                                    reason=f"access key {known.key_id} expired")
        return resolved.caller

    def verify_api_key(self, raw: str, *, cached_only: bool = False) -> Caller:
        caller = self._api_keys.get(raw, self._resolve_api_key, cached_only)
        if not isinstance(caller, Caller):
            log.info("API key rejected")
            raise Forbidden(API_KEY_REJECTED)
        return caller

    def verify_session(
        self, token: str, csrf_token: str | None, *, unsafe: bool, cached_only: bool = False,
    ) -> Caller:
        """The user signed in with the session cookie ``token``. A state-changing
        (``unsafe``) request must also bring the session's CSRF token."""
        # Cached under the token's digest: no raw session token stays in memory.
        grant = self._sessions.get(token_digest(token), self._session_of_digest(token),
                                   cached_only)
        if not isinstance(grant, SessionGrant) or grant.expired(datetime.now(UTC)):
            raise Unauthorized(SESSION_ENDED)
        if unsafe and (csrf_token is None or not hmac.compare_digest(
            token_digest(csrf_token), grant.csrf_digest
        )):
            log.info("CSRF token missing or wrong for %s", grant.caller.label)
            raise Forbidden(CSRF_REFUSED)
        return grant.caller

    def _session_of_digest(self, token: str) -> Callable[[str], object]:
        return lambda _digest: self._resolve_session(token)

    def forget(self) -> None:
        """Drop what is cached, after a change this process made (a revocation, a new
        member), so that it holds here at once; other processes see it within
        ``cache_seconds``."""
        self._access_keys.clear()
        self._api_keys.clear()
        self._sessions.clear()

    def _known(self, access_key_id: str, cached_only: bool) -> _KnownKey | None:
        return self._access_keys.get(  # type: ignore[return-value]
            access_key_id, self._look_up_key, cached_only
        )

    def _look_up_key(self, access_key_id: str) -> _KnownKey | None:
        resolved = self._resolve_access_key(access_key_id)
        return None if resolved is None else _KnownKey(access_key_id, resolved)

    def _secret_of(self, access_key_id: str) -> SigningSecret | None:
        return self._known(access_key_id, cached_only=False)

    def _cached_secret_of(self, access_key_id: str) -> SigningSecret | None:
        return self._known(access_key_id, cached_only=True)


def require_authenticated(caller: Caller) -> Caller:
    if not caller.authenticated:
        raise Unauthorized(CREDENTIALS_NEEDED)
    return caller
