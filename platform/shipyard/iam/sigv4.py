"""Verify AWS Signature Version 4 requests, in the Authorization header or presigned form.

    verifier = Verifier(secret_for_access_key, services=("execute-api", "s3"))
    identity = verifier.verify(SignedRequest.from_target(method, target, headers,
                                                         body=body, now=now))

``verify`` checks, in this order, and raises ``SignatureRejected`` at the first failure:

1. the signature information is well formed (``authorization.read_signature``): one form only, the
   algorithm, the credential, a sorted signed-header list that includes ``host`` and names
   only headers the request carries, a signed ``x-amz-date`` (or ``Date``), presigned
   ``X-Amz-Expires`` between 1 and 604800 seconds;
2. the credential scope is dated the request's day and names one of this verifier's
   services, in any region (an empty one too): the signature is then checked with the
   scope the client chose, so ``AWS4Auth(key, secret, "", "s3")`` verifies like
   ``AWS4Auth(key, secret, "us-east-1", "execute-api")``;
3. the request time is within the clock skew (presigned: not from the future, not expired);
4. a session-token header, if any, is signed; ``x-amz-content-sha256``, if any, is the
   body's hash (``UNSIGNED-PAYLOAD`` and streaming payloads are refused);
5. the secret is looked up and the signature compared in constant time.

Steps 1-4 depend on the request alone and may tell the client what is wrong. Step 5 is
the only one that touches a secret: an unknown access key and a wrong signature do the
same work and fail with the same public message; only ``SignatureRejected.reason``
(for server logs, never holding a secret) tells them apart.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shipyard.iam.authorization import (
    SESSION_TOKEN_HEADER,
    CredentialScope,
    SignatureInfo,
    read_signature,
    single_header,
)
from shipyard.iam.canonical import (
    AMZ_DATE_FORMAT,
    S3_SERVICE,
    SCOPE_TERMINATOR,
    SignedRequest,
    canonical_requests,
    string_to_sign,
)
from shipyard.iam.rejection import SignatureRejected

__all__ = [
    "UNSIGNED_PAYLOAD",
    "Identity",
    "SigningKeyCache",
    "SigningSecret",
    "Verifier",
    "compute_signature",
    "derive_signing_key",
    "payload_hash",
]

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who signed a verified request.

    ``session_token`` is the ``x-amz-security-token`` the request carried (signed), for
    the caller to check against the short-lived credential it belongs to; ``None`` when
    there was none. It is left out of ``repr`` so that logging an identity is safe.
    """

    access_key_id: str
    scope: CredentialScope
    request_time: datetime
    presigned: bool
    session_token: str | None = field(default=None, repr=False)


def derive_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key: HMAC-SHA256 chained over date, region, service, terminator."""
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, SCOPE_TERMINATOR):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def compute_signature(signing_key: bytes | hmac.HMAC, string_to_sign: str) -> str:
    """The hex signature of a string to sign, with a signing key or an HMAC already keyed
    with one (``SigningSecret.signing_mac``), which is copied and so left unused."""
    if isinstance(signing_key, bytes):
        return hmac.new(signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    mac = signing_key.copy()
    mac.update(string_to_sign.encode("utf-8"))
    return mac.hexdigest()


class SigningSecret:
    """A secret access key as one lookup found it, with the signing keys derived from it.

    Whoever looks secrets up (the authenticator, at most every ``cache_seconds`` per key)
    makes one per lookup and drops it with that lookup, so a derived key lives exactly as
    long as the secret it comes from may be used: a rotated or revoked secret never signs
    with a key derived from the old one. Deriving costs four HMACs per scope and lookup,
    instead of an HMAC per call to find the key in a cache shared by every secret
    (``SigningKeyCache``). At most ``SCOPES`` scopes are kept (a day's, in a few regions).
    """

    __slots__ = ("_derived", "secret")
    SCOPES = 8

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self._derived: dict[tuple[str, str, str], tuple[bytes, hmac.HMAC]] = {}

    def __repr__(self) -> str:
        return f"SigningSecret(<hidden>, {len(self._derived)} derived)"

    def signing_key(self, date: str, region: str, service: str) -> bytes:
        return self._scope(date, region, service)[0]

    def signing_mac(self, date: str, region: str, service: str) -> hmac.HMAC:
        """An HMAC keyed with ``signing_key``, for ``compute_signature`` to copy: a copy
        skips the key's setup, a third of what signing a short text costs."""
        return self._scope(date, region, service)[1]

    def _scope(self, date: str, region: str, service: str) -> tuple[bytes, hmac.HMAC]:
        scope = (date, region, service)
        derived = self._derived.get(scope)
        if derived is None:
            if len(self._derived) >= self.SCOPES:
                self._derived.clear()
            key = derive_signing_key(self.secret, date, region, service)
            derived = self._derived[scope] = (key, hmac.new(key, digestmod=hashlib.sha256))
        return derived


class SigningKeyCache:
    """Derived signing keys, at most ``max_size``, least recently used evicted first.

    An entry is keyed by (fingerprint of the secret, date, region, service). The
    fingerprint is an HMAC of the secret under a random key drawn for this cache, so the
    cache holds neither the secret nor a plain hash that guesses could be tested against;
    a rotated secret gets a new entry and the old one ages out. Thread-safe.
    """

    def __init__(self, max_size: int = 1024) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self._fingerprint_key = os.urandom(32)
        self._entries: OrderedDict[tuple[bytes, str, str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def signing_key(self, secret: str, date: str, region: str, service: str) -> bytes:
        """The signing key for this secret and scope, derived at most once while cached."""
        fingerprint = hmac.new(self._fingerprint_key, secret.encode("utf-8"), hashlib.sha256)
        entry = (fingerprint.digest(), date, region, service)
        with self._lock:
            key = self._entries.get(entry)
            if key is not None:
                self._entries.move_to_end(entry)
                return key
        key = derive_signing_key(secret, date, region, service)
        with self._lock:
            self._entries[entry] = key
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)
        return key


def payload_hash(request: SignedRequest) -> str:
    """The payload hash to sign with: ``x-amz-content-sha256`` when sent, else the body's
    SHA-256. A declared hash must be the body's; ``UNSIGNED-PAYLOAD`` and the streaming
    (chunk-signed) values are refused, since the gateway forwards the body to a service
    and an unsigned body could be swapped by anyone replaying the signed headers."""
    declared = single_header(request, "x-amz-content-sha256")
    actual = request.payload_sha256()
    if declared is None:
        return actual
    if declared == UNSIGNED_PAYLOAD or declared.startswith("STREAMING-"):
        raise SignatureRejected(
            SignatureRejected.PAYLOAD,
            reason=f"x-amz-content-sha256 {declared[:48]!r} is refused: the body must be signed",
        )
    if declared != actual:
        raise SignatureRejected(
            SignatureRejected.PAYLOAD,
            reason="x-amz-content-sha256 is not the SHA-256 of the body received",
        )
    return declared


class Verifier:
    """Verifies SigV4-signed requests whose credential scope names one of ``services``.

    ``lookup_secret(access_key_id)`` returns the secret access key (text, or a
    ``SigningSecret`` that keeps its own derived keys), or ``None`` for an unknown (or
    revoked, or expired) key; it is called on every request, so revocation takes effect
    at once, while signing keys are derived only once per secret and day.
    ``normalize_path=False`` (no dot-segment removal) only exists to check vectors
    signed that way; a caller that routes by path must route on
    ``canonical.normalize_path(request.path)``, the path that was verified.
    """

    def __init__(
        self,
        lookup_secret: Callable[[str], str | SigningSecret | None],
        services: Iterable[str],
        *,
        clock_skew: timedelta = timedelta(minutes=5),
        normalize_path: bool = True,
        cache_size: int = 1024,
    ) -> None:
        if clock_skew < timedelta(0):
            raise ValueError("clock_skew cannot be negative")
        self.services = tuple(dict.fromkeys(services))
        if not self.services or not all(self.services):
            raise ValueError("services must name at least one service, none of them empty")
        self.clock_skew = clock_skew
        self.normalize_path = normalize_path
        self._lookup_secret = lookup_secret
        self._keys = SigningKeyCache(cache_size)
        self._decoy_secret = os.urandom(30).hex()

    def verify(self, request: SignedRequest) -> Identity:
        """The identity that signed ``request``; raises ``SignatureRejected`` otherwise."""
        info, _ = self._verified(request)
        return Identity(
            access_key_id=info.access_key_id,
            scope=info.scope,
            request_time=info.request_time,
            presigned=info.presigned,
            session_token=info.session_token,
        )

    def signing_secret(self, request: SignedRequest) -> str | SigningSecret:
        """What ``lookup_secret`` gave for the key that signed ``request``, once the
        signature holds; raises ``SignatureRejected`` otherwise (as ``verify`` does). For a
        caller that keeps more than the secret with each lookup: one lookup serves both."""
        return self._verified(request)[1]

    def _verified(self, request: SignedRequest) -> tuple[SignatureInfo, str | SigningSecret]:
        info = read_signature(request)
        self._check_scope(info)
        now = request.now
        self._check_time(info, now if now.tzinfo is UTC else now.astimezone(UTC))
        if (request.has_header(SESSION_TOKEN_HEADER)
                and SESSION_TOKEN_HEADER not in info.signed_headers):
            raise SignatureRejected.malformed("the x-amz-security-token header is not signed")
        candidates = self._canonical_requests(request, info, payload_hash(request))

        secret = self._lookup_secret(info.access_key_id)
        scope = info.scope
        signing_key: bytes | hmac.HMAC
        if isinstance(secret, SigningSecret):
            signing_key = secret.signing_mac(scope.date, scope.region, scope.service)
        else:
            signing_key = self._keys.signing_key(
                self._decoy_secret if secret is None else secret, scope.date, scope.region,
                scope.service,
            )
        matched = False
        for candidate in candidates:
            expected = compute_signature(
                signing_key, string_to_sign(info.amz_date, scope.text, candidate)
            )
            matched |= hmac.compare_digest(expected, info.signature)
        if secret is None:
            raise SignatureRejected(reason=f"unknown access key id {info.access_key_id!r}")
        if not matched:
            digest = hashlib.sha256(candidates[0].encode("utf-8", "surrogateescape")).hexdigest()
            raise SignatureRejected(
                reason=f"signature mismatch for access key id {info.access_key_id!r} "
                f"(canonical request sha256 {digest})"
            )
        return info, secret

    def _check_scope(self, info: SignatureInfo) -> None:
        scope = info.scope
        if scope.date != info.amz_date[:8]:
            raise SignatureRejected(
                SignatureRejected.SCOPE,
                reason=f"credential date {scope.date} is not the request date {info.amz_date[:8]}",
            )
        if scope.service not in self.services:
            raise SignatureRejected.service_refused(scope.service, self.services)

    def _check_time(self, info: SignatureInfo, now: datetime) -> None:
        ahead = info.request_time - now
        if info.expires is None:
            if abs(ahead) > self.clock_skew:
                raise SignatureRejected(
                    SignatureRejected.SKEWED,
                    reason=f"request time {info.amz_date} is {ahead.total_seconds():+.0f}s from "
                    f"the server clock {now:{AMZ_DATE_FORMAT}}, over the allowed "
                    f"{self.clock_skew.total_seconds():.0f}s",
                )
            return
        if ahead > self.clock_skew:
            raise SignatureRejected(
                SignatureRejected.SKEWED,
                reason=f"presigned X-Amz-Date {info.amz_date} is {ahead.total_seconds():.0f}s "
                f"ahead of the server clock {now:{AMZ_DATE_FORMAT}}",
            )
        expiry = info.request_time + timedelta(seconds=info.expires)
        if now > expiry:
            raise SignatureRejected(
                SignatureRejected.EXPIRED,
                reason=f"presigned request expired at {expiry:{AMZ_DATE_FORMAT}}, server clock "
                f"{now:{AMZ_DATE_FORMAT}}",
            )

    def _canonical_requests(
        self, request: SignedRequest, info: SignatureInfo, payload: str
    ) -> list[str]:
        """The canonical request, then (only when it differs) the one with the query as
        sent, which is what botocore signs for a query that is not canonically encoded.
        A scope for S3 takes S3's path rule (``canonical.canonical_path``)."""
        return canonical_requests(
            request, info.signed_headers, payload, normalize=self.normalize_path,
            exclude_query=info.excluded_query, s3_path=info.scope.service == S3_SERVICE,
        )

