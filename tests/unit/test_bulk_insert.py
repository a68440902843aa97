"""``insert_many`` stores on SQLite exactly what SQLAlchemy's own insert stores."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from shipyard.store import QueryLogRow, Store
from shipyard.store.bulk_insert import insert_many

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


def test_rows_read_back_as_sqlalchemys_insert_stores_them(tmp_path: Path) -> None:
    rows = [_row(number) for number in range(250)]
    fast = Store(f"sqlite:///{tmp_path / 'fast.db'}")
    slow = Store(f"sqlite:///{tmp_path / 'slow.db'}")
    try:
        for store in (fast, slow):
            store.migrate()
        with fast.writing() as session:
            insert_many(session, TABLE, rows)
        with slow.writing() as session:
            session.execute(insert(TABLE), rows)
        assert _stored(fast) == _stored(slow)
        assert len(_stored(fast)) == 250
        with fast.reading() as session:  # a time comes back as it went in
            assert session.scalar(select(TABLE.c.at).limit(1)) == rows[0]["at"]
    finally:
        fast.dispose()
        slow.dispose()


def test_rows_with_other_keys_are_refused(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        store.migrate()
        short = _row(1)
        del short["caller"]
        with pytest.raises(ValueError, match="must hold"), store.writing() as session:
            insert_many(session, TABLE, [_row(0), short])
        with pytest.raises(ValueError, match="no column 'nonsense'"), \
                store.writing() as session:
            insert_many(session, TABLE, [_row(0) | {"nonsense": 1}])
    finally:
        store.dispose()


def test_rows_that_leave_out_a_defaulted_column_take_sqlalchemys_insert(
    tmp_path: Path,
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        store.migrate()
        with store.writing() as session:
            insert_many(session, TABLE, [{"at": datetime.now(UTC), "request_id": "r",
                                          "service_id": "s", "method": "GET", "path": "/",
                                          "status": 200, "latency_ms": 1.0}])
        with store.reading() as session:
            assert session.scalar(select(TABLE.c.caller)) == ""
    finally:
        store.dispose()
