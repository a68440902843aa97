"""On a PostgreSQL store the API's NOTIFY wakes the supervisor, wherever it runs: on the
test session's real cluster (``tests.postgres``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from shipyard.contracts.supervisor_wakeups import (
    DatabaseWakeups,
    WakeupChannel,
    notify_supervisor,
)
from tests.postgres import PostgresCluster

pytestmark = pytest.mark.slow
psycopg = pytest.importorskip("psycopg")


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    with postgres_cluster.fresh_database(migrated=False) as url:
        yield url


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
