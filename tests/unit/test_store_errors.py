"""A database that cannot take a transaction answers 503 with a message that says why."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, text

from shipyard.errors import Unavailable
from shipyard.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'shipyard.db'}", busy_timeout=0.05)
    with store.writing() as session:
        session.execute(text("CREATE TABLE rows (value TEXT)"))
    yield store
    store.dispose()


def test_a_database_locked_past_the_busy_timeout_is_unavailable(store: Store, tmp_path: Path
                                                                ) -> None:
    holder = sqlite3.connect(tmp_path / "shipyard.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(Unavailable, match="locked by another writer"), store.writing() as s:
            s.execute(text("INSERT INTO rows VALUES ('x')"))
    finally:
        holder.close()
    with store.writing() as session:  # once the lock is gone, writes go through again
        session.execute(text("INSERT INTO rows VALUES ('y')"))


def test_a_full_database_is_unavailable(store: Store) -> None:
    @event.listens_for(store.engine, "connect")
    def _small(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA max_page_count=3")

    store.engine.dispose()
    with pytest.raises(Unavailable, match="is full"), store.writing() as session:
        session.execute(text("INSERT INTO rows VALUES (:v)"), {"v": "x" * 100_000})


@pytest.mark.sqlite_only("SQLite's lock on its database file")
def test_the_api_answers_503_for_a_locked_database(app: Flask, client: Any,
                                                   settings: Any) -> None:
    engine = app.extensions["shipyard"].store.engine

    @event.listens_for(engine, "connect")
    def _impatient(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=50")

    engine.dispose()
    holder = sqlite3.connect(settings.home / "shipyard.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        answer = client.post("/api/v1/services", json={"name": "locked-out"})
    finally:
        holder.close()
    assert answer.status_code == 503
    assert answer.get_json()["error"]["type"] == "Unavailable"
    assert "locked by another writer" in answer.get_json()["error"]["message"]
