"""The authenticator's key cache: what it keeps, for how long, and how a stale key is
looked up again (once, however many calls wait for it)."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from datetime import UTC, datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shipyard.errors import Unavailable
from shipyard.iam.access_keys import ResolvedKey
from shipyard.iam.authenticator import Authenticator, NotCached
from shipyard.iam.canonical import SignedRequest
from shipyard.iam.principals import Caller
from shipyard.iam.rejection import SignatureRejected
from shipyard.iam.sigv4 import SigningSecret, compute_signature

KEY_ID = "AKIDCACHETEST0001"
SECRET = "cache/Test+Secret=Key0123456789abcdef"
ROTATED = "rotated/Secret=Key0123456789abcdefghij"
CALLER = Caller(kind="user", id="u1", name="alice")


def signed(secret: str) -> SignedRequest:
    request = AWSRequest(method="GET", url="http://127.0.0.1:8080/user-services/invoke/x/")
    SigV4Auth(Credentials(KEY_ID, secret), "execute-api", "us-east-1").add_auth(request)
    return SignedRequest.from_target(
        "GET", "/user-services/invoke/x/", [("Host", "127.0.0.1:8080"), *request.headers.items()],
        now=datetime.now(UTC),
    )


class Store:
    """A key store that counts its lookups and can be slow, revoked or rotated."""

    def __init__(self) -> None:
        self.secret: str | None = SECRET
        self.lookups = 0
        self.delay = 0.0
        self.away = False

    def resolve(self, key_id: str) -> ResolvedKey | None:
        self.lookups += 1
        time.sleep(self.delay)
        if self.away:
            raise Unavailable("the database cannot be reached (connection refused)")
        if key_id != KEY_ID or self.secret is None:
            return None
        return ResolvedKey(self.secret, CALLER, None)


def authenticator(store: Store, cache_seconds: float = 60.0) -> Authenticator:
    return Authenticator(store.resolve, lambda _key: None, services=("execute-api",),
                         cache_seconds=cache_seconds)


def test_a_cached_key_verifies_without_the_store_and_an_uncached_one_says_so() -> None:
    store = Store()
    checker = authenticator(store)
    request = signed(SECRET)
    with pytest.raises(NotCached):
        checker.verify_signature(request, cached_only=True)
    assert checker.verify_signature(request) == CALLER
    for _ in range(5):
        assert checker.verify_signature(request, cached_only=True) == CALLER
    assert store.lookups == 1


def test_concurrent_calls_with_a_stale_key_look_it_up_once() -> None:
    store = Store()
    store.delay = 0.2
    checker = authenticator(store)
    request = signed(SECRET)
    start = threading.Barrier(8)
    answers: list[Caller] = []

    def call() -> None:
        start.wait()
        answers.append(checker.verify_signature(request))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [CALLER] * 8
    assert store.lookups == 1


def test_a_revoked_or_rotated_key_stops_working_once_its_lookup_ages_out() -> None:
    store = Store()
    checker = authenticator(store, cache_seconds=0.2)
    assert checker.verify_signature(signed(SECRET)) == CALLER
    store.secret = ROTATED
    time.sleep(0.25)
    # The signing keys derived from the old secret went with its lookup.
    with pytest.raises(SignatureRejected):
        checker.verify_signature(signed(SECRET))
    assert checker.verify_signature(signed(ROTATED)) == CALLER
    store.secret = None
    time.sleep(0.25)
    with pytest.raises(SignatureRejected):
        checker.verify_signature(signed(ROTATED))


def test_a_signing_secret_derives_each_scope_once_and_never_shows_the_secret() -> None:
    secret = SigningSecret(SECRET)
    first = secret.signing_key("20261205", "us-east-1", "execute-api")
    assert secret.signing_key("20261205", "us-east-1", "execute-api") is first
    assert secret.signing_key("20261206", "us-east-1", "execute-api") != first
    assert SECRET not in repr(secret)
    for day in range(SigningSecret.SCOPES + 4):
        secret.signing_key(f"202612{day:02d}", "", "s3")
    assert len(secret._derived) <= SigningSecret.SCOPES


def test_a_cached_lookup_shows_its_caller_but_never_the_secret() -> None:
    checker = authenticator(Store())
    assert checker.verify_signature(signed(SECRET)) == CALLER
    _, known = checker._access_keys._entries[KEY_ID]
    assert SECRET not in repr(checker._access_keys._entries)
    resolved = repr(known.resolved)  # type: ignore[attr-defined]
    assert "alice" in resolved and SECRET not in resolved


def test_a_signing_secrets_keyed_hmac_signs_as_its_key_and_is_never_used_up() -> None:
    secret = SigningSecret(SECRET)
    key = secret.signing_key("20261205", "us-east-1", "execute-api")
    mac = secret.signing_mac("20261205", "us-east-1", "execute-api")
    assert secret.signing_mac("20261205", "us-east-1", "execute-api") is mac
    for text in ("AWS4-HMAC-SHA256\nfirst", "AWS4-HMAC-SHA256\nsecond", "first"):
        assert compute_signature(mac, text) == compute_signature(key, text)
    assert mac.hexdigest() == hmac.new(key, digestmod=hashlib.sha256).hexdigest()


def test_a_known_key_goes_on_working_while_the_store_cannot_be_reached() -> None:
    """A gateway keeps serving the callers it knows through a database outage; one it
    does not know is told the store is away, and a revocation holds once it is back."""
    store = Store()
    checker = authenticator(store, cache_seconds=0.2)
    assert checker.verify_signature(signed(SECRET)) == CALLER
    store.away = True
    time.sleep(0.25)
    lookups = store.lookups
    for _ in range(5):
        assert checker.verify_signature(signed(SECRET)) == CALLER
    assert store.lookups == lookups + 1  # asked again once per cache period, not per call
    other = Authenticator(store.resolve, lambda _key: None, services=("execute-api",))
    with pytest.raises(Unavailable):
        other.verify_signature(signed(SECRET))
    store.away = False
    store.secret = None
    time.sleep(0.25)
    with pytest.raises(SignatureRejected):
        checker.verify_signature(signed(SECRET))
