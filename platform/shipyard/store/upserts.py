"""``upsert``: insert rows, replacing those whose primary key is stored already, on SQLite
and PostgreSQL alike (both speak ``ON CONFLICT``): one statement, compiled once and
executed for every row (executemany), which costs a few microseconds a row where a
many-``VALUES`` statement is compiled again for each chunk."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = ["upsert"]

CHUNK = 5000


def upsert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (each with every column) into ``table``, a stored key's row
    replaced by the new one."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    keys = [column.name for column in table.primary_key.columns]
    statement = insert(table)
    statement = statement.on_conflict_do_update(index_elements=keys, set_={
        column.name: statement.excluded[column.name]
        for column in table.columns if column.name not in keys})
    for start in range(0, len(rows), CHUNK):
        session.execute(statement, list(rows[start:start + CHUNK]))
