"""Access keys: the access key id and secret a caller signs requests with (SigV4).

The secret is returned once, when the key is made, and stored sealed by the vault. A
key belongs to a user, or to one instance of a service: made by the supervisor when it
starts the instance, with a short lifetime it renews while the instance lives, and
revoked when the instance stops. A batch job gets one of its starter's (user or service)
for its calls while it runs, renewed the same way and revoked when the job ends. Keys may
expire; revoked and expired keys are unknown to ``resolve``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shipyard.errors import InvalidInput, NotFound, ShipyardError
from shipyard.iam.directory import caller_for_service, caller_for_user
from shipyard.iam.principals import Caller
from shipyard.iam.vault import Vault
from shipyard.store import AccessKeyRow, InstanceRow, ServiceRow, Store, UserRow

__all__ = ["MAX_LIFETIME", "AccessKey", "AccessKeys", "NewAccessKey"]

_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
MAX_LIFETIME = timedelta(days=3650)


class ResolvedKey(NamedTuple):
    secret: str
    caller: Caller
    expires_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"ResolvedKey(caller={self.caller!r}, expires_at={self.expires_at!r})"


@dataclass(frozen=True)
class AccessKey:
    id: str
    owner: str
    description: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: AccessKeyRow) -> AccessKey:
        owner = f"user:{row.user_id}" if row.user_id else f"service:{row.service_id}"
        return cls(row.id, owner, row.description, row.created_at, row.expires_at,
                   row.revoked_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "access_key_id": self.id, "owner": self.owner, "description": self.description,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True)
class NewAccessKey:
    """A key just made, with its secret: the one time the secret is seen."""

    key: AccessKey
    secret_access_key: str = ""

    def __repr__(self) -> str:
        return f"NewAccessKey(key={self.key!r})"


class AccessKeys:
    def __init__(self, store: Store, vault: Vault) -> None:
        self.store = store
        self.vault = vault

    def check_server_key(self) -> None:
        """Fail unless this node's server key opens the secrets already stored (a node
        that joins others on one database needs theirs, copied into its home)."""
        with self.store.reading() as session:
            sealed = session.scalar(select(AccessKeyRow.secret).order_by(
                AccessKeyRow.created_at).limit(1))
        if sealed is None:
            return
        try:
            self.vault.unseal(sealed)
        except ShipyardError as exc:
            raise InvalidInput(
                "this node's server key does not open the secrets in the database: a node "
                "that shares a database with others needs their key, copied to "
                "<home>/secrets/server.key from a node that already runs"
            ) from exc

    def create(
        self,
        user_id: str,
        *,
        expires_in: float | None = None,
        description: str = "",
    ) -> NewAccessKey:
        """A new key for a user; ``expires_in`` seconds from now, or never."""
        expires_at = _expiry(expires_in)
        if not isinstance(description, str) or len(description) > 256:
            raise InvalidInput("a description must be a string of at most 256 characters")
        with self.store.writing() as session:
            if session.get(UserRow, user_id) is None:
                raise NotFound(f"user {user_id!r} does not exist")
            return self._add(session, user_id=user_id, expires_at=expires_at,
                             description=description)

    def issue_for_instance(
        self, session: Session, service_id: str, instance_id: str, lifetime: timedelta
    ) -> NewAccessKey:
        """A key for one instance of a service, to call other services with, in the
        caller's transaction; the instance's earlier keys are revoked."""
        self.revoke_for_instance(session, instance_id)
        return self._add(session, service_id=service_id, instance_id=instance_id,
                         expires_at=datetime.now(UTC) + lifetime,
                         description=f"credentials of instance {instance_id}")

    def issue_for_batch_job(
        self, session: Session, caller_kind: str, caller_id: str, job_id: str,
        lifetime: timedelta,
    ) -> NewAccessKey:
        """A key that acts as the user or service that started batch job ``job_id``, for
        the job's calls through the gateway while it runs (renewed with ``renew``, revoked
        with ``revoke_by_id`` when it ends)."""
        if caller_kind not in ("user", "service"):
            raise InvalidInput(f"a batch job cannot act as a caller of kind {caller_kind!r}")
        owner = {"user_id": caller_id} if caller_kind == "user" else {"service_id": caller_id}
        return self._add(session, **owner, batch_job_id=job_id,
                         expires_at=datetime.now(UTC) + lifetime,
                         description=f"batch job {job_id}")

    @staticmethod
    def renew(session: Session, key_id: str, lifetime: timedelta) -> None:
        """Keep an unrevoked key valid for ``lifetime`` from now."""
        session.execute(
            update(AccessKeyRow)
            .where(AccessKeyRow.id == key_id, AccessKeyRow.revoked_at.is_(None))
            .values(expires_at=datetime.now(UTC) + lifetime)
        )

    @staticmethod
    def revoke_by_id(session: Session, key_id: str) -> None:
        session.execute(
            update(AccessKeyRow)
            .where(AccessKeyRow.id == key_id, AccessKeyRow.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )

    @staticmethod
    def revoke_for_instance(session: Session, instance_id: str) -> None:
        session.execute(
            update(AccessKeyRow)
            .where(AccessKeyRow.instance_id == instance_id, AccessKeyRow.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )

    @staticmethod
    def renew_for_instances(session: Session, lifetime: timedelta) -> tuple[int, int]:
        """Keep the keys of instances that still exist valid for ``lifetime`` from now (an
        instance cannot be handed a new key while it runs), and revoke those of instances
        that are gone; how many of each."""
        now = datetime.now(UTC)
        instances = select(InstanceRow.id)
        unrevoked = AccessKeyRow.revoked_at.is_(None)
        renewed = session.execute(
            update(AccessKeyRow)
            .where(AccessKeyRow.instance_id.in_(instances), unrevoked)
            .values(expires_at=now + lifetime)
        )
        revoked = session.execute(
            update(AccessKeyRow)
            .where(AccessKeyRow.instance_id.is_not(None),
                   AccessKeyRow.instance_id.not_in(instances), unrevoked)
            .values(revoked_at=now)
        )
        return renewed.rowcount, revoked.rowcount

    def list(self, caller: Caller, *, everyone: bool = False) -> list[AccessKey]:
        """The caller's keys; every key for an administrator who asks for ``everyone``."""
        with self.store.reading() as session:
            query = select(AccessKeyRow).order_by(AccessKeyRow.created_at)
            if not (everyone and caller.is_admin):
                query = query.where(AccessKeyRow.user_id == caller.id)
            return [AccessKey.from_row(row) for row in session.scalars(query)]

    def revoke(self, key_id: str, by: Caller) -> AccessKey:
        with self.store.writing() as session:
            row = session.get(AccessKeyRow, key_id)
            if row is None or (row.user_id != by.id and not by.is_admin):
                raise NotFound(f"access key {key_id!r} does not exist")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
            return AccessKey.from_row(row)

    def resolve(self, key_id: str, *, include_expired: bool = False) -> ResolvedKey | None:
        """The secret of a usable key, who it stands for and until when; None for an
        unknown, revoked or (unless ``include_expired``) expired key."""
        with self.store.reading() as session:
            row = session.get(AccessKeyRow, key_id)
            if row is None or row.revoked_at is not None:
                return None
            if (not include_expired and row.expires_at is not None
                    and row.expires_at <= datetime.now(UTC)):
                return None
            caller = _caller_of(session, row)
            if caller is None:
                return None
            return ResolvedKey(self.vault.unseal(row.secret), caller, row.expires_at)

    def _add(self, session: Session, *, expires_at: datetime | None, description: str,
             user_id: str | None = None, service_id: str | None = None,
             instance_id: str | None = None, batch_job_id: str | None = None
             ) -> NewAccessKey:
        secret = secrets.token_urlsafe(30)
        row = AccessKeyRow(
            id=_new_key_id(), user_id=user_id, service_id=service_id, instance_id=instance_id,
            batch_job_id=batch_job_id,
            secret=self.vault.seal(secret), description=description,
            created_at=datetime.now(UTC), expires_at=expires_at,
        )
        session.add(row)
        session.flush()
        return NewAccessKey(AccessKey.from_row(row), secret)


def _caller_of(session: Session, row: AccessKeyRow) -> Caller | None:
    if row.user_id is not None:
        user = session.get(UserRow, row.user_id)
        if user is None:
            return None
        caller = caller_for_user(session, user)
        return replace(caller, batch_job=row.batch_job_id) if row.batch_job_id else caller
    service = session.get(ServiceRow, row.service_id)
    return caller_for_service(service, row.batch_job_id) if service is not None else None


def _expiry(expires_in: Any) -> datetime | None:
    if expires_in is None:
        return None
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        raise InvalidInput("expires_in must be a number of seconds")
    if not 60 <= expires_in <= MAX_LIFETIME.total_seconds():
        raise InvalidInput(
            f"expires_in must be between 60 and {int(MAX_LIFETIME.total_seconds())} seconds"
        )
    return datetime.now(UTC) + timedelta(seconds=expires_in)


def _new_key_id() -> str:
    return "SY" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(18))

