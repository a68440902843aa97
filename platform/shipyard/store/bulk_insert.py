"""``insert_many``: insert many rows, each a dict with the same keys, into a table.

SQLAlchemy's executemany handles each row's parameters in Python, a few microseconds a
row: most of the query log's ingest. On SQLite, where running a statement is cheap, the
rows go to the driver's executemany as tuples instead, each value passed through its
column type's own bind processor (what SQLAlchemy itself would do to it, such as a time
to its stored text), with one statement compiled once per table and set of columns.
Elsewhere it is SQLAlchemy's insert, in chunks.

Every row must hold the same keys as the first. Rows that leave out a column with a
Python-side ``default`` take SQLAlchemy's insert, which fills it in.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

__all__ = ["insert_many"]

CHUNK = 1000
"""Rows per statement off SQLite (SQLAlchemy's executemany)."""


def insert_many(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    keys = frozenset(rows[0])
    fast = None
    if session.get_bind().dialect.name == "sqlite":
        fast = _sqlite_insert(table, keys)
    if fast is None:
        # SQLAlchemy's executemany would drop a key that is no column, silently.
        _columns_of(table, keys)
        for row in rows:
            if row.keys() != keys:
                raise ValueError(f"every row inserted into {table.name} must hold "
                                 f"{_columns_of(table, keys)}")
        for start in range(0, len(rows), CHUNK):
            session.execute(insert(table), list(rows[start:start + CHUNK]))
        return
    names, statement, processors = fast
    values = operator.itemgetter(*names)
    width = len(names)
    params: list[tuple[Any, ...]] = []
    for row in rows:
        if len(row) != width:
            raise ValueError(f"every row inserted into {table.name} must hold {names}")
        found = values(row)
        if width == 1:
            found = (found,)
        if processors:
            converted = list(found)
            for place, process in processors:
                converted[place] = process(converted[place])
            found = tuple(converted)
        params.append(found)
    session.flush()  # what the session holds goes first, as session.execute has it
    session.connection().exec_driver_sql(statement, params)


@functools.cache
def _columns_of(table: Table, keys: frozenset[str]) -> tuple[str, ...]:
    """The columns of ``keys`` in the table's order; ValueError for a key that is none."""
    names = tuple(column.name for column in table.columns if column.name in keys)
    if len(names) != len(keys):
        raise ValueError(f"{table.name} has no column {sorted(keys - set(names))[0]!r}")
    return names


@functools.cache
def _sqlite_insert(
    table: Table, keys: frozenset[str]
) -> tuple[tuple[str, ...], str, list[tuple[int, Callable[[Any], Any]]]] | None:
    """The columns of ``keys`` in the table's order, the SQLite INSERT of them with
    positional parameters in that order, and the bind processor of each column that has
    one, by its place; None when SQLAlchemy would add parameters of its own (the Python
    defaults of columns left out)."""
    names = _columns_of(table, keys)
    dialect = sqlite.dialect()
    compiled = insert(table).values({name: bindparam(name) for name in names}).compile(
        dialect=dialect)
    if tuple(compiled.positiontup or ()) != names:
        return None
    processors = []
    for place, name in enumerate(names):
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((place, process))
    return names, compiled.string, processors
