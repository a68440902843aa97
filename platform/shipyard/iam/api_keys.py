"""API keys: one service opened to whoever holds the key, sent in the ``X-Api-Key``
header, for sharing a service with another application.

The key is shown once; only its SHA-256 is stored (a long random key needs no slow
hash), with its last characters as a hint for listings.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from shipyard.errors import InvalidInput, NotFound
from shipyard.iam.principals import Caller
from shipyard.store import ApiKeyRow, ServiceRow, Store

__all__ = ["API_KEY_HEADER", "ApiKey", "ApiKeys", "NewApiKey", "api_key_digest"]

API_KEY_HEADER = "X-Api-Key"
_PREFIX = "sy_"


@dataclass(frozen=True)
class ApiKey:
    id: str
    service_id: str
    name: str
    hint: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> ApiKey:
        return cls(row.id, row.service_id, row.name, row.hint, row.created_at, row.revoked_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "service_id": self.service_id, "name": self.name,
            "hint": "…" + self.hint, "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True)
class NewApiKey:
    key: ApiKey
    api_key: str = ""

    def __repr__(self) -> str:
        return f"NewApiKey(key={self.key!r})"


def api_key_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()


class ApiKeys:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, service_id: str, name: str, by: Caller) -> NewApiKey:
        if not isinstance(name, str) or len(name) > 63:
            raise InvalidInput("an API key name must be a string of at most 63 characters")
        raw = _PREFIX + secrets.token_urlsafe(32)
        with self.store.writing() as session:
            row = ApiKeyRow(
                id="key_" + uuid.uuid4().hex[:16], service_id=service_id, name=name,
                digest=api_key_digest(raw), hint=raw[-4:], created_by=by.id or None,
                created_at=datetime.now(UTC),
            )
            session.add(row)
            session.flush()
            return NewApiKey(ApiKey.from_row(row), raw)

    def list(self, service_id: str) -> list[ApiKey]:
        with self.store.reading() as session:
            rows = session.scalars(
                select(ApiKeyRow).where(ApiKeyRow.service_id == service_id)
                .order_by(ApiKeyRow.created_at)
            )
            return [ApiKey.from_row(row) for row in rows]

    def revoke(self, service_id: str, key_id: str) -> ApiKey:
        with self.store.writing() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None or row.service_id != service_id:
                raise NotFound(f"API key {key_id!r} does not exist for this service")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
            return ApiKey.from_row(row)

    def resolve(self, raw: str) -> Caller | None:
        """Who holds ``raw``: a caller that may call its one service; None if unknown or
        revoked."""
        if not raw.startswith(_PREFIX):
            return None
        with self.store.reading() as session:
            row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.digest == api_key_digest(raw)))
            if row is None or row.revoked_at is not None:
                return None
            service = session.get(ServiceRow, row.service_id)
            if service is None:
                return None
            return Caller(kind="api_key", id=row.id, name=row.name, service_id=row.service_id)
