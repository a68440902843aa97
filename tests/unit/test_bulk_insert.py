"""``insert_many`` stores exactly what SQLAlchemy's own insert stores: on SQLite through
its fast path, on PostgreSQL through SQLAlchemy's insert, checking the rows alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select

from shipyard.store import QueryLogRow, Store
from shipyard.store.bulk_insert import insert_many
from tests.conftest import store_url

TABLE = QueryLogRow.__table__


def _row(number: int) -> dict[str, object]:
    """A row of every column but the id, as the ingest makes them."""
    row: dict[str, object] = {column.name: None for column in TABLE.columns
                              if column.name != "id"}
    return row | {
        "at": datetime(2026, 12, 5, 13, 0, number % 60, 123456, tzinfo=UTC),
        "request_id": f"req-{number:04d}", "service_id": "svc_1",
        "generation": None if number % 3 == 0 else "v1", "method": "POST",
        "path": "/predict", "status": 200 + number % 2, "latency_ms": number / 7,
        "caller": "", "request_bytes": number, "response_bytes": 2 * number,
        "predictions": 1, "warnings": 0, "request_body": "é\u2603" if number % 2 else None,
        "body_encoding": "utf-8",
    }


def _stored(store: Store) -> list[tuple[object, ...]]:
    """The rows as the database holds them (a time as its stored text)."""
    with store.reading() as session:
        columns = ", ".join(_row(0))
        return [tuple(row) for row in session.connection().exec_driver_sql(
            f"SELECT {columns} FROM query_log ORDER BY request_id")]


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> Iterator[Store]:
    store = Store(store_url(database_url, tmp_path))
    store.migrate()
    yield store
    store.dispose()


def test_rows_read_back_as_sqlalchemys_insert_stores_them(store: Store) -> None:
    rows = [_row(number) for number in range(250)]
    with store.writing() as session:
        insert_many(session, TABLE, rows)
    ours = _stored(store)
    with store.writing() as session:
        session.execute(delete(TABLE))
        session.execute(insert(TABLE), rows)
    assert ours == _stored(store)
    assert len(ours) == 250
    with store.reading() as session:  # a time comes back as it went in
        assert session.scalar(select(TABLE.c.at).order_by(TABLE.c.request_id).limit(1)
                              ) == rows[0]["at"]


def test_rows_with_other_keys_are_refused(store: Store) -> None:
    short = _row(1)
    del short["caller"]
    with pytest.raises(ValueError, match="must hold"), store.writing() as session:
        insert_many(session, TABLE, [_row(0), short])
    with pytest.raises(ValueError, match="no column 'nonsense'"), store.writing() as session:
        insert_many(session, TABLE, [_row(0) | {"nonsense": 1}])
    with store.reading() as session:
        assert session.scalar(select(TABLE.c.id)) is None


def test_rows_that_leave_out_a_defaulted_column_take_sqlalchemys_insert(store: Store) -> None:
    with store.writing() as session:
        insert_many(session, TABLE, [{"at": datetime.now(UTC), "request_id": "r",
                                      "service_id": "s", "method": "GET", "path": "/",
                                      "status": 200, "latency_ms": 1.0}])
    with store.reading() as session:
        assert session.scalar(select(TABLE.c.caller)) == ""
