"""The table of batch jobs (``shipyard.domain.batch_jobs`` says what a job is)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store.tables import Base, UTCDateTime

__all__ = ["BatchJobRow", "BatchScheduleRow"]


class BatchJobRow(Base):
    """A file scored by a service's generations in the background. Its files are in the
    job's folder (``shipyard.contracts.run_paths.batch_job_dir``); the row says how far
    the job got, so that it resumes after a restart from its last finished chunk."""

    __tablename__ = "batch_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    service_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("services.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Who asked (a label for people) and who the job's calls act as: the user or service
    # whose access key the job signs with while it runs.
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)
    caller_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    caller_id: Mapped[str] = mapped_column(String(32), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    input_format: Mapped[str] = mapped_column(String(16), nullable=False)
    input_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The job whose input file this one scores again (its folder holds the file).
    input_job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    output_format: Mapped[str] = mapped_column(String(16), nullable=False)
    chunk_size: Mapped[int] = mapped_column(Integer, nullable=False)
    passthrough: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    association_column: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # [{"generation": "v2", "role": "main", "rows_scored": 0, "rows_failed": 0}, ...]
    generations: Mapped[list[dict]] = mapped_column(JSON, nullable=False)
    rows_total: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rows_done: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # Chunks whose every generation's part is written: where a resumed job starts.
    chunks_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When the job last (re)started running, and its rows done then: its rate since.
    resumed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    rows_at_resume: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    access_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The schedule whose run made it; None for a job started by hand.
    schedule_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)


class BatchScheduleRow(Base):
    """A batch job that runs on a cron schedule, on a file at a path or URL the
    administrator allows (``shipyard.domain.batch_schedules``); each run is a job of its
    own (``BatchJobRow.schedule_id``)."""

    __tablename__ = "batch_schedules"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    service_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("services.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Whose right each run's calls use, as a job's (``BatchJobRow``).
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)
    caller_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    caller_id: Mapped[str] = mapped_column(String(32), nullable=False)
    cron: Mapped[str] = mapped_column(String(255), nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    # The input's format; None: from the source's suffix at each run.
    input_format: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The jobs' options (``BatchOptions``), as the API took them.
    options: Mapped[dict] = mapped_column(JSON, nullable=False)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Why its last run made no job ("" when it made one).
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
