"""Reading the query log back: a service's calls in a time range, as JSONL or CSV.

Both formats carry the same columns in the same order, ``COLUMNS``: the contract's
``QUERY_COLUMNS`` (``shipyard.contracts.query_record``).

``body_encoding`` says how the row's bodies are written: ``utf-8`` (text as sent) or
``base64`` (every body of the row, when one of them is not text); empty when no body is
kept.

``at`` is an ISO 8601 UTC instant with microseconds; rows come oldest first. JSONL is one
JSON object per line (ASCII, so a body cannot break a line; absent values are null). CSV
has a header line, lines end with ``\\n``, text cells are quoted, absent values are empty
cells (``""``), and a body holding a line break spans several lines. A text cell that
starts like a spreadsheet formula (``=``, ``+``, ``-``, ``@``, a tab or a carriage return)
gets a leading ``'``, so that a caller's association id or path cannot run as a formula
where the CSV is opened (the JSONL keeps every value as it was recorded).

Rows are read a page at a time, each page in a transaction of its own, so a long export
never holds the database.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from shipyard.contracts.query_record import QUERY_COLUMN_NAMES
from shipyard.domain.services import find_service
from shipyard.domain.validation import quoted
from shipyard.errors import InvalidInput
from shipyard.query_log.time_range import TimeRange
from shipyard.store import QueryLogRow, Store

__all__ = ["COLUMNS", "FORMATS", "QueryExport", "QueryLog", "csv_chunks", "jsonl_chunks"]

COLUMNS = QUERY_COLUMN_NAMES
PAGE = 1000
_CHUNK_CHARS = 64 * 1024
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def jsonl_chunks(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The rows as JSON Lines, a few rows per chunk."""
    parts: list[str] = []
    size = 0
    for row in rows:
        line = json.dumps(row, separators=(",", ":")) + "\n"
        parts.append(line)
        size += len(line)
        if size >= _CHUNK_CHARS:
            yield "".join(parts)
            parts, size = [], 0
    if parts:
        yield "".join(parts)


def csv_chunks(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The rows as CSV under a header line, a few rows per chunk."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(COLUMNS)
    # Every text cell is quoted: with "\n" line ends, the csv module would leave a bare
    # carriage return in a path or body unquoted, and readers would take it for a line end.
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    for row in rows:
        writer.writerow([_csv_cell(row[name]) for name in COLUMNS])
        if buffer.tell() >= _CHUNK_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


FORMATS = {
    "jsonl": ("application/x-ndjson", jsonl_chunks),
    "csv": ("text/csv", csv_chunks),
}
"""Export format name: (media type, writer)."""


@dataclass(frozen=True)
class QueryExport:
    """An export checked and ready to stream."""

    media_type: str
    extension: str
    chunks: Iterator[str]


class QueryLog:
    def __init__(self, store: Store, *, page_size: int = PAGE) -> None:
        self.store = store
        self.page_size = page_size

    def rows(
        self, service_ref: str, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """The calls of service ``service_ref`` from ``since`` (included) to ``until``
        (excluded), oldest first, as ``COLUMNS`` dicts. An unknown service raises
        ``NotFound`` here, before the first row is asked for."""
        with self.store.reading() as session:
            service_id = find_service(session, service_ref).id
        return self._pages(service_id, since, until)

    def export(
        self, service_ref: str, since: str | None, until: str | None, fmt: str = "jsonl"
    ) -> QueryExport:
        """Check a request for an export (``since``/``until`` as ``TimeRange.parse``
        takes them) and return it ready to stream."""
        if fmt not in FORMATS:
            raise InvalidInput(f"unknown export format {quoted(fmt)}; known: {', '.join(FORMATS)}")
        media_type, writer = FORMATS[fmt]
        window = TimeRange.parse(since, until)
        rows = self.rows(service_ref, window.since, window.until)
        return QueryExport(media_type, fmt, writer(rows))

    def _pages(
        self, service_id: str, since: datetime | None, until: datetime | None
    ) -> Iterator[dict[str, Any]]:
        after: tuple[datetime, int] | None = None
        while True:
            query = select(QueryLogRow).where(QueryLogRow.service_id == service_id)
            if since is not None:
                query = query.where(QueryLogRow.at >= since)
            if until is not None:
                query = query.where(QueryLogRow.at < until)
            if after is not None:
                query = query.where(or_(
                    QueryLogRow.at > after[0],
                    and_(QueryLogRow.at == after[0], QueryLogRow.id > after[1]),
                ))
            query = query.order_by(QueryLogRow.at, QueryLogRow.id).limit(self.page_size)
            with self.store.reading() as session:
                page = session.scalars(query).all()
                if not page:
                    return
                after = (page[-1].at, page[-1].id)
                exported = [_exported(row) for row in page]
            yield from exported
            if len(page) < self.page_size:
                return


def _exported(row: QueryLogRow) -> dict[str, Any]:
    values = {name: getattr(row, name) for name in COLUMNS}
    values["at"] = row.at.isoformat()
    return values
