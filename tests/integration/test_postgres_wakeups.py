"""On a PostgreSQL store the API's NOTIFY wakes the supervisor, wherever it runs: a real
cluster, started in a temporary folder for these tests and stopped after them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from shipyard.contracts.supervisor_wakeups import (
    DatabaseWakeups,
    WakeupChannel,
    notify_supervisor,
)

pytestmark = pytest.mark.slow
psycopg = pytest.importorskip("psycopg")


def postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    return found[-1].parent


def as_postgres(*argv: str | Path) -> list[str]:
    """``argv`` as the ``postgres`` user when running as root (PostgreSQL refuses root)."""
    command = [str(part) for part in argv]
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    binaries = postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="shipyard-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        subprocess.run(as_postgres(binaries / "initdb", "-D", data, "-A", "trust", "-U",
                                   "postgres", "--no-sync"),
                       check=True, capture_output=True, timeout=120)
        subprocess.run(as_postgres(
            binaries / "pg_ctl", "-D", data, "-l", folder / "log", "-w", "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start",
        ), check=True, capture_output=True, timeout=120)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_postgres(binaries / "pg_ctl", "-D", data, "-m", "fast", "stop"),
                       capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_apis_notify_wakes_a_listening_supervisor(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    channel = WakeupChannel()
    listener = DatabaseWakeups.start_for(engine, channel.wake)
    assert listener is not None
    try:
        assert channel.wait(30.0)  # once listening: for what it may have missed before
        assert not channel.wait(0.3)
        notify_supervisor(engine)
        assert channel.wait(30.0)
    finally:
        listener.stop()
        channel.close()
        engine.dispose()


def test_on_another_store_there_is_nothing_to_listen_to_nor_notify(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'shipyard.db'}")
    assert DatabaseWakeups.start_for(engine, lambda: None) is None
    notify_supervisor(engine)  # nothing, and no error
    engine.dispose()
