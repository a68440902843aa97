"""A service's secrets: values its code reads from ``os.environ`` as it reads its variables,
but sealed with the server key at rest (``shipyard.iam.vault``), never answered, logged,
exported or documented, and set only from a request's body (the CLI reads them from
standard input or a prompt, never from its arguments).

Each generation keeps the secrets, still sealed, as they were when it was made: its
instances and its build's import check get them unsealed, so a new value takes effect at
the next deploy (``waiting`` names the secrets changed since what serves was made), and a
rollback brings back the values the generation ran with.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shipyard.domain.service_variables import MAX_VALUE_BYTES, checked_name
from shipyard.domain.services import find_service
from shipyard.errors import InvalidInput, NotFound
from shipyard.iam.vault import Vault
from shipyard.store import GenerationRow, ServiceRow, ServiceSecretRow, Store

__all__ = ["MAX_SECRETS", "ServiceSecrets", "sealed_secrets"]

MAX_SECRETS = 100
_WHAT = "secret"


class ServiceSecrets:
    def __init__(self, store: Store, vault: Vault) -> None:
        self.store = store
        self.vault = vault

    def list(self, ref: str) -> dict[str, Any]:
        """Each secret's name and when it was set (never its value), and the names whose
        value changed since what serves was made (``waiting``)."""
        with self.store.reading() as session:
            service = find_service(session, ref)
            rows = _rows(session, service.id)
            return {
                "secrets": [{"name": row.name, "updated_at": row.updated_at.isoformat()}
                            for row in rows],
                "waiting": _waiting(session, service, rows),
            }

    def set(self, ref: str, name: Any, value: Any) -> dict[str, Any]:
        """Seal and store ``value`` as secret ``name``; checked first (a problem is named,
        never the value)."""
        name = checked_name(name, _WHAT)
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"the value of secret {name} must be non-empty text")
        if "\0" in value:
            raise InvalidInput(f"the value of secret {name} holds a NUL character")
        if len(value.encode()) > MAX_VALUE_BYTES:
            raise InvalidInput(f"the value of secret {name} is over {MAX_VALUE_BYTES} bytes")
        with self.store.writing() as session:
            service = find_service(session, ref)
            if name in (service.variables or {}):
                raise InvalidInput(f"{service.name} has a variable named {name}: a name is "
                                   "a variable or a secret, not both")
            row = session.get(ServiceSecretRow, (service.id, name))
            if row is None:
                if len(_rows(session, service.id)) >= MAX_SECRETS:
                    raise InvalidInput(f"{service.name} has {MAX_SECRETS} secrets, the most")
                row = ServiceSecretRow(service_id=service.id, name=name)
                session.add(row)
            row.sealed = self.vault.seal(value).decode()
            row.updated_at = datetime.now(UTC)
            return {"name": name, "updated_at": row.updated_at.isoformat()}

    def unset(self, ref: str, name: str) -> None:
        with self.store.writing() as session:
            service = find_service(session, ref)
            if session.get(ServiceSecretRow, (service.id, name)) is None:
                raise NotFound(f"{service.name} has no secret {name!r}")
            session.execute(delete(ServiceSecretRow).where(
                ServiceSecretRow.service_id == service.id, ServiceSecretRow.name == name))

    def unsealed(self, sealed: Mapping[str, str] | None) -> dict[str, str]:
        """A generation's secrets (``GenerationRow.secrets``) as its processes get them."""
        return {name: self.vault.unseal(token.encode())
                for name, token in (sealed or {}).items()}


def sealed_secrets(session: Session, service_id: str) -> dict[str, str] | None:
    """The service's secrets as a new generation keeps them: still sealed."""
    rows = _rows(session, service_id)
    return {row.name: row.sealed for row in rows} or None


def _rows(session: Session, service_id: str) -> list[ServiceSecretRow]:
    return list(session.scalars(select(ServiceSecretRow).where(
        ServiceSecretRow.service_id == service_id).order_by(ServiceSecretRow.name)))


def _waiting(session: Session, service: ServiceRow,
             rows: list[ServiceSecretRow]) -> list[str]:
    """The secrets set, changed or unset since the generation that serves was made."""
    if service.live_generation_id is None:
        return []
    live = session.get(GenerationRow, service.live_generation_id)
    if live is None:
        return []
    kept = live.secrets or {}
    changed = {row.name for row in rows
               if row.name not in kept or row.updated_at > live.created_at}
    return sorted(changed | (set(kept) - {row.name for row in rows}))
