"""Browsers signed in to the console: a session per sign-in, ended by signing out or by
its expiry.

Signing in with a user's name and password gives two random tokens: the session's, in an
HttpOnly cookie the page's scripts cannot read, and a CSRF token, in a cookie they can,
which every state-changing request sends back in the ``X-CSRF-Token`` header. A page of
another site can make the browser send the first (were it not SameSite) but cannot read
the second. Only the SHA-256 of each is stored.

Failed sign-ins are counted per user and address, and per address alone; past
``FAILURES_PER_USER`` (or ``FAILURES_PER_ADDRESS``) within ``FAILURE_WINDOW``, sign-ins are
refused with a 429 until the window has moved on, whether the password is right or not.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select

from shipyard.errors import TooManyRequests, Unauthorized
from shipyard.iam.directory import User, caller_for_user
from shipyard.iam.passwords import Passwords
from shipyard.iam.principals import Caller
from shipyard.store import BrowserSessionRow, SignInFailureRow, Store, UserRow

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "FAILURES_PER_ADDRESS",
    "FAILURES_PER_USER",
    "FAILURE_WINDOW",
    "SAFE_METHODS",
    "SESSION_COOKIE",
    "BrowserSessions",
    "NewSession",
    "SessionGrant",
    "token_digest",
]

SESSION_COOKIE = "shipyard_session"
CSRF_COOKIE = "shipyard_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

FAILURE_WINDOW = timedelta(minutes=15)
FAILURES_PER_USER = 5
FAILURES_PER_ADDRESS = 20

SIGN_IN_REFUSED = "the user name or the password is wrong"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class NewSession:
    """A session just made; its tokens go to the browser once, in cookies."""

    user: User
    expires_at: datetime
    token: str = field(repr=False)
    csrf_token: str = field(repr=False)


@dataclass(frozen=True)
class SessionGrant:
    """What a live session stands for: its user, and the digest its CSRF token must have."""

    caller: Caller
    csrf_digest: str = field(repr=False)
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


class BrowserSessions:
    def __init__(self, store: Store, passwords: Passwords, lifetime: timedelta) -> None:
        self.store = store
        self.passwords = passwords
        self.lifetime = lifetime

    def sign_in(self, user_name: str, password: str, address: str) -> NewSession:
        """A new session for ``user_name``; ``Unauthorized`` for a wrong name or password
        (which is counted), ``TooManyRequests`` past the limits."""
        now = datetime.now(UTC)
        address = address[:64]
        self._refuse_when_limited(user_name, address, now)
        user_id = self.passwords.check(user_name, password)
        if user_id is None:
            with self.store.writing() as session:
                # Failures past the window count no more: dropped here too, so that a
                # stream of failures without a success cannot grow the table for ever.
                session.execute(delete(SignInFailureRow)
                                .where(SignInFailureRow.at < now - FAILURE_WINDOW))
                session.add(SignInFailureRow(user_name=user_name[:63], address=address, at=now))
            raise Unauthorized(SIGN_IN_REFUSED)
        token, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires_at = now + self.lifetime
        with self.store.writing() as session:
            session.execute(delete(SignInFailureRow).where(
                SignInFailureRow.user_name == user_name, SignInFailureRow.address == address,
            ))
            session.execute(delete(SignInFailureRow)
                            .where(SignInFailureRow.at < now - FAILURE_WINDOW))
            session.execute(delete(BrowserSessionRow).where(BrowserSessionRow.expires_at <= now))
            session.add(BrowserSessionRow(
                digest=token_digest(token), user_id=user_id, csrf_digest=token_digest(csrf_token),
                created_at=now, expires_at=expires_at,
            ))
            user = User.from_row(session.get_one(UserRow, user_id))
        return NewSession(user, expires_at, token, csrf_token)

    def resolve(self, token: str) -> SessionGrant | None:
        """The live session whose cookie holds ``token``; None for one that is unknown,
        ended or expired."""
        with self.store.reading() as session:
            row = session.get(BrowserSessionRow, token_digest(token))
            if row is None or row.expires_at <= datetime.now(UTC):
                return None
            user = session.get(UserRow, row.user_id)
            if user is None:
                return None
            return SessionGrant(caller_for_user(session, user), row.csrf_digest, row.expires_at)

    def sign_out(self, token: str) -> None:
        """End the session whose cookie holds ``token`` (nothing, for one that is not)."""
        with self.store.writing() as session:
            session.execute(delete(BrowserSessionRow)
                            .where(BrowserSessionRow.digest == token_digest(token)))

    def _refuse_when_limited(self, user_name: str, address: str, now: datetime) -> None:
        since = now - FAILURE_WINDOW
        with self.store.reading() as session:
            recent = select(func.count()).select_from(SignInFailureRow).where(
                SignInFailureRow.at >= since, SignInFailureRow.address == address,
            )
            by_address = int(session.scalar(recent) or 0)
            by_user = int(session.scalar(
                recent.where(SignInFailureRow.user_name == user_name)
            ) or 0)
        if by_user >= FAILURES_PER_USER or by_address >= FAILURES_PER_ADDRESS:
            minutes = int(FAILURE_WINDOW.total_seconds() // 60)
            raise TooManyRequests(
                f"too many failed sign-ins from this address; try again in {minutes} minutes"
            )


