"""The files of a batch job: its input read in chunks, its results written in parts.

An input is CSV (a header row naming the columns, then one row per record), JSON Lines
(one JSON object per line) or Parquet. Each is read a chunk at a time, so a file of any
size is never held whole: each record keeps the number of the line it starts on, which is
what an error file names; a Parquet file has no lines, so there a record's number is its
row's position in the file, counted from 1. A line that cannot be a record (a CSV row with
too many or too few cells, a JSON line that is not an object) is not sent to the model; it
is a ``BadLine`` of its chunk, and goes to the error file like a row the model refused.

A chunk holds its records as columns (a list of values per column, the records in order),
and only the columns the job asked for: per-record Python is what a supervisor scoring
millions of rows cannot afford, so reading, sending and writing work a column at a time.
A JSON Lines record that lacks a column has ``MISSING`` there, never sent to the model.

Results are written one part per chunk (``write_part``), each complete on disk before it
counts (a temporary file renamed into place), so that a job that resumes after a restart
knows which chunks are done; ``join_parts`` makes the one result file of a generation
from its parts, in input order. A CSV or Parquet result has the passthrough columns,
``prediction`` and, for a classifier, one ``probability_<class>`` column per class; a JSON
Lines result has the passthrough fields, ``prediction`` and a ``probabilities`` object.

Parquet is read and written by ``batch_parquet``, imported only when a Parquet file is met,
so that pyarrow loads in no process that never meets one.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import io
import itertools
import json
import operator
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidInput

__all__ = [
    "FORMATS",
    "MISSING",
    "BadLine",
    "BatchInput",
    "Chunk",
    "ErrorRow",
    "ScoredRows",
    "count_result_rows",
    "format_of",
    "format_of_name",
    "join_parts",
    "media_type",
    "write_errors",
    "write_part",
]

FORMATS = ("csv", "jsonl", "parquet")
_MEDIA_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson",
                "parquet": "application/vnd.apache.parquet"}
_FORMAT_OF_MEDIA_TYPE = {
    "text/csv": "csv", "application/csv": "csv",
    "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl", "application/jsonlines": "jsonl",
    "application/vnd.apache.parquet": "parquet", "application/x-parquet": "parquet",
    "application/parquet": "parquet",
}
_FORMAT_OF_SUFFIX = {"csv": "csv", "jsonl": "jsonl", "ndjson": "jsonl", "parquet": "parquet"}
# csv's default field limit is 128 KiB; a cell past it is a bad line, never a crash.
_FIELD_LIMIT = 1024 * 1024
_WRITTEN_AS_THEY_ARE = frozenset({str, int, float, type(None)})
# One encoder for every JSON line written: json.dumps makes one a call when not its own.
_JSON_LINE = json.JSONEncoder(ensure_ascii=False)
_BLOCK = 1024 * 1024


def format_of(given: str | None, content_type: str | None) -> str:
    """The input's format: ``given`` (csv, jsonl or parquet), else the one its media type
    names."""
    if given:
        if given not in FORMATS:
            raise InvalidInput(f"unknown format {given!r}; known: {', '.join(FORMATS)}")
        return given
    media = (content_type or "").partition(";")[0].strip().lower()
    found = _FORMAT_OF_MEDIA_TYPE.get(media)
    if found is None:
        raise InvalidInput(
            f"cannot tell the input's format from its Content-Type {media or '(none)'!r}: "
            "send text/csv, application/x-ndjson or application/vnd.apache.parquet, or "
            "name it (format=csv, jsonl or parquet)"
        )
    return found


def format_of_name(name: str) -> str | None:
    """The format a file name's suffix names (``.ndjson`` is JSON Lines), or None."""
    suffix = name.rpartition(".")[2].lower() if "." in name else ""
    return _FORMAT_OF_SUFFIX.get(suffix)


def media_type(fmt: str) -> str:
    return _MEDIA_TYPES[fmt]


@dataclass(frozen=True)
class BadLine:
    line: int
    message: str


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""The value of a column that a JSON Lines record lacks."""


@dataclass
class Chunk:
    """``size`` consecutive rows of the input (fewer in the last chunk): its records as
    columns of one length, the line each record starts on, and the lines among the rows
    that are no record."""

    index: int
    columns: dict[str, list[Any]] = field(default_factory=dict)
    lines: list[int] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)

    @property
    def record_count(self) -> int:
        return len(self.lines)

    @property
    def rows(self) -> int:
        """Rows of the input this chunk covers, records and bad lines."""
        return len(self.lines) + len(self.bad)

    def slice(self, start: int, stop: int) -> Chunk:
        """The records from position ``start`` to ``stop`` (in this chunk) as a chunk of
        their own, of the same index and without bad lines."""
        return Chunk(self.index, {name: column[start:stop]
                                  for name, column in self.columns.items()},
                     self.lines[start:stop])

    def values(self, name: str, positions: Sequence[int]) -> list[Any]:
        """Column ``name`` of the records at ``positions`` (in order, in this chunk), None
        where a record lacks it."""
        column = self.columns.get(name)
        if column is None:
            return [None] * len(positions)
        if len(positions) != len(column):
            column = list(map(column.__getitem__, positions))
        if MISSING in column:
            column = [None if value is MISSING else value for value in column]
        return column


class BatchInput:
    """An input file of one format; ``columns`` and ``chunks`` read it from the start."""

    def __init__(self, path: Path, fmt: str) -> None:
        if fmt not in FORMATS:
            raise InvalidInput(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
        self.path = path
        self.format = fmt

    def columns(self) -> list[str]:
        """The CSV header, the fields of the first JSON line, or the Parquet file's columns;
        ``InvalidInput`` for a file without a record."""
        if self.format == "parquet":
            from shipyard.domain import batch_parquet

            return batch_parquet.columns(self.path)
        if self.format == "csv":
            with _csv_reader(self.path) as reader:
                header = next(reader, None)
                if not header or not any(cell.strip() for cell in header):
                    raise InvalidInput("the CSV is empty: it needs a header row naming "
                                       "its columns, then one row per record")
                columns = [cell.strip() for cell in header]
                repeated = sorted({c for c in columns if columns.count(c) > 1})
                if repeated:
                    raise InvalidInput(f"the CSV header names {', '.join(map(repr, repeated))} "
                                       "more than once")
                if next(reader, None) is None:
                    raise InvalidInput("the CSV has a header and no row to score")
                return columns
        for line_number, text in self._json_lines():
            record = _json_record(text)
            if isinstance(record, BadLine | None):
                raise InvalidInput(f"line {line_number} of the JSON Lines file is not a "
                                   "JSON object; each line must be one record")
            return list(record)
        raise InvalidInput("the JSON Lines file has no record to score")

    def chunks(self, size: int, start: int = 0, columns: Sequence[str] | None = None
               ) -> Iterator[Chunk]:
        """The chunks of ``size`` rows from chunk number ``start`` on (those before are read
        and skipped, or in Parquet not read: a chunk's rows are the same on every
        reading), holding ``columns`` (those of them the input has), or every column."""
        if size < 1:
            raise ValueError("a chunk holds at least one row")
        if self.format == "parquet":
            yield from self._parquet_chunks(size, start, columns)
        elif self.format == "csv":
            with _csv_reader(self.path) as reader:
                header = [cell.strip() for cell in next(reader, [])]
                yield from _chunked(_csv_rows(reader, len(header)), size, start,
                                    _csv_columns(header, columns))
        else:
            yield from _chunked(self._json_rows(), size, start, _json_columns(columns))

    def count_rows(self) -> int:
        """The input's rows, records and bad lines, as ``chunks`` counts them."""
        if self.format == "parquet":
            from shipyard.domain import batch_parquet

            return batch_parquet.count_rows(self.path)
        if self.format == "jsonl":
            return sum(1 for _ in self._json_lines())
        with _csv_reader(self.path) as reader:
            next(reader, None)
            count = 0
            while True:
                try:
                    for cells in reader:
                        if cells:
                            count += 1
                    return count
                except csv.Error:
                    count += 1

    def _parquet_chunks(self, size: int, start: int, columns: Sequence[str] | None
                        ) -> Iterator[Chunk]:
        """Parquet's chunks, from chunk ``start`` on without reading the rows before it."""
        from shipyard.domain import batch_parquet

        first_row = start * size
        for index, (count, values) in enumerate(
                batch_parquet.column_chunks(self.path, size, first_row, columns), start):
            first_line = index * size + 1
            yield Chunk(index, values, list(range(first_line, first_line + count)))

    def _json_rows(self) -> Iterator[tuple[int, dict[str, Any] | BadLine]]:
        for line_number, text in self._json_lines():
            try:
                value = json.loads(text)
            except ValueError as exc:
                yield line_number, BadLine(line_number, f"not JSON: {exc}")
                continue
            yield line_number, (value if isinstance(value, dict)
                                else BadLine(line_number, "not a JSON object"))

    def _json_lines(self) -> Iterator[tuple[int, str]]:
        with open(self.path, encoding="utf-8", errors="replace") as lines:
            for number, text in enumerate(lines, 1):
                if number == 1:
                    text = text.removeprefix("\ufeff")
                if text.strip():
                    yield number, text


def _chunked(rows: Iterator[tuple[int, Any]], size: int, start: int,
             columns_of: Callable[[list[Any]], dict[str, list[Any]]]) -> Iterator[Chunk]:
    """``rows`` (a line and a record, or a ``BadLine``) cut in chunks from chunk ``start``
    on, each chunk's records turned into columns by ``columns_of``."""
    collections.deque(itertools.islice(rows, start * size), maxlen=0)  # the chunks before
    index = start
    records: list[Any] = []
    lines: list[int] = []
    bad: list[BadLine] = []
    for line, record in rows:
        if type(record) is BadLine:
            bad.append(record)
        else:
            records.append(record)
            lines.append(line)
        if len(lines) + len(bad) == size:
            yield Chunk(index, columns_of(records), lines, bad)
            index, records, lines, bad = index + 1, [], [], []
    if lines or bad:
        yield Chunk(index, columns_of(records), lines, bad)


@contextlib.contextmanager
def _csv_reader(path: Path) -> Iterator[Any]:
    csv.field_size_limit(_FIELD_LIMIT)
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as file:
        yield csv.reader(file)


def _csv_rows(reader: Any, width: int) -> Iterator[tuple[int, list[str] | BadLine]]:
    """Each row after the header with the line it starts on: its cells, or a ``BadLine``
    for a row of another width or that is no CSV; blank lines are no row."""
    last_line = reader.line_num
    while True:
        try:
            for cells in reader:
                line, last_line = last_line + 1, reader.line_num
                if not cells:
                    continue
                if len(cells) == width:
                    yield line, cells
                else:
                    yield line, BadLine(line, f"{len(cells)} cells where the header has "
                                              f"{width}")
            return
        except csv.Error as exc:
            yield last_line + 1, BadLine(last_line + 1, f"not a CSV row: {exc}")
            last_line = reader.line_num


def _csv_columns(header: list[str], wanted: Sequence[str] | None
                 ) -> Callable[[list[list[str]]], dict[str, list[Any]]]:
    """How a chunk's CSV rows become the ``wanted`` columns (those the header names)."""
    positions = [(name, header.index(name)) for name in (header if wanted is None else wanted)
                 if name in header]

    def columns_of(rows: list[list[str]]) -> dict[str, list[Any]]:
        return {name: list(map(operator.itemgetter(position), rows))
                for name, position in positions}

    return columns_of


def _json_columns(wanted: Sequence[str] | None
                  ) -> Callable[[list[dict[str, Any]]], dict[str, list[Any]]]:
    """How a chunk's JSON records become the ``wanted`` columns (every field any of them
    has, when None), ``MISSING`` where a record lacks one."""

    def columns_of(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
        names = wanted
        if names is None:
            names = list(dict.fromkeys(itertools.chain.from_iterable(records)))
        return {name: [record.get(name, MISSING) for record in records] for name in names}

    return columns_of


def _json_record(text: str) -> dict[str, Any] | BadLine | None:
    try:
        value = json.loads(text)
    except ValueError as exc:
        return BadLine(0, f"not JSON: {exc}")
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class ScoredRows:
    """A chunk's scored records as columns of one length: their passthrough values, their
    predictions and, for a classifier, each one's probabilities in ``classes`` order (None
    for a record the model gave none; ``probabilities`` None when it gave none at all). A
    number may be the text the model wrote for it, which a CSV writes as it is."""

    passthrough: dict[str, list[Any]]
    predictions: list[Any]
    probabilities: list[list[Any] | None] | None = None
    classes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.predictions)

    def columns(self) -> dict[str, list[Any]]:
        """The rows as columns, named as a CSV result's header names them; none for no
        row."""
        if not self.predictions:
            return {}
        columns = {**self.passthrough, "prediction": self.predictions}
        for name, values in zip(self.classes, self._probability_columns(), strict=True):
            columns[f"probability_{name}"] = values
        return columns

    def _probability_columns(self) -> list[list[Any]]:
        if self.probabilities is None:
            return [[None] * len(self.predictions) for _ in self.classes]
        rows = self.probabilities
        if None in rows:
            blank = [None] * len(self.classes)
            rows = [blank if row is None else row for row in rows]
        return [list(column) for column in zip(*rows, strict=True)]


@dataclass(frozen=True)
class ErrorRow:
    line: int
    message: str


def write_part(path: Path, fmt: str, rows: ScoredRows) -> None:
    """One chunk's results, whole or not at all (a temporary file renamed into place; a
    chunk whose every row failed leaves an empty part, even in CSV and Parquet: its header
    would not know the classes). Not synced to disk: the job syncs its parts at once before
    it counts them (``batch_scoring``), rather than a sync per part."""
    if fmt == "parquet":
        from shipyard.domain import batch_parquet

        batch_parquet.write_part(path, rows.columns())
        return
    if not len(rows):
        _write_whole(path, "")
    elif fmt == "csv":
        _write_whole(path, _csv_text(rows.columns()))
    else:
        _write_whole(path, _jsonl_text(rows))


def _csv_text(columns: dict[str, list[Any]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns.keys())
    writer.writerows(zip(*map(_cells, columns.values()), strict=True))
    return buffer.getvalue()


def _jsonl_text(rows: ScoredRows) -> str:
    names = [*rows.passthrough, "prediction"]
    probabilities = rows.probabilities or [None] * len(rows)
    lines: list[str] = []
    for values, row_probabilities in zip(
            zip(*rows.passthrough.values(), rows.predictions, strict=True), probabilities,
            strict=True):
        record = dict(zip(names, values, strict=True))
        if row_probabilities is not None:
            record["probabilities"] = dict(zip(rows.classes, row_probabilities, strict=True))
        lines.append(_JSON_LINE.encode(record))
    lines.append("")
    return "\n".join(lines)


def write_errors(path: Path, errors: Sequence[ErrorRow]) -> None:
    """One chunk's failed rows, as JSON Lines, whole or not at all (synced as parts are)."""
    _write_whole(path, "".join(
        _JSON_LINE.encode({"line": e.line, "message": e.message}) + "\n" for e in errors))


def join_parts(parts: Sequence[Path], fmt: str, destination: Path) -> None:
    """The parts' rows in order in one file (a CSV keeps the first part's header and
    drops the others'), whole on disk or not at all."""
    if fmt == "parquet":
        from shipyard.domain import batch_parquet

        batch_parquet.join_parts(parts, destination)
        return
    temporary = destination.with_name(destination.name + ".partial")
    header_written = False
    with open(temporary, "w", encoding="utf-8", newline="") as out:
        for part in parts:
            with open(part, encoding="utf-8", newline="") as source:
                if fmt == "csv":
                    header = source.readline()  # "" for a part with no row
                    if header and not header_written:
                        out.write(header)
                        header_written = True
                shutil.copyfileobj(source, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, destination)


def count_result_rows(path: Path, fmt: str) -> int:
    """The rows of a file ``join_parts`` made (a CSV's header is no row, nor is a blank
    line). A CSV without a quote has a row a line, and is counted as lines are: parsing
    it would cost more than writing it."""
    if fmt == "parquet":
        from shipyard.domain import batch_parquet

        return batch_parquet.count_rows(path)
    if fmt == "csv" and _has_quote(path):
        with open(path, encoding="utf-8", newline="") as text:
            return max(0, sum(1 for cells in csv.reader(text) if cells) - 1)
    with open(path, "rb") as lines:
        if fmt == "csv":
            return max(0, sum(1 for line in lines if line.rstrip(b"\r\n")) - 1)
        return sum(1 for line in lines if line.strip())


def _has_quote(path: Path) -> bool:
    with open(path, "rb") as data:
        return any(b'"' in block for block in iter(lambda: data.read(_BLOCK), b""))


def _cells(values: list[Any]) -> list[Any]:
    """A result column as a CSV holds it: a dict, list or bool as JSON, None empty (as the
    csv module writes it); most columns have no such value, and are written as they are."""
    if _WRITTEN_AS_THEY_ARE.issuperset(map(type, values)):
        return values
    return [json.dumps(value) if isinstance(value, dict | list | bool) else value
            for value in values]


def _write_whole(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    with open(temporary, "w", encoding="utf-8", newline="") as out:
        out.write(text)
    os.replace(temporary, path)
