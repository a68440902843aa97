"""Batch jobs: a file scored by a model service's generations, in the background.

The API makes a job (``BatchJobs.create``): it streams the uploaded file to the job's
folder (``<home>/batch/<job id>``, at most ``max_batch_bytes``, its SHA-256 checked against
the signed one), checks it (a known format, a header with every feature of each
generation's model, at least one row) and the options, and records the job ``queued``.
Nothing runs in the API: the supervisor's ``BatchScoring`` scores the chunks through the
gateway, acting as the caller, and keeps the row up to date; this module answers what the
API and the CLI ask of it (a job, a service's jobs, a cancel, a result file).

A job scores with the generation serving the most traffic (``main``), and with the
service's challenger too when asked (``challenger``); or with generations named
(``chosen``). Each must have a model (a model service's, or one its files declare) and a
healthy instance when the job is made. A job and its files are kept
``batch_retention_days`` after it ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.domain.batch_files import (
    FORMATS,
    BatchInput,
    format_of,
    format_of_name,
    media_type,
)
from shipyard.domain.batch_sources import BatchSources, Source
from shipyard.domain.generation_refs import main_generation, mapping_of, parse_tag, tag_of
from shipyard.domain.query_flags import query_flag
from shipyard.domain.services import find_service
from shipyard.domain.states import InstanceState
from shipyard.errors import Conflict, Forbidden, InvalidInput, NotFound, PayloadTooLarge
from shipyard.iam.directory import caller_for_service, caller_for_user
from shipyard.iam.principals import Caller, may_collaborate, may_invoke
from shipyard.stats.drift_profiles import GenerationModel, generation_model
from shipyard.stats.monitoring_settings import monitoring_of
from shipyard.store import GenerationRow, InstanceRow, ServiceRow, Store, UserRow
from shipyard.store.batch_tables import BatchJobRow

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "FINAL_STATES",
    "MAX_CHUNK_SIZE",
    "BatchJob",
    "BatchJobState",
    "BatchJobs",
    "BatchOptions",
    "batch_jobs_dir",
    "errors_file",
    "input_file",
    "result_file",
]

DEFAULT_CHUNK_SIZE = 1000
MAX_CHUNK_SIZE = 10_000
_COPY_BLOCK = 1024 * 1024


class BatchJobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATES = frozenset({BatchJobState.SUCCEEDED, BatchJobState.FAILED,
                          BatchJobState.CANCELLED})


def batch_jobs_dir(home: Path) -> Path:
    """Where the jobs' folders are: the API writes a job's input there, the supervisor
    its parts and results."""
    return home / "batch"


def input_file(job_dir: Path, fmt: str) -> Path:
    return job_dir / f"input.{fmt}"


def result_file(job_dir: Path, generation: str, fmt: str) -> Path:
    return job_dir / "results" / f"{generation}.{fmt}"


def errors_file(job_dir: Path, generation: str) -> Path:
    return job_dir / "results" / f"{generation}.errors.jsonl"


@dataclass(frozen=True)
class BatchOptions:
    """How a job scores: the options a caller may give, checked."""

    output_format: str | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    challenger: bool = False
    generations: tuple[str, ...] = ()
    passthrough: tuple[str, ...] = ()
    association_column: str | None = None

    FIELDS = ("output_format", "chunk_size", "challenger", "generations", "passthrough",
              "association_column")

    @classmethod
    def from_query(cls, args: Mapping[str, str]) -> BatchOptions:
        """From query parameters: lists comma-separated, ``challenger=true``."""
        return cls.parse({
            "output_format": args.get("output_format") or None,
            "chunk_size": _integer(args["chunk_size"]) if "chunk_size" in args else None,
            "challenger": bool(query_flag(args, "challenger")),
            "generations": _listed(args.get("generations", "")),
            "passthrough": _listed(args.get("passthrough", "")),
            "association_column": args.get("association_column") or None,
        })

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> BatchOptions:
        output_format = data.get("output_format")
        if output_format is not None and output_format not in FORMATS:
            raise InvalidInput(f"unknown output_format {output_format!r}; known: "
                               f"{', '.join(FORMATS)}")
        chunk_size = data.get("chunk_size")
        chunk_size = DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or not (
                1 <= chunk_size <= MAX_CHUNK_SIZE):
            raise InvalidInput(f"chunk_size must be a whole number from 1 to {MAX_CHUNK_SIZE}")
        challenger = data.get("challenger", False)
        if not isinstance(challenger, bool):
            raise InvalidInput("challenger must be true or false")
        generations = _names(data.get("generations"), "generations")
        for tag in generations:
            parse_tag(tag)
        if challenger and generations:
            raise InvalidInput("name the generations, or ask for the challenger; not both")
        association = data.get("association_column")
        if association is not None and (not isinstance(association, str) or not association):
            raise InvalidInput("association_column must name a column")
        return cls(output_format, chunk_size, challenger, generations,
                   _passthrough(data.get("passthrough")), association)


@dataclass(frozen=True)
class BatchJob:
    id: str
    service_id: str
    service: str
    state: str
    message: str
    created_at: datetime
    created_by: str
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime
    input_format: str
    input_bytes: int
    input_job_id: str | None
    output_format: str
    chunk_size: int
    passthrough: list[str]
    association_column: str | None
    generations: list[dict[str, Any]]
    rows_total: int | None
    rows_done: int
    resumed_at: float | None
    rows_at_resume: int
    schedule_id: str | None

    @classmethod
    def from_row(cls, row: BatchJobRow, service: str) -> BatchJob:
        return cls(
            row.id, row.service_id, service, row.state, row.message, row.created_at,
            row.created_by, row.started_at, row.finished_at, row.expires_at,
            row.input_format, row.input_bytes, row.input_job_id, row.output_format,
            row.chunk_size, list(row.passthrough), row.association_column,
            [dict(g) for g in row.generations], row.rows_total, row.rows_done,
            row.resumed_at, row.rows_at_resume, row.schedule_id,
        )

    def rate(self, now: float) -> float | None:
        """Rows per second since the job last (re)started, while it runs."""
        if self.state != BatchJobState.RUNNING or self.resumed_at is None:
            return None
        elapsed = now - self.resumed_at
        done = self.rows_done - self.rows_at_resume
        return done / elapsed if elapsed > 0 and done > 0 else None

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        rate = self.rate(now if now is not None else datetime.now(UTC).timestamp())
        left = None
        if rate and self.rows_total is not None:
            left = max(0.0, (self.rows_total - self.rows_done) / rate)
        base = f"/api/v1/batch-jobs/{self.id}"
        done = self.state == BatchJobState.SUCCEEDED
        return {
            "id": self.id, "service_id": self.service_id, "service": self.service,
            "state": self.state, "message": self.message,
            "created_at": self.created_at.isoformat(), "created_by": self.created_by,
            "started_at": _iso(self.started_at), "finished_at": _iso(self.finished_at),
            "expires_at": self.expires_at.isoformat(),
            "input": {"format": self.input_format, "bytes": self.input_bytes,
                      "job": self.input_job_id},
            "output_format": self.output_format, "schedule_id": self.schedule_id,
            "options": {"chunk_size": self.chunk_size, "passthrough": self.passthrough,
                        "association_column": self.association_column},
            "generations": [
                {**g,
                 "result_url": f"{base}/results/{g['generation']}" if done else None,
                 "errors_url": f"{base}/errors/{g['generation']}" if done else None}
                for g in self.generations
            ],
            "rows_total": self.rows_total, "rows_done": self.rows_done,
            "rate": round(rate, 1) if rate else None,
            "seconds_left": round(left, 1) if left is not None else None,
        }


class BatchJobs:
    def __init__(self, store: Store, home: Path, *, max_bytes: int, retention_days: int
                 ) -> None:
        self.store = store
        self.root = batch_jobs_dir(home)
        self.max_bytes = max_bytes
        self.retention_days = retention_days

    def create(
        self, ref: str, caller: Caller, body: IO[bytes], *, content_type: str | None,
        fmt: str | None, options: BatchOptions, signed_sha256: str | None = None,
    ) -> BatchJob:
        """A job for the file in ``body`` (read to its end, never whole in memory);
        ``signed_sha256``, when the request was signed, is the hash its signature
        covers, which the file must have."""
        fmt = format_of(fmt, content_type)
        with self.store.reading() as session:
            service_id = self._service_for(session, ref, caller).id
        with self._job_folder() as (job_id, job_dir):
            path = input_file(job_dir, fmt)
            size, digest = self._spool(body, path)
            if signed_sha256 is not None and digest != signed_sha256:
                raise Forbidden("the upload is not what was signed: its SHA-256 is not the "
                                "x-amz-content-sha256 the signature covers")
            return self._record(job_id, service_id, caller, BatchInput(path, fmt), size,
                                None, options)

    def create_from_job(self, ref: str, caller: Caller, input_job_id: str,
                        options: BatchOptions) -> BatchJob:
        """A job that scores the input of an earlier job of the same service again."""
        with self.store.reading() as session:
            service_id = self._service_for(session, ref, caller).id
            earlier = self._visible_row(session, input_job_id, caller)
            if earlier.service_id != service_id:
                raise InvalidInput(f"batch job {input_job_id!r} scored another service")
            earlier_id, fmt, size = earlier.id, earlier.input_format, earlier.input_bytes
        source = input_file(self.root / earlier_id, fmt)
        if not source.is_file():
            raise Conflict(f"the input of batch job {input_job_id!r} is gone")
        with self._job_folder() as (job_id, job_dir):
            path = input_file(job_dir, fmt)
            # A link, not a copy: the new job keeps the file if the earlier one expires.
            try:
                os.link(source, path)
            except OSError:
                shutil.copyfile(source, path)
            return self._record(job_id, service_id, caller, BatchInput(path, fmt), size,
                                earlier_id, options)

    def create_from_source(
        self, service_id: str, caller_kind: str, caller_id: str, source: Source,
        sources: BatchSources, *, fmt: str | None, options: BatchOptions, schedule_id: str,
    ) -> BatchJob:
        """A schedule's run: a job for the file at ``source`` (a path or URL the
        allow-list ``sources`` allows), streamed to the job's folder as an upload is, with
        the rights its owner has now."""
        with self.store.reading() as session:
            caller = _owner(session, caller_kind, caller_id)
            service_id = self._service_for(session, service_id, caller).id
        with self._job_folder() as (job_id, job_dir):
            with sources.open(source) as (stream, media):
                fmt = fmt or format_of_name(source.name) or format_of(None, media)
                path = input_file(job_dir, fmt)
                size, _digest = self._spool(stream, path)
            return self._record(job_id, service_id, caller, BatchInput(path, fmt), size,
                                None, options, schedule_id=schedule_id)

    def list(self, ref: str, caller: Caller) -> list[BatchJob]:
        """The service's jobs the caller may see, newest first."""
        with self.store.reading() as session:
            service = find_service(session, ref)
            rows = session.scalars(select(BatchJobRow).where(
                BatchJobRow.service_id == service.id).order_by(BatchJobRow.created_at.desc()))
            return [BatchJob.from_row(row, service.name) for row in rows
                    if _may_see(caller, row, service)]

    def get(self, job_id: str, caller: Caller) -> BatchJob:
        with self.store.reading() as session:
            row = self._visible_row(session, job_id, caller)
            return BatchJob.from_row(row, _service_name(session, row))

    def cancel(self, job_id: str, caller: Caller) -> BatchJob:
        """Stop a job: a queued one at once, a running one after the chunks in flight
        (the supervisor sees the request); an ended one is left as it is."""
        with self.store.writing() as session:
            row = self._visible_row(session, job_id, caller)
            if row.state == BatchJobState.QUEUED:
                set_job_state(row, BatchJobState.CANCELLED, "cancelled before it started")
            elif row.state == BatchJobState.RUNNING:
                row.cancel_requested = True
            return BatchJob.from_row(row, _service_name(session, row))

    def output(self, job_id: str, caller: Caller, generation: str, *, errors: bool = False
               ) -> tuple[Path, str]:
        """The result (or error) file of one generation of a finished job, and its media
        type."""
        job = self.get(job_id, caller)
        if generation not in {g["generation"] for g in job.generations}:
            raise NotFound(f"batch job {job_id!r} did not score with {generation!r}")
        if job.state != BatchJobState.SUCCEEDED:
            raise Conflict(f"batch job {job_id!r} is {job.state}: its results are kept "
                           "once it has succeeded")
        job_dir = self.root / job.id
        if errors:
            path, media = errors_file(job_dir, generation), "application/x-ndjson"
        else:
            path = result_file(job_dir, generation, job.output_format)
            media = media_type(job.output_format)
        if not path.is_file():
            raise NotFound(f"the results of batch job {job_id!r} are gone")
        return path, media

    # -- making a job ------------------------------------------------------------------

    @contextlib.contextmanager
    def _job_folder(self) -> Iterator[tuple[str, Path]]:
        """A new job's id and folder; the folder goes again when the job is not made."""
        job_id = uuid.uuid4().hex
        job_dir = self.root / job_id
        job_dir.mkdir(parents=True)
        try:
            yield job_id, job_dir
        except BaseException:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise

    def _service_for(self, session: Session, ref: str, caller: Caller) -> ServiceRow:
        service = find_service(session, ref)
        if caller.kind not in ("user", "service"):
            raise Forbidden("a batch job calls the service as the user or service that "
                            "starts it; an API key cannot start one")
        if not may_invoke(caller, service.id, service.access_level, service.project_id):
            raise Forbidden(f"you may not call service {service.name!r}")
        return service

    def _spool(self, body: IO[bytes], path: Path) -> tuple[int, str]:
        digest = hashlib.sha256()
        size = 0
        with open(path, "wb") as out:
            while block := body.read(_COPY_BLOCK):
                size += len(block)
                if size > self.max_bytes:
                    raise PayloadTooLarge(
                        f"the input file is larger than max_batch_bytes ({self.max_bytes} "
                        "bytes)")
                digest.update(block)
                out.write(block)
        return size, digest.hexdigest()

    def _record(self, job_id: str, service_id: str, caller: Caller, source: BatchInput,
                size: int, input_job_id: str | None, options: BatchOptions, *,
                schedule_id: str | None = None) -> BatchJob:
        columns = source.columns()
        with self.store.writing() as session:
            service = session.get(ServiceRow, service_id)
            if service is None:
                raise NotFound("the service was deleted meanwhile")
            generations = _generations(session, service, options)
            _check_columns(service, columns, generations, options)
            now = datetime.now(UTC)
            row = BatchJobRow(
                id=job_id, service_id=service.id, created_at=now, created_by=caller.label,
                caller_kind=caller.kind, caller_id=caller.id, state=BatchJobState.QUEUED,
                message="", input_format=source.format, input_bytes=size,
                input_job_id=input_job_id,
                output_format=options.output_format or source.format,
                chunk_size=options.chunk_size, passthrough=list(options.passthrough),
                association_column=_association_column(service, columns, options),
                generations=[{"generation": tag, "role": role, "rows_scored": 0,
                              "rows_failed": 0} for tag, role, _model in generations],
                rows_total=None, rows_done=0, chunks_done=0, cancel_requested=False,
                expires_at=now + timedelta(days=self.retention_days), schedule_id=schedule_id,
            )
            session.add(row)
            session.flush()
            return BatchJob.from_row(row, service.name)

    def _visible_row(self, session: Session, job_id: str, caller: Caller) -> BatchJobRow:
        row = session.get(BatchJobRow, job_id) if isinstance(job_id, str) else None
        service = session.get(ServiceRow, row.service_id) if row is not None else None
        if row is None or service is None or not _may_see(caller, row, service):
            raise NotFound(f"batch job {job_id!r} does not exist")
        return row


def set_job_state(row: BatchJobRow, state: BatchJobState, message: str = "") -> None:
    """The one place a job's state changes; an ending state stamps when it ended."""
    row.state = state
    row.message = message
    if state in FINAL_STATES:
        row.finished_at = datetime.now(UTC)
        row.cancel_requested = False


def _owner(session: Session, kind: str, caller_id: str) -> Caller:
    """The user or service a schedule runs as, with the rights it has now."""
    if kind == "user":
        user = session.get(UserRow, caller_id)
        if user is not None:
            return caller_for_user(session, user)
    elif kind == "service":
        service = session.get(ServiceRow, caller_id)
        if service is not None:
            return caller_for_service(service)
    raise Forbidden(f"the {kind} who made the schedule is gone")


def _may_see(caller: Caller, row: BatchJobRow, service: ServiceRow) -> bool:
    """A job is its starter's, and its service's collaborators'."""
    return ((caller.kind == row.caller_kind and caller.id == row.caller_id)
            or may_collaborate(caller, service.project_id))


def _service_name(session: Session, row: BatchJobRow) -> str:
    service = session.get(ServiceRow, row.service_id)
    return service.name if service is not None else row.service_id


def _generations(session: Session, service: ServiceRow, options: BatchOptions
                 ) -> list[tuple[str, str, GenerationModel]]:
    """(tag, role, model) of each generation the job scores with; each must have a model
    and a healthy instance now."""
    numbers = {g.id: g.number for g in session.scalars(
        select(GenerationRow).where(GenerationRow.service_id == service.id))}
    by_tag = {tag_of(number): generation_id for generation_id, number in numbers.items()}
    if options.generations:
        wanted = [(tag, "chosen") for tag in dict.fromkeys(options.generations)]
    else:
        main = main_generation(mapping_of(service.live_mapping))
        if main is None or main not in numbers:
            raise Conflict(f"service {service.name!r} serves no generation: deploy it first")
        wanted = [(tag_of(numbers[main]), "main")]
        if options.challenger:
            challenger = service.challenger_generation_id
            if challenger is None or challenger not in numbers:
                raise InvalidInput(f"service {service.name!r} has no challenger")
            wanted.append((tag_of(numbers[challenger]), "challenger"))
    healthy = set(session.scalars(select(InstanceRow.generation_id).where(
        InstanceRow.service_id == service.id,
        InstanceRow.state == InstanceState.HEALTHY)))
    found = []
    for tag, role in wanted:
        if tag not in by_tag:
            raise NotFound(f"service {service.name!r} has no generation {tag}")
        model = generation_model(session, service.id, tag)
        if model is None:
            raise InvalidInput(f"generation {tag} of {service.name!r} has no model to score "
                               "with: batch jobs score model services (or services whose "
                               "shipyard.yaml declares their features)")
        if by_tag[tag] not in healthy:
            raise Conflict(f"generation {tag} of {service.name!r} has no running instance")
        found.append((tag, role, model))
    return found


def _check_columns(service: ServiceRow, columns: Sequence[str],
                   generations: Sequence[tuple[str, str, GenerationModel]],
                   options: BatchOptions) -> None:
    present = set(columns)
    for tag, _role, model in generations:
        features = [str(f["name"]) for f in model.details.get("features", [])]
        missing = [name for name in features if name not in present]
        if missing:
            raise InvalidInput(f"the input lacks the feature(s) {', '.join(map(repr, missing))}"
                               f" of {tag}'s model")
    absent = [name for name in options.passthrough if name not in present]
    if absent:
        raise InvalidInput(f"passthrough column(s) {', '.join(map(repr, absent))} are not "
                           "in the input")
    settings = monitoring_of(service)
    association = options.association_column
    if association is not None and association not in present:
        raise InvalidInput(f"the association column {association!r} is not in the input")
    if association is not None and association not in settings.association_id_columns:
        raise InvalidInput(f"{association!r} is not an association id column of service "
                           f"{service.name!r}: name it in the service's monitoring settings "
                           "(association_id_columns) first")
    if settings.required_in_prediction_requests and not (
            set(settings.association_id_columns) & present):
        named = ", ".join(map(repr, settings.association_id_columns))
        raise InvalidInput(f"service {service.name!r} requires an association id column "
                           f"({named}) in every prediction request; the input has none")


def _association_column(service: ServiceRow, columns: Sequence[str], options: BatchOptions
                        ) -> str | None:
    """The column that identifies each row to monitoring: the one named, else the first
    of the service's association id columns the input has."""
    if options.association_column is not None:
        return options.association_column
    configured = monitoring_of(service).association_id_columns
    return next((c for c in configured if c in columns), None)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"chunk_size must be a whole number, not {text!r}") from None


def _listed(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _passthrough(value: Any) -> tuple[str, ...]:
    """The passthrough columns, none of them twice nor named as a column of the results'
    own (``prediction``, ``probability_<class>``, JSON Lines' ``probabilities``)."""
    names = _names(value, "passthrough")
    for name in names:
        if names.count(name) > 1:
            raise InvalidInput(f"passthrough names {name!r} twice")
        if name in ("prediction", "probabilities") or name.startswith("probability_"):
            raise InvalidInput(f"passthrough column {name!r} would clash with the results' "
                               f"own column of that name; rename it in the input")
    return names


def _names(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = _listed(value)
    if not isinstance(value, list | tuple) or not all(
            isinstance(item, str) and item for item in value):
        raise InvalidInput(f"{what} must be a list of names")
    return tuple(value)
