"""Batch jobs on a schedule: a cron expression (read by croniter, five fields or a name
such as ``@daily``, in UTC), a source the administrator allows (``batch_sources``), and
the options of the jobs it starts. The supervisor starts a job when a schedule is due
(``due``, ``started``): each run is a job of its own and keeps its results, and a run that
cannot start (no file there, a file without the model's features) says why on the
schedule. A schedule runs with the rights of who made it, as a job does; its service's
collaborators make, see and delete its schedules.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.domain.batch_files import FORMATS
from shipyard.domain.batch_jobs import BatchOptions
from shipyard.domain.batch_sources import BatchSources
from shipyard.domain.services import find_service
from shipyard.errors import Forbidden, InvalidInput, NotFound
from shipyard.iam.principals import Caller, may_collaborate
from shipyard.store import ServiceRow, Store
from shipyard.store.batch_tables import BatchScheduleRow

__all__ = ["BatchSchedule", "BatchSchedules", "next_run"]

_FIELDS = ("cron", "source", "format", *BatchOptions.FIELDS)


def next_run(cron: str, after: datetime) -> datetime:
    """When ``cron`` fires next after ``after`` (UTC)."""
    return croniter(cron, after.astimezone(UTC)).get_next(datetime)


def _checked_cron(cron: object) -> str:
    if not isinstance(cron, str) or not cron.strip():
        raise InvalidInput("'cron' must be a cron expression such as '0 3 * * *'")
    cron = " ".join(cron.split())
    fields = cron.split(" ")
    if not (cron.startswith("@") or len(fields) == 5) or not croniter.is_valid(cron):
        raise InvalidInput(f"cron {cron!r} does not parse: give five fields (minute hour "
                           "day-of-month month day-of-week, as '0 3 * * *') or a name such "
                           "as @daily")
    return cron


@dataclass(frozen=True)
class BatchSchedule:
    id: str
    service_id: str
    service: str
    created_at: datetime
    created_by: str
    cron: str
    source: str
    input_format: str | None
    options: dict[str, Any]
    next_run_at: datetime
    last_run_at: datetime | None
    last_job_id: str | None
    last_error: str

    @classmethod
    def from_row(cls, row: BatchScheduleRow, service: str) -> BatchSchedule:
        return cls(row.id, row.service_id, service, row.created_at, row.created_by, row.cron,
                   row.source, row.input_format, dict(row.options), row.next_run_at,
                   row.last_run_at, row.last_job_id, row.last_error)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "service_id": self.service_id, "service": self.service,
            "created_at": self.created_at.isoformat(), "created_by": self.created_by,
            "cron": self.cron, "source": self.source, "format": self.input_format,
            "options": self.options, "next_run_at": self.next_run_at.isoformat(),
            "last_run_at": self.last_run_at.isoformat() if self.last_run_at else None,
            "last_job_id": self.last_job_id, "last_error": self.last_error,
        }


class BatchSchedules:
    def __init__(self, store: Store, sources: BatchSources) -> None:
        self.store = store
        self.sources = sources

    def create(self, ref: str, caller: Caller, data: Mapping[str, Any]) -> BatchSchedule:
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise InvalidInput(f"unknown fields {unknown}; known: {sorted(_FIELDS)}")
        cron = _checked_cron(data.get("cron"))
        source = self.sources.check(data.get("source"))
        fmt = data.get("format")
        if fmt is not None and fmt not in FORMATS:
            raise InvalidInput(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
        options = {key: data[key] for key in BatchOptions.FIELDS if key in data}
        BatchOptions.parse(options)  # checked now, parsed again at each run
        now = datetime.now(UTC)
        with self.store.writing() as session:
            service = self._collaborated(session, ref, caller)
            row = BatchScheduleRow(
                id=uuid.uuid4().hex, service_id=service.id, created_at=now,
                created_by=caller.label, caller_kind=caller.kind, caller_id=caller.id,
                cron=cron, source=source.location, input_format=fmt, options=options,
                next_run_at=next_run(cron, now), last_error="",
            )
            session.add(row)
            session.flush()
            return BatchSchedule.from_row(row, service.name)

    def list(self, ref: str, caller: Caller) -> list[BatchSchedule]:
        with self.store.reading() as session:
            service = self._collaborated(session, ref, caller)
            rows = session.scalars(select(BatchScheduleRow).where(
                BatchScheduleRow.service_id == service.id).order_by(BatchScheduleRow.created_at))
            return [BatchSchedule.from_row(row, service.name) for row in rows]

    def get(self, schedule_id: str, caller: Caller) -> BatchSchedule:
        with self.store.reading() as session:
            row, service = self._visible(session, schedule_id, caller)
            return BatchSchedule.from_row(row, service.name)

    def run_now(self, schedule_id: str, caller: Caller) -> BatchSchedule:
        """Make the schedule due now: the supervisor starts its run at its next tick."""
        with self.store.writing() as session:
            row, service = self._visible(session, schedule_id, caller)
            row.next_run_at = datetime.now(UTC)
            return BatchSchedule.from_row(row, service.name)

    def delete(self, schedule_id: str, caller: Caller) -> None:
        """Stop the schedule; the jobs it started stay, with their results."""
        with self.store.writing() as session:
            row, _service = self._visible(session, schedule_id, caller)
            session.delete(row)

    def _collaborated(self, session: Session, ref: str, caller: Caller) -> ServiceRow:
        service = find_service(session, ref)
        if not may_collaborate(caller, service.project_id):
            raise Forbidden(f"you are not a collaborator of service {service.name!r}")
        return service

    def _visible(self, session: Session, schedule_id: str, caller: Caller
                 ) -> tuple[BatchScheduleRow, ServiceRow]:
        row = session.get(BatchScheduleRow, schedule_id)
        service = session.get(ServiceRow, row.service_id) if row is not None else None
        if row is None or service is None or not may_collaborate(caller, service.project_id):
            raise NotFound(f"batch schedule {schedule_id!r} does not exist")
        return row, service
