"""The engine, sessions and migrations.

SQLite (the embedded default) runs in WAL mode with a busy timeout and
``synchronous=FULL``; a read session starts with ``BEGIN`` and a write session with
``BEGIN IMMEDIATE``, so two writers never deadlock upgrading a shared lock. PostgreSQL is
used as it is.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shipyard.errors import Unavailable

__all__ = ["Store"]

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
_MODE = "shipyard_mode"


class Store:
    def __init__(self, url: str, *, busy_timeout: float = 30.0) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            _ensure_sqlite_dir(url)
            self.engine = create_engine(url, connect_args={"timeout": busy_timeout})
            _configure_sqlite(self.engine, busy_timeout)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
        self._reader = sessionmaker(self.engine.execution_options(**{_MODE: "read"}))
        self._writer = sessionmaker(self.engine.execution_options(**{_MODE: "write"}))

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with database_errors(), self._reader() as session, session.begin():
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A transaction that commits when the block ends, and rolls back on error."""
        with database_errors(), self._writer() as session, session.begin():
            yield session

    def migrate(self, lock_dir: Path | None = None) -> None:
        """Bring the schema to the newest migration (safe to call from several processes)."""
        from alembic import command  # only migrating processes pay for alembic's import
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with _file_lock(lock_dir), self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()


def _ensure_sqlite_dir(url: str) -> None:
    """Make the database's folder, and the file itself readable by its owner only (it
    holds every service's code and the encrypted secrets); SQLite gives its journal and
    WAL files the same mode."""
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)


@contextmanager
def database_errors() -> Iterator[None]:
    """A database that cannot take the transaction now (locked past the busy timeout, a
    full disk) becomes ``Unavailable`` (503) with a message that says which."""
    try:
        yield
    except OperationalError as error:
        problem = str(error.orig).lower()
        if "locked" in problem or "busy" in problem:
            raise Unavailable(
                "the database is locked by another writer past the busy timeout; try again"
            ) from error
        if "full" in problem or "no space" in problem:
            raise Unavailable(
                "the disk that holds Shipyard's database is full; free some space"
            ) from error
        raise
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise Unavailable("the disk that holds Shipyard's data is full; free some space"
                              ) from error
        raise


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(_MODE, "write")
        connection.exec_driver_sql("BEGIN" if mode == "read" else "BEGIN IMMEDIATE")


@contextmanager
def _file_lock(lock_dir: Path | None) -> Iterator[None]:
    if lock_dir is None:
        yield
        return
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / "migrate.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
