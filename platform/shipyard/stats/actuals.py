"""Actuals: the true outcomes of predictions, sent later and joined to them by association
id (``ServiceActuals.submit``).

An upload is JSON (a list of ``{"association_id", "actual_value", "timestamp"?,
"was_acted_on"?}``) or CSV with those columns in a header row, at most ``MAX_ACTUALS``
rows. It is checked whole before anything is stored: a row with a missing id, an actual
of the wrong type for the model's target, or an id sent twice refuses the upload with
the row named, and nothing stored changes. A stored id's actual is replaced by a resend
(idempotent); an id no prediction carries is kept (and counted as unmatched), so that a
prediction logged later still finds it. The hours of the matched predictions then get
their accuracy made again (``accuracy_folding``).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from sqlalchemy import BigInteger, Select, Table, bindparam, cast, exists, func, select
from sqlalchemy.orm import Session

from shipyard.errors import InvalidInput, PayloadTooLarge
from shipyard.stats.accuracy_folding import hour_of, joins_its_actual, refold_hours
from shipyard.stats.drift_profiles import model_details
from shipyard.stats.rollup import HOUR
from shipyard.stats.scored_rows import MAX_ASSOCIATION_ID, association_id_of
from shipyard.store import (
    ActualRow,
    BatchScoredRowRow,
    GenerationRow,
    ScoredRowRow,
    Store,
    lock_services,
)
from shipyard.store.upserts import upsert_rows

__all__ = ["MAX_ACTUALS", "Actual", "ServiceActuals", "parse_actuals"]

MAX_ACTUALS = 100_000
COLUMNS = ("association_id", "actual_value", "timestamp", "was_acted_on")
_KNOWN = frozenset(COLUMNS)
_IDS = 500
"""Association ids looked up per statement (well under any database's parameter limit)."""
_ACTUALS = ActualRow.__table__
_SCORED = ScoredRowRow.__table__
_BATCH_SCORED = BatchScoredRowRow.__table__
_ID_NAMES = [f"id{n}" for n in range(_IDS)]


@functools.cache
def _stored_statement() -> Select[tuple[int]]:
    """How many of ``_IDS`` association ids have an actual already: built on first use
    (its 500 parameters take about 50 ms, which every process importing this module
    would pay at start), then cached compiled by SQLAlchemy."""
    return select(func.count()).select_from(_ACTUALS).where(
        _ACTUALS.c.service_id == bindparam("service_id"),
        _ACTUALS.c.association_id.in_([bindparam(name) for name in _ID_NAMES]))

_Row = tuple[str, Any, float | None, bool | None]
"""A checked row: association id, actual, timestamp, was acted on (``Actual``'s fields)."""


@dataclass(frozen=True)
class Actual:
    association_id: str
    value: Any
    timestamp: float | None = None
    was_acted_on: bool | None = None


def parse_actuals(body: bytes, content_type: str, problem_type: str | None) -> list[Actual]:
    """The rows of an upload, checked; ``InvalidInput`` naming the first bad row."""
    return [Actual(*row) for row in _checked_rows(body, content_type, problem_type)]


class ServiceActuals:
    def __init__(self, store: Store) -> None:
        self.store = store

    def submit(self, service_id: str, body: bytes, content_type: str) -> dict[str, int]:
        """Store an upload and join it; how many rows it held, matched a prediction, did
        not, and replaced an actual sent before."""
        with self.store.writing() as session:
            # The stamp below is read, then written (later than any stored): on
            # PostgreSQL, two uploads for one service take turns on its row for it, as
            # every write does on SQLite.
            lock_services(session, [service_id])
            models: dict[tuple[str, str], dict[str, Any] | None] = {}
            problem = _problem_type(session, service_id, models)
            if problem is None:
                raise InvalidInput(
                    "this service serves no model: actuals join the predictions of a model "
                    "service, or of a custom service whose shipyard.yaml declares features, "
                    "target and problem_type")
            rows = _checked_rows(body, content_type, problem)
            # This upload's stamp, later than any stored: its rows are found by it.
            latest = session.scalar(select(func.max(_ACTUALS.c.received_at)).where(
                _ACTUALS.c.service_id == service_id))
            now = time.time() if latest is None else max(time.time(), latest + 1e-3)
            updated = 0 if latest is None else _stored(session, service_id,
                                                       [row[0] for row in rows])
            dumps = json.dumps
            upsert_rows(session, _ACTUALS, [
                (service_id, association_id,
                 encode_basestring_ascii(value) if type(value) is str else dumps(value),
                 timestamp, was_acted_on, now)
                for association_id, value, timestamp, was_acted_on in rows
            ])
            matched, hours = _matched(session, service_id, now)
            refold_hours(session, {(service_id, hour) for hour in hours}, models)
        return {"received": len(rows), "matched": matched,
                "unmatched": len(rows) - matched, "updated": updated}


def _problem_type(session: Session, service_id: str,
                  models: dict[tuple[str, str], dict[str, Any] | None]) -> str | None:
    """The problem type of the newest generation serving a model; the details read are
    kept in ``models`` (``refold_hours`` takes them)."""
    for number in session.scalars(select(GenerationRow.number).where(
            GenerationRow.service_id == service_id,
            GenerationRow.model_version.is_not(None) | GenerationRow.interface.is_not(None))
            .order_by(GenerationRow.number.desc()).limit(1)):
        generation = f"v{number}"
        details = models[(service_id, generation)] = model_details(session, service_id,
                                                                   generation)
        if details is not None:
            return str(details.get("problem_type") or "") or None
    return None


def _stored(session: Session, service_id: str, ids: list[str]) -> int:
    """How many of ``ids`` have an actual stored, found by key whatever else the service
    holds: ``_IDS`` at a time by one statement, the last ones padded with a repeat."""
    stored = 0
    for start in range(0, len(ids), _IDS):
        some = ids[start:start + _IDS]
        some += [some[0]] * (_IDS - len(some))
        values = {"service_id": service_id, **dict(zip(_ID_NAMES, some, strict=True))}
        stored += session.scalar(_stored_statement(), values) or 0
    return stored


def _matched(session: Session, service_id: str, received_at: float) -> tuple[int, set[int]]:
    """How many rows of the upload stamped ``received_at`` a prediction carries (a live
    call's or a batch job's), and the hours (``hour_of``) those were scored in. The
    database counts them by hour, its hour being whole seconds over 3600 however it turns
    a number into a whole one (SQLite cuts, PostgreSQL rounds): such an hour spans at
    most two of ours, those of its first and last rows."""
    matched, hours = 0, set()
    for first, last, count in session.execute(_joined_by_hour(_SCORED, service_id,
                                                              received_at)):
        matched += count
        hours.update((hour_of(first), hour_of(last)))
    batch_matched = False
    for first, last, _count in session.execute(_joined_by_hour(_BATCH_SCORED, service_id,
                                                               received_at)):
        hours.update((hour_of(first), hour_of(last)))
        batch_matched = True
    if batch_matched:  # the ids only a batch job scored match too
        matched += session.scalar(
            select(func.count()).select_from(_ACTUALS)
            .where(_ACTUALS.c.service_id == service_id, _ACTUALS.c.received_at == received_at,
                   ~exists().where(joins_its_actual(_SCORED)),
                   exists().where(joins_its_actual(_BATCH_SCORED)))) or 0
    return matched, hours


def _joined_by_hour(scored: Table, service_id: str, received_at: float) -> Select[Any]:
    """The first and last time, and the count, of the rows of ``scored`` that the upload
    stamped ``received_at`` joins, by the database's hour (see ``_matched``)."""
    at = scored.c.at
    return (
        select(func.min(at), func.max(at), func.count())
        .join(_ACTUALS, joins_its_actual(scored))
        .where(_ACTUALS.c.service_id == service_id, _ACTUALS.c.received_at == received_at)
        .group_by(cast(at, BigInteger) // HOUR)
    )


def _checked_rows(body: bytes, content_type: str, problem_type: str | None) -> list[_Row]:
    """``parse_actuals``, each row a tuple."""
    if content_type.split(";")[0].strip().lower() == "text/csv":
        records = _csv_records(body)
        from_text = True
    else:
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise InvalidInput(f"actuals must be a JSON list of objects or text/csv: {exc}") \
                from None
        if not isinstance(document, list):
            raise InvalidInput('actuals must be a JSON list of objects such as [{"association_id"'
                               ': "order-1", "actual_value": "setosa"}], or text/csv')
        records = document
        from_text = False
    if len(records) > MAX_ACTUALS:
        raise PayloadTooLarge(f"{len(records)} actuals in one upload; at most {MAX_ACTUALS} "
                              "are taken at once: send them in parts")
    if not records:
        raise InvalidInput("the upload holds no actuals")
    regression = problem_type == "regression"
    rows: list[_Row] = []
    first_row: dict[str, int] = {}
    for number, record in enumerate(records, 1):
        row = _actual(record, number, regression, from_text)
        association_id = row[0]
        if association_id in first_row:
            raise InvalidInput(
                f"row {number}: association_id {association_id!r} was sent already in "
                f"row {first_row[association_id]}; send each id once per upload")
        first_row[association_id] = number
        rows.append(row)
    return rows


def _csv_records(body: bytes) -> list[dict[str, Any]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the CSV is not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in COLUMNS[:2] if name not in header]
    if missing:
        raise InvalidInput(f"the CSV header lacks the column(s) {', '.join(missing)}; it has "
                           f"{', '.join(header) or 'none'} (needed: association_id, "
                           "actual_value; optional: timestamp, was_acted_on)")
    reader.fieldnames = header
    try:
        return [{key: value for key, value in row.items() if key in COLUMNS and value != ""}
                for row in reader]
    except csv.Error as exc:
        raise InvalidInput(f"the CSV cannot be read: {exc}") from None


def _actual(record: Any, number: int, regression: bool, from_text: bool) -> _Row:
    """Row ``number``, checked. The common cases (a text id, a text label, no timestamp or
    a boolean) are taken on the spot; every other goes through the checks below, which
    name the row when they refuse it."""
    if not isinstance(record, dict):
        raise InvalidInput(f"row {number} must be an object with association_id and "
                           "actual_value")
    if not record.keys() <= _KNOWN:
        unknown = sorted(set(record) - _KNOWN)
        raise InvalidInput(f"row {number} has unknown field(s) {unknown}; known: "
                           f"{', '.join(COLUMNS)}")
    raw_id = record.get("association_id")
    association_id = raw_id.strip() if type(raw_id) is str else ""
    if not 0 < len(association_id) <= MAX_ASSOCIATION_ID:
        association_id = _association_id(raw_id, number)
    value = record.get("actual_value")
    if type(value) is str and not regression:
        value = value.strip()
    else:
        value = _value(value, number, regression, from_text)
    timestamp = record.get("timestamp")
    if timestamp is not None:
        timestamp = _timestamp(timestamp, number)
    acted_on = record.get("was_acted_on")
    if acted_on is not None and acted_on is not True and acted_on is not False:
        acted_on = _acted_on(acted_on, number)
    return association_id, value, timestamp, acted_on


def _association_id(raw_id: Any, number: int) -> str:
    association_id = None
    if isinstance(raw_id, str | int) and not isinstance(raw_id, bool):
        association_id = association_id_of([raw_id.strip() if isinstance(raw_id, str)
                                            else raw_id])
    if association_id is None:
        raise InvalidInput(f"row {number}: association_id must be a text or a whole number "
                           f"of 1 to {MAX_ASSOCIATION_ID} characters, not {raw_id!r}")
    return association_id


def _value(value: Any, number: int, regression: bool, from_text: bool) -> Any:
    if value is None:
        raise InvalidInput(f"row {number} lacks actual_value")
    if regression:
        if from_text and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            raise InvalidInput(f"row {number}: actual_value must be a finite number for a "
                               f"regression model, not {value!r}")
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, str | int | bool):
        raise InvalidInput(f"row {number}: actual_value must be a class label (text, a whole "
                           f"number or true/false) for a classification model, not {value!r}")
    return value.strip() if isinstance(value, str) else value


def _timestamp(value: Any, number: int) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        with contextlib.suppress(ValueError):  # epoch seconds, as CSV text
            seconds = float(text)
            if math.isfinite(seconds):
                return seconds
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    raise InvalidInput(f"row {number}: timestamp must be ISO 8601 or epoch seconds, "
                       f"not {value!r}")


def _acted_on(value: Any, number: int) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0"):
        return value.strip().lower() in ("true", "1")
    raise InvalidInput(f"row {number}: was_acted_on must be true or false, not {value!r}")
