"""The engine, sessions and migrations.

SQLite (the embedded default) runs in WAL mode with a busy timeout and
``synchronous=FULL``; a read session starts with ``BEGIN`` and a write session with
``BEGIN IMMEDIATE``, so two writers never deadlock upgrading a shared lock. PostgreSQL is
used as it is, at its default isolation (READ COMMITTED), so writers of several processes
run at once: code that reads a row to write it back locks it (``with_for_update``) or
writes it in one statement. Its pool pings a connection before handing it out, so that
once a stopped server is back the next request opens a new connection instead of failing
on a dead one; while it cannot be reached, ``database_errors`` makes that ``Unavailable``.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shipyard.errors import InvalidInput, Unavailable
from shipyard.store.tables import ServiceRow

__all__ = ["Store", "database_errors", "is_writing", "lock_services"]

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
_MODE = "shipyard_mode"
CONNECT_TIMEOUT = 10
"""Seconds a new PostgreSQL connection may take (libpq waits forever by default): a
server that cannot be reached answers 503 in that time, not when the client gives up."""
_UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03")
"""SQLSTATEs of a server that cannot be reached: connection exceptions (class 08), and a
server shutting down (admin or crash shutdown) or not yet taking connections."""
_CONFLICT_STATES = ("40001", "40P01")
"""SQLSTATEs of a transaction PostgreSQL rolled back for a concurrent one: a serialization
failure or a deadlock; the request may simply be made again."""


class Store:
    def __init__(self, url: str, *, busy_timeout: float = 30.0) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            _ensure_sqlite_dir(url)
            self.engine = create_engine(url, connect_args={"timeout": busy_timeout})
            _configure_sqlite(self.engine, busy_timeout)
        else:
            connect_args: dict[str, Any] = {}
            if "connect_timeout" not in make_url(url).query:
                connect_args["connect_timeout"] = CONNECT_TIMEOUT
            self.engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
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


def is_writing(session: Session) -> bool:
    """Whether ``session`` is a ``Store.writing`` one: what reads a row to change it locks
    it then (``with_for_update``, which SQLite, whose writer holds the whole database,
    leaves out)."""
    return session.get_bind().get_execution_options().get(_MODE) == "write"


def lock_services(session: Session, service_ids: Iterable[str]) -> None:
    """Lock the rows of these services until the transaction ends, in the order of their
    ids (so that two transactions locking several never wait for each other in a circle);
    nothing on SQLite, whose writer holds the whole database."""
    wanted = sorted(set(service_ids))
    if wanted and session.get_bind().dialect.name != "sqlite":
        session.execute(select(ServiceRow.id).where(ServiceRow.id.in_(wanted))
                        .order_by(ServiceRow.id).with_for_update())


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
    """A database that cannot take the transaction now (a server that cannot be reached,
    locked past the busy timeout, a full disk, a transaction PostgreSQL rolled back for a
    concurrent one) becomes ``Unavailable`` (503) with a message that says which; text
    with a NUL character, which PostgreSQL refuses, ``InvalidInput`` (400)."""
    try:
        yield
    except DBAPIError as error:
        if _unreachable(error):
            raise Unavailable(
                "the database cannot be reached (" + _first_line(error.orig) + "); "
                "try again once it is back"
            ) from error
        if isinstance(error, DataError) and "NUL (0x00)" in str(error.orig):
            # PostgreSQL's text holds no NUL, so no stored name or value holds one.
            raise InvalidInput(
                "a value given holds a NUL character (\\x00), which no stored text holds"
            ) from error
        state = str(getattr(error.orig, "sqlstate", None) or "")
        if state in _CONFLICT_STATES:
            raise Unavailable(
                "the database rolled the change back for a concurrent one; try again"
            ) from error
        if not isinstance(error, OperationalError):
            raise
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


def _unreachable(error: DBAPIError) -> bool:
    """Whether ``error`` says the database server cannot be reached: a connection that
    broke (SQLAlchemy invalidates it, and the pool's others, to open new ones), one that
    could not be opened (psycopg's errors of the client itself have no SQLSTATE), or a
    server that refuses sessions as it shuts down or starts."""
    if not hasattr(error.orig, "sqlstate"):
        return False  # not PostgreSQL's driver: SQLite's errors are its own
    if error.connection_invalidated:
        return True
    state = error.orig.sqlstate
    if state is None:
        return isinstance(error, OperationalError)
    return str(state).startswith(_UNREACHABLE_STATES)


def _first_line(error: BaseException | None) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


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
