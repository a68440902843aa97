"""The Parquet form of a batch job's files: an input read a batch of rows at a time, and
results written one small file per part, then joined.

Only ``batch_files`` imports this module, inside the functions that meet a Parquet file,
so that no process pays for loading pyarrow before it reads or writes one.

A Parquet file has no lines: a row is named by its position in the file, counted from 1.
Its values go to the model as JSON, so each becomes a plain Python value that json can
carry: a NaN is a missing value (null), as pandas writes one; a decimal is a number; a
date, time or timestamp its ISO 8601 text; anything else json has no form for, its text.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shipyard.errors import InvalidInput

__all__ = ["column_chunks", "columns", "count_rows", "join_parts", "write_part"]

# A column of these types is already plain Python in to_pylist(): no value to look at.
# A float column's NaNs become nulls in Arrow; any other's values are looked at one by one.
_PLAIN_TYPES = (pa.types.is_integer, pa.types.is_boolean, pa.types.is_string,
                pa.types.is_large_string, pa.types.is_null)


def columns(path: Path) -> list[str]:
    """The file's top-level columns; ``InvalidInput`` for a file that is not Parquet, or
    has no column or no row."""
    with _opened(path) as file:
        names = list(file.schema_arrow.names)
        if not names:
            raise InvalidInput("the Parquet file has no column")
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise InvalidInput(f"the Parquet file names {', '.join(map(repr, repeated))} "
                               "more than once")
        if file.metadata.num_rows == 0:
            raise InvalidInput("the Parquet file has no row to score")
        return names


def count_rows(path: Path) -> int:
    """The rows the file's footer declares (no data is read)."""
    with _opened(path) as file:
        return int(file.metadata.num_rows)


def column_chunks(path: Path, size: int, skip: int = 0,
                  names: Sequence[str] | None = None
                  ) -> Iterator[tuple[int, dict[str, list[Any]]]]:
    """The rows from row ``skip`` (counted from 0) on, read and given ``size`` at a time
    (fewer in the last): their count, and their columns ``names`` (those the file has;
    every column when None) as lists of plain values. The row groups wholly before ``skip``
    are not read at all."""
    with _opened(path) as file:
        groups, rows_before = _row_groups_from(file.metadata, skip)
        if not groups:
            return
        present = file.schema_arrow.names
        kept = present if names is None else [name for name in names if name in present]
        # With no column kept, the first is read all the same: it counts the rows.
        read = kept or present[:1]
        to_drop = skip - rows_before
        pending: pa.Table | None = None
        try:
            for batch in file.iter_batches(batch_size=size, row_groups=groups, columns=read):
                if to_drop:
                    dropped = min(to_drop, batch.num_rows)
                    batch, to_drop = batch.slice(dropped), to_drop - dropped
                table = pa.Table.from_batches([batch])
                pending = table if pending is None else pa.concat_tables([pending, table])
                while pending.num_rows >= size:
                    yield size, _plain_columns(pending.slice(0, size), kept)
                    pending = pending.slice(size)
        except pa.ArrowException as exc:
            raise InvalidInput(f"the Parquet file cannot be read: {exc}") from exc
        if pending is not None and pending.num_rows:
            yield pending.num_rows, _plain_columns(pending, kept)


def write_part(path: Path, columns: Mapping[str, Sequence[Any]]) -> None:
    """One chunk's results as a Parquet file, whole or not at all; an empty file when the
    chunk has no row (every row failed), which ``join_parts`` skips."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    if any(columns.values()):
        table = pa.table({name: _array(values) for name, values in columns.items()})
        pq.write_table(table, temporary)
    else:
        temporary.write_bytes(b"")
    os.replace(temporary, path)  # synced by the job with its other parts


def join_parts(parts: Sequence[Path], destination: Path) -> None:
    """The parts' rows in order in one Parquet file (a row group per part), read a part at
    a time; whole on disk or not at all. A column whose type differs between parts (an
    integer prediction in one, a float in another; all null in one) takes the type that
    holds both, or text where none does; a column a part lacks is null there."""
    filled = [part for part in parts if part.stat().st_size > 0]
    schema = _joined_schema([pq.read_schema(part) for part in filled])
    temporary = destination.with_name(destination.name + ".partial")
    with pq.ParquetWriter(temporary, schema) as writer:
        for part in filled:
            writer.write_table(_conformed(pq.read_table(part), schema))
    _sync(temporary)
    os.replace(temporary, destination)


READ_BUFFER_BYTES = 1 << 20
"""Parquet is read through a buffer of this size, a page at a time. By default pyarrow
reads a row group's column chunks whole before the first batch: a file written as one
row group (pandas and pyarrow write up to a million rows per group, some tools one for all)
was held whole. Measured: 8 M rows in one 306 MB row group read in batches of 1,000, 393
MB peak by default, 97 MB buffered, in the same time."""


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[pq.ParquetFile]:
    try:
        file = pq.ParquetFile(path, buffer_size=READ_BUFFER_BYTES, pre_buffer=False)
    except pa.ArrowException as exc:
        raise InvalidInput(f"the file is not Parquet, or is damaged: {exc}") from exc
    with file:
        yield file


def _row_groups_from(metadata: pq.FileMetaData, skip: int) -> tuple[list[int], int]:
    """The row groups from the one that holds row ``skip`` on, and the rows before them."""
    rows_before = 0
    for group in range(metadata.num_row_groups):
        rows = metadata.row_group(group).num_rows
        if rows_before + rows > skip:
            return list(range(group, metadata.num_row_groups)), rows_before
        rows_before += rows
    return [], rows_before


def _plain_columns(table: pa.Table, names: Sequence[str]) -> dict[str, list[Any]]:
    return {name: _plain_column(table.column(name)) for name in names}


def _plain_column(column: pa.ChunkedArray) -> list[Any]:
    kind = column.type
    if any(is_type(kind) for is_type in _PLAIN_TYPES):
        return column.to_pylist()
    if pa.types.is_floating(kind):
        numbers = column.cast(pa.float64())
        return pc.if_else(pc.is_nan(numbers), pa.scalar(None, pa.float64()),
                          numbers).to_pylist()
    try:
        values = column.to_pylist()
    except (pa.ArrowException, ValueError):
        # A value Python's types cannot hold (a timestamp in nanoseconds without pandas):
        # Arrow's own text of it.
        return column.cast(pa.string()).to_pylist()
    return [_plain(value) for value in values]


def _plain(value: Any) -> Any:
    """``value`` as json carries it (see the module's docstring)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real | Decimal):
        number = float(value)
        return None if math.isnan(number) else number
    if isinstance(value, date | time):  # a datetime is a date
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return str(value)


def _array(values: Sequence[Any]) -> pa.Array:
    """A result column with the type Arrow infers, or as text when its values have no one
    type (a service that answers a number for one row and a word for the next)."""
    try:
        return pa.array(values)
    except (pa.ArrowException, OverflowError):
        return _text(values)


def _text(values: Sequence[Any]) -> pa.Array:
    return pa.array([value if value is None or isinstance(value, str)
                     else json.dumps(value, default=str) for value in values], pa.string())


def _joined_schema(schemas: Sequence[pa.Schema]) -> pa.Schema:
    types: dict[str, pa.DataType] = {}
    for schema in schemas:
        for column in schema:
            known = types.get(column.name)
            types[column.name] = column.type if known is None else _common_type(
                known, column.type)
    return pa.schema([pa.field(name, kind) for name, kind in types.items()])


def _common_type(first: pa.DataType, second: pa.DataType) -> pa.DataType:
    if first == second:
        return first
    try:
        unified = pa.unify_schemas([pa.schema([("c", first)]), pa.schema([("c", second)])],
                                   promote_options="permissive")
    except pa.ArrowException:
        return pa.string()
    return unified.field("c").type


def _conformed(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns, in its order and of its types."""
    conformed = []
    for field in schema:
        if field.name not in table.column_names:
            conformed.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        if column.type != field.type:
            try:
                column = column.cast(field.type)
            except pa.ArrowException:
                if not pa.types.is_string(field.type):
                    raise
                column = _text(column.to_pylist())
        conformed.append(column)
    return pa.Table.from_arrays(conformed, schema=schema)


def _sync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
