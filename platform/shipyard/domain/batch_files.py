"""The files of a batch job: its input read in chunks, its results written in parts.

An input is CSV (a header row naming the columns, then one row per record) or JSON Lines
(one JSON object per line). Either is read a chunk at a time, so a file of any size is
never held whole: each record keeps the number of the line it starts on, which is what an
error file names. A line that cannot be a record (a CSV row with too many or too few
cells, a JSON line that is not an object) is not sent to the model; it is a ``BadLine``
of its chunk, and goes to the error file like a row the model refused.

Results are written one part per chunk (``write_part``), each complete on disk before it
counts (a temporary file renamed into place), so that a job that resumes after a restart
knows which chunks are done; ``join_parts`` makes the one result file of a generation
from its parts, in input order. A CSV result has the passthrough columns, ``prediction``
and, for a classifier, one ``probability_<class>`` column per class; a JSON Lines result
has the passthrough fields, ``prediction`` and a ``probabilities`` object.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidInput

__all__ = [
    "FORMATS",
    "BadLine",
    "BatchInput",
    "Chunk",
    "ErrorRow",
    "ScoredRow",
    "format_of",
    "join_parts",
    "media_type",
    "write_errors",
    "write_part",
]

FORMATS = ("csv", "jsonl")
_MEDIA_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson"}
_FORMAT_OF_MEDIA_TYPE = {
    "text/csv": "csv", "application/csv": "csv",
    "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl", "application/jsonlines": "jsonl",
}
# csv's default field limit is 128 KiB; a cell past it is a bad line, never a crash.
_FIELD_LIMIT = 1024 * 1024


def format_of(given: str | None, content_type: str | None) -> str:
    """The input's format: ``given`` (csv or jsonl), else the one its media type names."""
    if given:
        if given not in FORMATS:
            raise InvalidInput(f"unknown format {given!r}; known: {', '.join(FORMATS)}")
        return given
    media = (content_type or "").partition(";")[0].strip().lower()
    found = _FORMAT_OF_MEDIA_TYPE.get(media)
    if found is None:
        raise InvalidInput(
            f"cannot tell the input's format from its Content-Type {media or '(none)'!r}: "
            "send text/csv or application/x-ndjson, or name it (format=csv or jsonl)"
        )
    return found


def media_type(fmt: str) -> str:
    return _MEDIA_TYPES[fmt]


@dataclass(frozen=True)
class BadLine:
    line: int
    message: str


@dataclass
class Chunk:
    """``size`` consecutive records of the input (fewer in the last chunk), with the line
    each starts on, and the lines among them that are no record."""

    index: int
    records: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Rows of the input this chunk covers, records and bad lines."""
        return len(self.records) + len(self.bad)


class BatchInput:
    """An input file of one format; ``columns`` and ``chunks`` read it from the start."""

    def __init__(self, path: Path, fmt: str) -> None:
        if fmt not in FORMATS:
            raise InvalidInput(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
        self.path = path
        self.format = fmt

    def columns(self) -> list[str]:
        """The CSV header, or the fields of the first JSON line; ``InvalidInput`` for a
        file without a record."""
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

    def chunks(self, size: int, start: int = 0) -> Iterator[Chunk]:
        """The chunks of ``size`` rows from chunk number ``start`` on (those before are read
        and skipped: a chunk's rows are the same on every reading)."""
        if size < 1:
            raise ValueError("a chunk holds at least one row")
        chunk = Chunk(0)
        for line, record in self._rows():
            if chunk.rows == size:
                if chunk.index >= start:
                    yield chunk
                chunk = Chunk(chunk.index + 1)
            if chunk.index < start:
                chunk.records.append({})  # only counted
                continue
            if isinstance(record, BadLine):
                chunk.bad.append(record)
            else:
                chunk.records.append(record)
                chunk.lines.append(line)
        if chunk.rows and chunk.index >= start:
            yield chunk

    def count_rows(self) -> int:
        return sum(1 for _ in self._rows())

    def _rows(self) -> Iterator[tuple[int, dict[str, Any] | BadLine]]:
        if self.format == "csv":
            yield from self._csv_rows()
            return
        for line_number, text in self._json_lines():
            record = _json_record(text)
            if record is None:
                record = BadLine(line_number, "not a JSON object")
            elif isinstance(record, BadLine):
                record = BadLine(line_number, record.message)
            yield line_number, record

    def _csv_rows(self) -> Iterator[tuple[int, dict[str, Any] | BadLine]]:
        with _csv_reader(self.path) as reader:
            header = [cell.strip() for cell in next(reader, [])]
            while True:
                line = reader.line_num + 1
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield line, BadLine(line, f"not a CSV row: {exc}")
                    continue
                if not cells:
                    continue
                if len(cells) != len(header):
                    yield line, BadLine(line, f"{len(cells)} cells where the header has "
                                              f"{len(header)}")
                    continue
                yield line, dict(zip(header, cells, strict=True))

    def _json_lines(self) -> Iterator[tuple[int, str]]:
        with open(self.path, encoding="utf-8", errors="replace") as lines:
            for number, text in enumerate(lines, 1):
                if number == 1:
                    text = text.removeprefix("\ufeff")
                if text.strip():
                    yield number, text

@contextlib.contextmanager
def _csv_reader(path: Path) -> Iterator[Any]:
    csv.field_size_limit(_FIELD_LIMIT)
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as file:
        yield csv.reader(file)


def _json_record(text: str) -> dict[str, Any] | BadLine | None:
    try:
        value = json.loads(text)
    except ValueError as exc:
        return BadLine(0, f"not JSON: {exc}")
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class ScoredRow:
    """One input row's result: its passthrough values, prediction and probabilities."""

    passthrough: dict[str, Any]
    prediction: Any
    probabilities: dict[str, float] | None = None


@dataclass(frozen=True)
class ErrorRow:
    line: int
    message: str


def write_part(path: Path, fmt: str, rows: Sequence[ScoredRow]) -> None:
    """One chunk's results, whole on disk or not at all (a chunk whose every row failed
    leaves an empty part, even in CSV: its header would not know the classes)."""
    buffer = io.StringIO(newline="")
    if fmt == "csv" and rows:
        passthrough = list(rows[0].passthrough) if rows else []
        classes = list(rows[0].probabilities or {}) if rows else []
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([*passthrough, "prediction", *(f"probability_{c}" for c in classes)])
        for row in rows:
            probabilities = row.probabilities or {}
            writer.writerow([*(_cell(row.passthrough.get(c)) for c in passthrough),
                             _cell(row.prediction),
                             *(_cell(probabilities.get(c)) for c in classes)])
    elif fmt == "jsonl":
        for row in rows:
            record = {**row.passthrough, "prediction": row.prediction}
            if row.probabilities is not None:
                record["probabilities"] = row.probabilities
            buffer.write(json.dumps(record, ensure_ascii=False) + "\n")
    _write_whole(path, buffer.getvalue())


def write_errors(path: Path, errors: Sequence[ErrorRow]) -> None:
    """One chunk's failed rows, as JSON Lines, whole on disk or not at all."""
    _write_whole(path, "".join(
        json.dumps({"line": e.line, "message": e.message}, ensure_ascii=False) + "\n"
        for e in errors))


def join_parts(parts: Sequence[Path], fmt: str, destination: Path) -> None:
    """The parts' rows in order in one file (a CSV keeps the first part's header and
    drops the others'), whole on disk or not at all."""
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


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list | bool):
        return json.dumps(value)
    return value


def _write_whole(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    with open(temporary, "w", encoding="utf-8", newline="") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
