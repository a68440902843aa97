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
import io
import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shipyard.errors import InvalidInput, PayloadTooLarge
from shipyard.stats.accuracy_folding import hour_of, refold_hours
from shipyard.stats.drift_profiles import model_details
from shipyard.stats.scored_rows import MAX_ASSOCIATION_ID, association_id_of
from shipyard.store import ActualRow, GenerationRow, ScoredRowRow, Store
from shipyard.store.upserts import upsert

__all__ = ["MAX_ACTUALS", "Actual", "ServiceActuals", "parse_actuals"]

MAX_ACTUALS = 100_000
COLUMNS = ("association_id", "actual_value", "timestamp", "was_acted_on")
_CHUNK = 500


@dataclass(frozen=True)
class Actual:
    association_id: str
    value: Any
    timestamp: float | None = None
    was_acted_on: bool | None = None


def parse_actuals(body: bytes, content_type: str, problem_type: str | None) -> list[Actual]:
    """The rows of an upload, checked; ``InvalidInput`` naming the first bad row."""
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
    actuals: list[Actual] = []
    first_row: dict[str, int] = {}
    for number, record in enumerate(records, 1):
        actual = _actual(record, number, problem_type, from_text)
        if actual.association_id in first_row:
            raise InvalidInput(
                f"row {number}: association_id {actual.association_id!r} was sent already in "
                f"row {first_row[actual.association_id]}; send each id once per upload")
        first_row[actual.association_id] = number
        actuals.append(actual)
    return actuals


class ServiceActuals:
    def __init__(self, store: Store) -> None:
        self.store = store

    def submit(self, service_id: str, body: bytes, content_type: str) -> dict[str, int]:
        """Store an upload and join it; how many rows it held, matched a prediction, did
        not, and replaced an actual sent before."""
        with self.store.writing() as session:
            actuals = parse_actuals(body, content_type, _problem_type(session, service_id))
            before = _count(session, service_id)
            # This upload's stamp, later than any stored: its rows are found by it.
            latest = session.scalar(select(func.max(ActualRow.received_at)).where(
                ActualRow.service_id == service_id))
            now = time.time() if latest is None else max(time.time(), latest + 1e-3)
            upsert(session, ActualRow.__table__, [
                {"service_id": service_id, "association_id": actual.association_id,
                 "actual_value": json.dumps(actual.value), "timestamp": actual.timestamp,
                 "was_acted_on": actual.was_acted_on, "received_at": now}
                for actual in actuals
            ])
            updated = len(actuals) - (_count(session, service_id) - before)
            scored_at = list(session.scalars(
                select(ScoredRowRow.at).join(ActualRow, (
                    ActualRow.service_id == ScoredRowRow.service_id)
                    & (ActualRow.association_id == ScoredRowRow.association_id))
                .where(ActualRow.service_id == service_id, ActualRow.received_at == now)))
            refold_hours(session, {(service_id, hour_of(at)) for at in scored_at})
        matched = len(scored_at)
        return {"received": len(actuals), "matched": matched,
                "unmatched": len(actuals) - matched, "updated": updated}


def _problem_type(session: Session, service_id: str) -> str | None:
    """The problem type of the newest generation serving a model."""
    for number in session.scalars(select(GenerationRow.number).where(
            GenerationRow.service_id == service_id, GenerationRow.model_version.is_not(None))
            .order_by(GenerationRow.number.desc()).limit(1)):
        details = model_details(session, service_id, f"v{number}")
        if details is not None:
            return str(details.get("problem_type") or "") or None
    return None


def _count(session: Session, service_id: str) -> int:
    return session.scalar(select(func.count()).select_from(ActualRow).where(
        ActualRow.service_id == service_id)) or 0


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


def _actual(record: Any, number: int, problem_type: str | None, from_text: bool) -> Actual:
    where = f"row {number}"
    if not isinstance(record, dict):
        raise InvalidInput(f"{where} must be an object with association_id and actual_value")
    unknown = sorted(set(record) - set(COLUMNS))
    if unknown:
        raise InvalidInput(f"{where} has unknown field(s) {unknown}; known: {', '.join(COLUMNS)}")
    raw_id = record.get("association_id")
    association_id = None
    if isinstance(raw_id, str | int) and not isinstance(raw_id, bool):
        association_id = association_id_of([raw_id.strip() if isinstance(raw_id, str)
                                            else raw_id])
    if association_id is None:
        raise InvalidInput(f"{where}: association_id must be a text or a whole number of 1 to "
                           f"{MAX_ASSOCIATION_ID} characters, not {raw_id!r}")
    return Actual(association_id, _value(record.get("actual_value"), where, problem_type,
                                         from_text),
                  _timestamp(record.get("timestamp"), where),
                  _acted_on(record.get("was_acted_on"), where))


def _value(value: Any, where: str, problem_type: str | None, from_text: bool) -> Any:
    if value is None:
        raise InvalidInput(f"{where} lacks actual_value")
    if problem_type == "regression":
        if from_text and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            raise InvalidInput(f"{where}: actual_value must be a finite number for a "
                               f"regression model, not {value!r}")
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, str | int | bool):
        raise InvalidInput(f"{where}: actual_value must be a class label (text, a whole "
                           f"number or true/false) for a classification model, not {value!r}")
    return value.strip() if isinstance(value, str) else value


def _timestamp(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        with contextlib.suppress(ValueError):  # epoch seconds, as CSV text
            number = float(text)
            if math.isfinite(number):
                return number
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    raise InvalidInput(f"{where}: timestamp must be ISO 8601 or epoch seconds, not {value!r}")


def _acted_on(value: Any, where: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0"):
        return value.strip().lower() in ("true", "1")
    raise InvalidInput(f"{where}: was_acted_on must be true or false, not {value!r}")
