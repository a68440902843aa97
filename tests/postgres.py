"""A real PostgreSQL cluster for the tests: Debian's ``postgresql`` binaries, its data in
a temporary folder, on a loopback port of its own, stopped and removed when done.

``PostgresCluster.start()`` runs ``initdb`` (as the ``postgres`` user when the tests run
as root: PostgreSQL refuses to run as root) and ``pg_ctl start`` with ``fsync`` off (a
test's data need not survive a crash). ``migrated_template()`` makes, once, a database
migrated to the newest schema; ``fresh_database()`` copies it (``CREATE DATABASE ...
TEMPLATE``), so a test gets an empty, migrated database of its own without paying for
the migrations, and drops it after.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["PostgresCluster", "postgres_binaries", "running_cluster"]

TEMPLATE = "shipyard_template"
_BINARIES = Path("/usr/lib/postgresql")


def postgres_binaries() -> Path | None:
    """The folder of the newest PostgreSQL's ``initdb`` and ``pg_ctl`` installed, if any."""
    found = sorted(_BINARIES.glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    return found[-1].parent if found else None


@contextmanager
def running_cluster(prefix: str = "shipyard-pg-") -> Iterator[PostgresCluster]:
    """A cluster of the caller's own, removed after; skips the calling test where
    PostgreSQL is not installed."""
    binaries = postgres_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    cluster = PostgresCluster.start(binaries, prefix=prefix)
    try:
        yield cluster
    finally:
        cluster.remove()


def _as_postgres(*argv: str | Path) -> list[str]:
    """``argv`` as the ``postgres`` user when running as root."""
    command = [str(part) for part in argv]
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresCluster:
    """One ``postgres`` server and its data folder."""

    def __init__(self, binaries: Path, folder: Path, port: int) -> None:
        self.binaries = binaries
        self.folder = folder
        self.port = port
        self._names = itertools.count(1)
        self._template_ready = False

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "postgres.log"

    @classmethod
    def start(cls, binaries: Path, *, prefix: str = "shipyard-pg-") -> PostgresCluster:
        folder = Path(tempfile.mkdtemp(prefix=prefix))
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        cluster = cls(binaries, folder, _free_port())
        try:
            cluster._run("initdb", "-D", cluster.data, "-A", "trust", "-U", "postgres",
                         "--no-sync", "-E", "UTF8", "--locale", "C.UTF-8")
            cluster.resume()
        except BaseException:
            cluster.remove()
            raise
        return cluster

    def resume(self) -> None:
        """Start the server (again), and return once it takes connections."""
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=400")
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "120",
                  "-o", options, "start")

    def pause(self) -> None:
        """Stop the server (fast: open sessions are ended), its data kept."""
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        """Stop the server if it runs, and delete its folder."""
        if (self.data / "postmaster.pid").exists():
            subprocess.run(_as_postgres(self.binaries / "pg_ctl", "-D", self.data, "-m",
                                        "immediate", "-w", "stop"),
                           capture_output=True, timeout=120)
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run ``sql`` outside a transaction (as ``CREATE DATABASE`` must be)."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                             dbname=database, autocommit=True) as connection:
            connection.execute(sql)  # type: ignore[arg-type]  # our own, no user input

    def migrated_template(self) -> str:
        """The database every ``fresh_database`` copies, migrated once to the newest
        schema (by the store itself, as a first ``shipyard up`` would)."""
        if not self._template_ready:
            from shipyard.store import Store

            self.execute(f"CREATE DATABASE {TEMPLATE}")
            store = Store(self.url(TEMPLATE))
            try:
                store.migrate()
            finally:
                store.dispose()  # a template takes no connections while it is copied
            self._template_ready = True
        return TEMPLATE

    @contextmanager
    def fresh_database(self, *, migrated: bool = True) -> Iterator[str]:
        """The URL of a new database, a copy of the migrated template (or empty), dropped
        after the block with whatever connections are still open to it."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        template = self.migrated_template() if migrated else "template0"
        # FILE_COPY copies the template's files (with fsync off, no checkpoint to wait
        # for): about twice as fast as the default WAL_LOG for a small database.
        self.execute(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
        try:
            yield self.url(name)
        finally:
            self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def _run(self, program: str, *args: str | Path) -> None:
        done = subprocess.run(_as_postgres(self.binaries / program, *args),
                              capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{program} failed ({done.returncode}):\n{done.stdout}"
                               f"{done.stderr}\n{log[-4000:]}")
