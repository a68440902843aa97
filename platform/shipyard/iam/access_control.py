"""Everything identity and access for one process, built once from settings; and the
first start's administrator."""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from shipyard.iam.access_keys import AccessKeys
from shipyard.iam.api_keys import ApiKeys
from shipyard.iam.authenticator import Authenticator
from shipyard.iam.browser_sessions import BrowserSessions
from shipyard.iam.directory import Directory
from shipyard.iam.passwords import Passwords
from shipyard.iam.vault import Vault
from shipyard.settings import Settings
from shipyard.store import ProjectRow, ServiceRow, Store

__all__ = ["ADMIN_NAME", "AccessControl"]

ADMIN_NAME = "admin"


@dataclass(frozen=True)
class AccessControl:
    directory: Directory
    access_keys: AccessKeys
    api_keys: ApiKeys
    passwords: Passwords
    sessions: BrowserSessions
    authenticator: Authenticator

    @classmethod
    def build(cls, settings: Settings, store: Store) -> AccessControl:
        vault = Vault.open(settings.secret_key_file)
        access_keys = AccessKeys(store, vault)
        api_keys = ApiKeys(store)
        passwords = Passwords(store)
        sessions = BrowserSessions(store, passwords, timedelta(hours=settings.session_hours))
        authenticator = Authenticator(
            # Expired keys too: a correct signature with one is told it expired.
            functools.partial(access_keys.resolve, include_expired=True), api_keys.resolve,
            services=settings.accepted_signing_services,
            clock_skew=timedelta(seconds=settings.clock_skew_seconds),
            resolve_session=sessions.resolve,
        )
        return cls(Directory(store), access_keys, api_keys, passwords, sessions, authenticator)

    @classmethod
    def connect(cls, settings: Settings) -> AccessControl:
        """Access control over a connection of its own to the database of ``settings``:
        for a process (the gateway) that reaches the store through iam alone."""
        return cls.build(settings, Store(settings.effective_database_url))

    def ensure_administrator(self, settings: Settings) -> Path:
        """On first start, an administrator with an access key written (mode 0600) to
        ``settings.admin_credentials_file``; services from before identities existed go
        to the administrator's project. Returns where the credentials are."""
        target = settings.admin_credentials_file
        if self.directory.count_users() == 0:
            admin = self.directory.create_user(ADMIN_NAME, is_admin=True)
            new = self.access_keys.create(admin.id, description="administrator (first start)")
            _write_private_json(target, {
                "user": admin.name, "access_key_id": new.key.id,
                "secret_access_key": new.secret_access_key,
                "region": settings.region, "service": settings.signing_service,
            })
        self._adopt_orphan_services()
        return target

    def _adopt_orphan_services(self) -> None:
        store = self.directory.store
        with store.writing() as session:
            project = session.scalar(select(ProjectRow.id).where(ProjectRow.name == ADMIN_NAME))
            if project is not None:
                session.execute(update(ServiceRow).where(ServiceRow.project_id.is_(None))
                                .values(project_id=project))


def _write_private_json(path: Path, data: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as sink:
        json.dump(data, sink, indent=2)
        sink.write("\n")
    os.replace(temporary, path)
