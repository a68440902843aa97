"""``ingest_spool``: the supervisor's side of the query log, from spool files to rows.

Each completed spool file (``*.jsonl``) is claimed by renaming it to ``*.jsonl.ingesting``,
its rows are inserted into ``query_log``, and folded into the service stats' rollups (and,
for a monitored service, the rows each call scored into its drift rollups), in one write
transaction, and the file is deleted after the commit. A monitored call's bodies that the
service does not keep are read for the drift fold and not stored. Each file is ingested
exactly once:

- a file is claimed by one atomic rename, so it is read by one call only;
- a ``.ingesting`` file found when a call starts was left by an earlier call that crashed
  or failed. Its rows went in all together or not at all, so the call looks for its first
  row (same service, request id and time) in the same transaction: found, the file was
  already committed and is only deleted; not found, it is inserted now.

That reasoning assumes one ingester per spool directory at a time (the supervisor, whose
ticks run one after another).

A line that is not a JSON object with the columns' types is corrupt: it is left out,
appended to ``quarantine/<file>`` in the spool directory for inspection, and logged; the
rest of its file goes in. A file whose insert fails (the database is away) is logged and
stays claimed; the next call tries it again, as an interrupted file.

A ``.jsonl.part`` file older than ``STALE_PART_AGE`` seconds was left by a gateway that
crashed while writing it (writing one takes milliseconds): it is salvaged (ingested as
it is, its cut last line quarantined) rather than left to pile up.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from shipyard.contracts.query_entries import BODIES_KEPT, MONITORED, spool_entry
from shipyard.contracts.query_record import BODY_COLUMNS, QUERY_COLUMNS
from shipyard.gateway.spool import PART_SUFFIX, SPOOL_SUFFIX
from shipyard.stats.drift_folding import fold_drift
from shipyard.stats.folding import fold_calls
from shipyard.stats.scored_row_store import keep_scored_rows
from shipyard.stats.scored_rows import ScoredCall
from shipyard.store import QueryLogRow, Store
from shipyard.store.bulk_insert import insert_many

__all__ = ["INGESTING_SUFFIX", "QUARANTINE", "STALE_PART_AGE", "ingest_spool"]

log = logging.getLogger(__name__)

INGESTING_SUFFIX = ".jsonl.ingesting"
QUARANTINE = "quarantine"
STALE_PART_AGE = 300.0
FILES_PER_CALL = 200
"""Completed files one call ingests at most (oldest first), so that a backlog after a
downtime is worked off over a few supervisor ticks instead of holding one up."""

BODY_ENCODINGS = ("utf-8", "base64")


_QUERY_LOG = QueryLogRow.__table__


class CorruptEntry(ValueError):
    """A spool line that cannot become a ``query_log`` row."""


def ingest_spool(
    store: Store, directory: Path, set_aside: Callable[[int], None] | None = None,
) -> int:
    """Insert the rows of every completed spool file in ``directory``; how many went in.
    ``set_aside`` is told how many corrupt lines each file had (and were quarantined)."""
    if not directory.is_dir():
        return 0
    _salvage_stale_parts(directory)
    interrupted = sorted(directory.glob("*" + INGESTING_SUFFIX))
    inserted = 0
    completed = sorted(directory.glob("*" + SPOOL_SUFFIX), key=_age_order)[:FILES_PER_CALL]
    for path in completed:
        claimed = path.with_name(path.name.removesuffix(SPOOL_SUFFIX) + INGESTING_SUFFIX)
        try:
            path.rename(claimed)
        except FileNotFoundError:
            continue
        inserted += _ingest_file(store, claimed, recovering=False, set_aside=set_aside)
    for path in interrupted:
        inserted += _ingest_file(store, path, recovering=True, set_aside=set_aside)
    return inserted


def row_values(entry: Any) -> dict[str, Any]:
    """The ``query_log`` column values of one spool entry, or ``CorruptEntry``: each of
    ``QUERY_COLUMNS`` checked by its kind.

    This is the ingest's inner loop, so the checks are one loop over ``_CHECKS`` rather
    than a call per column."""
    if type(entry) is not dict:
        raise CorruptEntry("not a JSON object")
    values: dict[str, Any] = {}
    for name, kind, required, default, limit in _CHECKS:
        raw = entry.get(name)
        if raw is None:
            if default is not None:
                raw = default
            elif not required:
                values[name] = None
                continue
        kind_of = type(raw)
        if kind is _TEXT:
            if kind_of is not str:
                raise CorruptEntry(f"{name} is not text")
            if "\x00" in raw:  # PostgreSQL text cannot hold NUL
                raw = raw.replace("\x00", "\ufffd")
            if limit and len(raw) > limit:
                if name == "service_id":
                    raise CorruptEntry("service_id is too long to be a service id")
                raw = raw[:limit]
        elif kind is _INTEGER:
            if kind_of is not int:
                raise CorruptEntry(f"{name} is not an integer")
        elif (kind_of is not float and kind_of is not int) or not math.isfinite(raw):
            raise CorruptEntry(f"{name} is not a finite number")
        elif kind is _TIME:
            raw = datetime.fromtimestamp(raw, UTC)
        else:
            raw = float(raw)
        values[name] = raw
    values["body_encoding"] = _body_encoding(entry, values)
    return values


_TEXT, _INTEGER, _TIME = "text", "integer", "time"
_CHECKS = tuple(
    (column.name, _TEXT if column.kind == "body" else column.kind, column.required,
     column.default, column.length)
    for column in QUERY_COLUMNS if column.kind != "encoding"
)


def _ingest_file(
    store: Store, path: Path, *, recovering: bool, set_aside: Callable[[int], None] | None,
) -> int:
    rows, scored, corrupt = _read(path)
    try:
        with store.writing() as session:
            if recovering and rows and _already_stored(session, rows[0]):
                log.info("query spool file %s was already ingested; removing it", path.name)
                rows, scored, corrupt = [], [], []  # its corrupt lines were set aside then too
            insert_many(session, _QUERY_LOG, rows)
            fold_calls(session, rows)
            fold_drift(session, scored)
            keep_scored_rows(session, scored)
    except SQLAlchemyError:
        log.exception("could not ingest query spool file %s; trying again later", path.name)
        return 0
    if corrupt:
        _quarantine(path, corrupt)
        if set_aside is not None:
            set_aside(len(corrupt))
    path.unlink(missing_ok=True)
    return len(rows)


def _age_order(path: Path) -> tuple[float, str]:
    try:
        return (path.stat().st_mtime, path.name)
    except FileNotFoundError:
        return (0.0, path.name)


def _read(path: Path) -> tuple[list[dict[str, Any]], list[ScoredCall], list[str]]:
    rows: list[dict[str, Any]] = []
    scored: list[ScoredCall] = []
    corrupt: list[str] = []
    with path.open("rb") as source:
        for number, raw in enumerate(source, start=1):
            line = raw.decode("utf-8", errors="replace")
            if not line.strip():
                continue
            try:
                entry = spool_entry(line)
                values = row_values(entry)
            except (ValueError, OverflowError, OSError) as exc:  # CorruptEntry, bad JSON
                log.warning("query spool file %s line %d is corrupt (%s); quarantined",
                            path.name, number, exc)
                corrupt.append(line if line.endswith("\n") else line + "\n")
                continue
            if entry.get(MONITORED) is True:
                scored.append(_scored_call(entry["at"], values))
                if entry.get(BODIES_KEPT) is False:
                    values.update(dict.fromkeys(BODY_COLUMNS), body_encoding=None)
            rows.append(values)
    return rows, scored, corrupt


def _scored_call(at: float, values: dict[str, Any]) -> ScoredCall:
    """What the drift fold reads of a monitored call (its ``query_log`` values)."""
    base64_bodies = values["body_encoding"] == "base64"

    def text(name: str) -> str | None:
        body = values[name]
        if body is None or not base64_bodies:
            return body
        try:  # a body that is not UTF-8 text holds no rows a model service reads
            return base64.b64decode(body).decode("utf-8")
        except UnicodeDecodeError:
            return None

    return ScoredCall(
        service_id=values["service_id"], at=at, generation=values["generation"],
        status=values["status"], request=text("request_body"), response=text("response_body"),
        challenger_generation=values["challenger_generation"],
        challenger_status=values["challenger_status"],
        challenger_response=text("challenger_body"), path=values["path"], role=values["role"],
    )


def _already_stored(session: Session, row: dict[str, Any]) -> bool:
    found = session.scalar(
        select(QueryLogRow.id).where(
            QueryLogRow.service_id == row["service_id"],
            QueryLogRow.request_id == row["request_id"],
            QueryLogRow.at == row["at"],
        ).limit(1)
    )
    return found is not None


def _quarantine(path: Path, lines: list[str]) -> None:
    folder = path.parent / QUARANTINE
    folder.mkdir(exist_ok=True)
    name = path.name.removesuffix(INGESTING_SUFFIX) + SPOOL_SUFFIX
    with (folder / name).open("a", encoding="utf-8") as sink:
        sink.writelines(lines)


def _salvage_stale_parts(directory: Path) -> None:
    now = time.time()
    for part in directory.glob("*" + PART_SUFFIX):
        try:
            if now - part.stat().st_mtime < STALE_PART_AGE:
                continue
            part.rename(part.with_name(part.name.removesuffix(PART_SUFFIX) + SPOOL_SUFFIX))
        except FileNotFoundError:
            continue
        log.warning("salvaging %s, left half written by a gateway that stopped", part.name)


def _body_encoding(entry: dict[str, Any], values: dict[str, Any]) -> str | None:
    encoding = entry.get("body_encoding")
    if encoding is None:
        # Spooled before bodies said how they are written: they were UTF-8 text.
        has_bodies = any(values[name] is not None for name in BODY_COLUMNS)
        return "utf-8" if has_bodies else None
    if encoding not in BODY_ENCODINGS:
        raise CorruptEntry(f"body_encoding is not one of {', '.join(BODY_ENCODINGS)}")
    if encoding == "base64":
        for name in BODY_COLUMNS:
            if values[name] is not None and not _is_base64(values[name]):
                raise CorruptEntry(f"{name} is not base64")
    return encoding


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


