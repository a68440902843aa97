"""``upsert``: insert rows, replacing those whose primary key is stored already, on SQLite
and PostgreSQL alike (both speak ``ON CONFLICT``): one statement, compiled once and
executed for every row (executemany), which costs a few microseconds a row where a
many-``VALUES`` statement is compiled again for each chunk.

``upsert_rows`` takes the rows as tuples, for the bulk writers (an upload of 100,000
actuals). On SQLite, where running a statement is cheap but SQLAlchemy's handling of
each row's parameters is not, it hands the driver (executemany) a statement of as many
rows as ``SQLITE_VARIABLES`` parameters hold, compiled once per table, and the rows'
values as they are: that is when every column is of a type that SQLite's column affinity
stores alike from the value or from SQLAlchemy's processing of it (text, numbers,
booleans, bytes). Elsewhere it is ``upsert``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, Enum, Float, Integer, LargeBinary, String, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = ["upsert", "upsert_rows"]

CHUNK = 5000
SQLITE_VARIABLES = 999
"""SQLite's least limit on a statement's parameters (``SQLITE_MAX_VARIABLE_NUMBER``
before 3.32)."""
_AS_THEY_ARE = (Boolean, Float, Integer, LargeBinary, String)


def upsert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (each with every column) into ``table``, a stored key's row
    replaced by the new one."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = _upsert_of(insert(table), table)
    if dialect == "postgresql":
        # In the order of their keys (a stable sort: of two rows of one key the later
        # still wins): two transactions upserting rows of the same keys then lock them in
        # the same order, where any other order can deadlock on PostgreSQL, whose writers
        # run at once.
        keys = [column.name for column in table.primary_key.columns]
        rows = sorted(rows, key=lambda row: tuple(row[key] for key in keys))
    for start in range(0, len(rows), CHUNK):
        session.execute(statement, list(rows[start:start + CHUNK]))


def upsert_rows(session: Session, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
    """``upsert`` of rows given as tuples of every column's value in the table's column
    order; the values of a SQLite fast path's columns (see the module) must be the Python
    types of their columns (``str``, ``int``, ``float``, ``bool``, ``bytes``) or None."""
    if not rows:
        return
    names = [column.name for column in table.columns]
    if session.get_bind().dialect.name != "sqlite" or not _as_they_are(table):
        upsert(session, table, [dict(zip(names, row, strict=True)) for row in rows])
        return
    width = len(names)
    per_statement = max(1, SQLITE_VARIABLES // width)
    whole = len(rows) - len(rows) % per_statement
    session.flush()  # what the session holds goes first, as session.execute has it
    connection = session.connection()
    if whole:
        flat = itertools.chain.from_iterable
        connection.exec_driver_sql(_sqlite_upsert(table, per_statement), [
            tuple(flat(rows[start:start + per_statement]))
            for start in range(0, whole, per_statement)])
    if whole < len(rows):
        connection.exec_driver_sql(_sqlite_upsert(table, 1), list(rows[whole:]))


def _upsert_of(statement: Any, table: Table) -> Any:
    keys = [column.name for column in table.primary_key.columns]
    return statement.on_conflict_do_update(index_elements=keys, set_={
        column.name: statement.excluded[column.name]
        for column in table.columns if column.name not in keys})


@functools.cache
def _as_they_are(table: Table) -> bool:
    return all(isinstance(column.type, _AS_THEY_ARE) and not isinstance(column.type, Enum)
               for column in table.columns)


@functools.cache
def _sqlite_upsert(table: Table, rows: int) -> str:
    """The SQLite upsert of ``rows`` rows, its parameters row after row, each row's in
    column order."""
    columns = list(table.columns)
    statement = sqlite.insert(table).values([
        {column.name: bindparam(f"r{row}c{place}") for place, column in enumerate(columns)}
        for row in range(rows)])
    compiled = _upsert_of(statement, table).compile(dialect=sqlite.dialect())
    order = [f"r{row}c{place}" for row in range(rows) for place in range(len(columns))]
    if list(compiled.positiontup or ()) != order:
        raise RuntimeError(f"the upsert of {table.name} takes its parameters out of order")
    return compiled.string
