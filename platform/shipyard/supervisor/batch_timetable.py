"""The supervisor's part of batch schedules: each tick, the schedules that are due start
their run, a job made from the schedule's source (read in a thread of its own, so a large
file or a slow server never holds the loop). A schedule's next run is set from the time it
ran, so a supervisor that was down for a day runs a daily schedule once, not once per
missed day. A run that cannot start says why on the schedule (``last_error``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import select

from shipyard.domain.batch_jobs import BatchJobs, BatchOptions
from shipyard.domain.batch_schedules import next_run
from shipyard.domain.batch_sources import BatchSources
from shipyard.errors import ShipyardError
from shipyard.store import Store
from shipyard.store.batch_tables import BatchScheduleRow

__all__ = ["BatchTimetable"]

log = logging.getLogger(__name__)


class BatchTimetable:
    def __init__(self, store: Store, jobs: BatchJobs, sources: BatchSources, *,
                 started: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.jobs = jobs
        self.sources = sources
        self._started = started
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="batch-schedule")
        self._lock = threading.Lock()
        self._starting: set[str] = set()

    def run(self, now: datetime | None = None) -> list[str]:
        """Start the runs of the schedules due at ``now``; their ids."""
        now = now or datetime.now(UTC)
        with self.store.reading() as session:  # each tick: no write lock unless one is due
            if session.scalar(select(BatchScheduleRow.id).where(
                    BatchScheduleRow.next_run_at <= now).limit(1)) is None:
                return []
        with self.store.writing() as session:
            due = list(session.scalars(select(BatchScheduleRow).where(
                BatchScheduleRow.next_run_at <= now)))
            with self._lock:
                due = [row for row in due if row.id not in self._starting]
                self._starting.update(row.id for row in due)
            for row in due:
                row.next_run_at = next_run(row.cron, now)
            started = [row.id for row in due]
        for schedule_id in started:
            self._pool.submit(self._start, schedule_id, now)
        return started

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _start(self, schedule_id: str, now: datetime) -> None:
        try:
            with self.store.reading() as session:
                row = session.get(BatchScheduleRow, schedule_id)
                if row is None:
                    return
                plan = (row.service_id, row.caller_kind, row.caller_id, row.source,
                        row.input_format, dict(row.options))
            service_id, kind, caller_id, source, fmt, options = plan
            job_id, error = None, ""
            try:
                job = self.jobs.create_from_source(
                    service_id, kind, caller_id, self.sources.check(source), self.sources,
                    fmt=fmt, options=BatchOptions.parse(options), schedule_id=schedule_id)
                job_id = job.id
            except ShipyardError as exc:
                error = exc.message
                log.info("batch schedule %s did not start a job: %s", schedule_id, error)
            with self.store.writing() as session:
                row = session.get(BatchScheduleRow, schedule_id)
                if row is not None:
                    row.last_run_at = now
                    row.last_job_id = job_id or row.last_job_id
                    row.last_error = error
            if job_id is not None:
                self._started()
        except Exception:
            log.exception("batch schedule %s failed to run", schedule_id)
        finally:
            with self._lock:
                self._starting.discard(schedule_id)
