"""Users' passwords, for signing in from a browser: hashed with argon2id (argon2-cffi's
defaults, RFC 9106's second recommended set), never stored or logged in clear.

A user has no password until one is set: by an administrator, or by the user (who proves
who they are with the credentials of the request, and with the current password when
there is one).
"""

from __future__ import annotations

import functools
import logging

import argon2
from sqlalchemy import select

from shipyard.errors import Forbidden, InvalidInput
from shipyard.iam.directory import find_user
from shipyard.iam.principals import Caller
from shipyard.store import Store, UserRow

__all__ = ["MAX_PASSWORD_CHARS", "MIN_PASSWORD_CHARS", "Passwords"]

log = logging.getLogger(__name__)

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024

_HASHER = argon2.PasswordHasher()


@functools.cache
def _decoy() -> str:
    """A hash checked against when the user does not exist, so that a sign-in takes as
    long for a name that is unknown as for one that is known. Made on first use: hashing
    costs about 0.1 s, which every process importing this module would pay at start."""
    return _HASHER.hash("not a password anyone has")


class Passwords:
    def __init__(self, store: Store) -> None:
        self.store = store

    def set(self, user_ref: str, new: str, by: Caller, current: str | None = None) -> None:
        """Give ``user_ref`` the password ``new``. An administrator may set anyone's;
        a user their own, with ``current`` when they already have one."""
        if by.kind != "user":
            raise Forbidden("only a user may set a password (not a service or an API key)")
        _check_password(new)
        with self.store.writing() as session:
            row = find_user(session, user_ref)
            if row.id != by.id and not by.is_admin:
                raise Forbidden("only an administrator may set another user's password")
            if row.id == by.id and not by.is_admin and row.password_hash is not None and (
                current is None or not _matches(row.password_hash, current)
            ):
                raise Forbidden("the current password is missing or wrong")
            row.password_hash = _HASHER.hash(new)
            name = row.name
        log.info("password set for user %s by %s", name, by.label)

    def check(self, user_name: str, password: str) -> str | None:
        """The id of user ``user_name`` if ``password`` is theirs; None otherwise (an
        unknown user, no password set, a wrong one), in about the same time either way."""
        with self.store.reading() as session:
            found = session.execute(
                select(UserRow.id, UserRow.password_hash).where(UserRow.name == user_name)
            ).first()
        user_id, stored = found if found is not None else (None, None)
        if user_id is None or stored is None:
            _matches(_decoy(), password)
            return None
        if not _matches(stored, password):
            return None
        if _HASHER.check_needs_rehash(stored):
            self._rehash(user_id, password)
        return user_id

    def _rehash(self, user_id: str, password: str) -> None:
        with self.store.writing() as session:
            row = session.get(UserRow, user_id)
            if row is not None:
                row.password_hash = _HASHER.hash(password)


def _matches(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def _check_password(password: object) -> None:
    if not isinstance(password, str):
        raise InvalidInput("a password must be a string")
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidInput(
            f"a password must have {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )
