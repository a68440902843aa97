"""The supervisor's part of batch jobs: it runs them, each in a thread of its own.

Each tick starts the queued jobs (and those a restart left running), oldest first, while
fewer than ``jobs_at_once`` run. A job:

1. gets an access key of the user or service that started it (``AccessKeys
   .issue_for_batch_job``; a key left by an earlier run of the job is revoked), renewed
   while it runs and revoked when it ends: its calls go through the gateway as that
   caller's would, checked the same way, and stop working if the caller loses the right;
2. counts its input's rows (once), then reads it a chunk at a time from its first
   unfinished chunk, only the columns it sends or passes through, and scores each chunk
   with each generation (``batch_calls``), at most ``calls_at_once`` chunks in flight,
   and at most ``calls_at_once`` calls in flight to one service, whatever the jobs on it.
   That bound is the supervisor's part of the rule that keeps live traffic's latency: an
   instance answers with 4 threads per worker, and batch calls take 2 of them at most, so
   a live call always finds a free thread (the instance's part: its workers score batch
   calls one at a time, in a lane of their own, ``shipyard_sdk.runtime.batch_yield``).
   The job's threads run at the lowest CPU priority (``JOB_THREAD_NICENESS``), as the
   lanes do, so that on a busy machine the gateway and the instances answering live calls
   get the CPU first.
   A chunk is columns, never an object per row, from its reading to its part: the
   supervisor's work per row must stay well below the instance's;
3. writes each chunk's results as a part per generation (whole, or not at all), and counts
   the chunks done (``chunks_done``) with the rest of its progress every half second, once
   their parts are synced to disk (one ``sync`` for them all, rather than one per part).
   A job a restart cut short resumes from its first chunk not counted, and scores again
   the parts written after that count (which a power loss may have left empty), so its
   results have each row exactly once;
4. at the end joins each generation's parts into its result file and error file, in input
   order, and counts what each generation scored and refused.

A cancel is seen when the progress is written: the job ends ``cancelled`` and its partial
results are removed. A job whose service refuses its calls (401, 403, or a 404 that
lasts) ends ``failed`` with the answer; a supervisor that stops leaves its running jobs
``running``, to be resumed. Jobs past their retention are removed with their folders
(``expire``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import requests
from requests_aws4auth import AWS4Auth
from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.contracts.routing_table import INVOKE_PREFIX
from shipyard.domain.batch_files import (
    BatchInput,
    Chunk,
    ErrorRow,
    ScoredRows,
    count_result_rows,
    join_parts,
    write_errors,
    write_part,
)
from shipyard.domain.batch_jobs import (
    FINAL_STATES,
    BatchJobState,
    batch_jobs_dir,
    errors_file,
    input_file,
    result_file,
    set_job_state,
)
from shipyard.iam.access_keys import AccessKeys
from shipyard.stats.drift_profiles import generation_model
from shipyard.stats.monitoring_settings import monitoring_of
from shipyard.store import ServiceRow, Store
from shipyard.store.batch_tables import BatchJobRow
from shipyard.supervisor.batch_calls import (
    ChunkScorer,
    GenerationTarget,
    JobCannotGoOn,
    JobPaused,
)

__all__ = ["BATCH_KEY_LIFETIME", "JOB_THREAD_NICENESS", "BatchScoring", "give_way_to_live_calls"]

log = logging.getLogger(__name__)

BATCH_KEY_LIFETIME = timedelta(hours=1)
_KEY_RENEWAL = 300.0
_PROGRESS_INTERVAL = 0.5
"""Seconds between two writes of a running job's progress to the store."""
_EXPIRY_INTERVAL = 3600.0

JOB_THREAD_NICENESS = 19
"""The niceness a job's threads take (the lowest priority there is; a batch lane's too).
Linux gives each thread a niceness of its own, so the supervisor's loop keeps its own.
Such a thread may hold the interpreter lock when the kernel leaves it waiting, and delay
that loop a little on a machine that is busy: the loop is on no live call's path, and the
thread still gets its share of the CPU, which bounds the delay. Measured on 2 cores
(``bench/batch.py``, three runs alternating), a live caller's p99 during a job: 14.3 ms
(median) with the job's threads at 0 and the lanes at 10, 10.1 ms with both at 19 (6-8 ms
with no job), the job as fast. Where the kernel shares the CPU between sessions first
(autogroup, see ``shipyard_sdk.runtime.batch_lane``), it counts only against the
supervisor's other threads: a thread cannot leave its process's session, as a lane does."""


def give_way_to_live_calls() -> None:
    """Lower the CPU priority of this thread alone to ``JOB_THREAD_NICENESS`` (Linux only:
    elsewhere a niceness is the whole process's, and the supervisor's loop would lose its
    priority with the job)."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), JOB_THREAD_NICENESS)


@dataclass(frozen=True)
class GatewayAccess:
    """How the supervisor calls services: the gateway's URL and the scope it signs for."""

    url: str
    region: str
    signing_service: str


class BatchScoring:
    def __init__(
        self, store: Store, home: Path, access_keys: AccessKeys, gateway: GatewayAccess, *,
        jobs_at_once: int = 2, calls_at_once: int = 2, ended: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.root = batch_jobs_dir(home)
        self.access_keys = access_keys
        self.gateway = gateway
        self.jobs_at_once = jobs_at_once
        self.calls_at_once = calls_at_once
        self._ended = ended
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[str, threading.Thread] = {}
        self._next_expiry = 0.0
        self._service_calls: dict[str, threading.Semaphore] = {}

    def service_calls(self, service_id: str) -> threading.Semaphore:
        """What each call of a job to ``service_id`` holds: ``calls_at_once`` of them."""
        with self._lock:
            calls = self._service_calls.get(service_id)
            if calls is None:
                calls = self._service_calls[service_id] = threading.Semaphore(
                    self.calls_at_once)
            return calls

    def run(self) -> None:
        """Start what should run (each tick)."""
        with self._lock:
            self._running = {job: t for job, t in self._running.items() if t.is_alive()}
            room = self.jobs_at_once - len(self._running)
            if room <= 0 or self._stop.is_set():
                return
            busy = set(self._running)
        with self.store.reading() as session:
            waiting = list(session.scalars(
                select(BatchJobRow.id)
                .where(BatchJobRow.state.in_([BatchJobState.QUEUED, BatchJobState.RUNNING]))
                .order_by(BatchJobRow.created_at)))
        for job_id in [job for job in waiting if job not in busy][:room]:
            thread = threading.Thread(target=self._run_job, args=(job_id,),
                                      name=f"batch-{job_id[:8]}", daemon=True)
            with self._lock:
                self._running[job_id] = thread
            thread.start()
        now = time.monotonic()
        if now >= self._next_expiry:
            self._next_expiry = now + _EXPIRY_INTERVAL
            self.expire()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop after the chunks in flight; the jobs stay ``running``, to resume."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._running.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def expire(self) -> int:
        """Remove the ended jobs past their retention, with their files."""
        now = datetime.now(UTC)
        with self.store.writing() as session:
            rows = list(session.scalars(select(BatchJobRow).where(
                BatchJobRow.expires_at <= now,
                BatchJobRow.state.in_([s.value for s in FINAL_STATES]))))
            for row in rows:
                shutil.rmtree(self.root / row.id, ignore_errors=True)
                session.delete(row)
        if rows:
            log.info("removed %d batch jobs past their retention", len(rows))
        return len(rows)

    # -- one job ------------------------------------------------------------------------

    def _run_job(self, job_id: str) -> None:
        give_way_to_live_calls()
        run = None
        try:
            run = self._begin(job_id)
            if run is not None:
                run.score()
        except JobPaused:
            log.info("batch job %s paused: it resumes when the supervisor starts again",
                     job_id)
        except JobCannotGoOn as exc:
            self._fail(job_id, str(exc))
        except Exception as exc:  # the job ends failed; the loop goes on
            log.exception("batch job %s failed", job_id)
            self._fail(job_id, f"the job failed: {exc}")
        finally:
            if run is not None:
                run.close()
            self._ended()

    def _begin(self, job_id: str) -> _JobRun | None:
        with self.store.writing() as session:
            row = session.get(BatchJobRow, job_id)
            if row is None or row.state in FINAL_STATES:
                return None
            if row.cancel_requested:
                set_job_state(row, BatchJobState.CANCELLED, "cancelled")
                return None
            service = session.get(ServiceRow, row.service_id)
            if service is None:
                return None  # deleted: its jobs went with it
            if row.access_key_id is not None:
                AccessKeys.revoke_by_id(session, row.access_key_id)
            key = self.access_keys.issue_for_batch_job(
                session, row.caller_kind, row.caller_id, row.id, BATCH_KEY_LIFETIME)
            row.access_key_id = key.key.id
            set_job_state(row, BatchJobState.RUNNING)
            now = datetime.now(UTC)
            row.started_at = row.started_at or now
            row.resumed_at = now.timestamp()
            row.rows_at_resume = row.rows_done
            targets = self._targets(session, row, service)
            service_id = service.id
            fmt, chunk_size, start = row.input_format, row.chunk_size, row.chunks_done
            passthrough, output_format = list(row.passthrough), row.output_format
            rows_total = row.rows_total
        http = requests.Session()
        http.auth = AWS4Auth(key.key.id, key.secret_access_key, self.gateway.region,
                             self.gateway.signing_service)
        scorer = ChunkScorer(http, job_id=job_id, as_csv=fmt == "csv",
                             numbers_as_text=output_format == "csv",
                             stopping=self._stop.is_set,
                             calls=self.service_calls(service_id))
        job_dir = self.root / job_id
        return _JobRun(self, job_id, job_dir, BatchInput(input_file(job_dir, fmt), fmt),
                       targets, scorer, http, chunk_size, start, output_format, rows_total,
                       passthrough)

    def _targets(self, session: Session, row: BatchJobRow, service: ServiceRow
                 ) -> list[GenerationTarget]:
        association = row.association_column
        configured = monitoring_of(service).association_id_columns
        sent_association = (association,) if association in configured else ()
        targets = []
        for entry in row.generations:
            tag = entry["generation"]
            model = generation_model(session, service.id, tag)
            if model is None:
                raise JobCannotGoOn(f"generation {tag} of {service.name!r} has no model now")
            features = tuple(str(f["name"]) for f in model.details.get("features", []))
            url = (self.gateway.url.rstrip("/") + INVOKE_PREFIX + quote(service.id, safe="")
                   + model.predict_path)
            targets.append(GenerationTarget(tag, url, features + sent_association))
        return targets

    def _fail(self, job_id: str, message: str) -> None:
        shutil.rmtree(self.root / job_id / "parts", ignore_errors=True)
        self._end(job_id, BatchJobState.FAILED, message)

    def _end(self, job_id: str, state: BatchJobState, message: str = "",
             counts: dict[str, tuple[int, int]] | None = None) -> None:
        with self.store.writing() as session:
            row = session.get(BatchJobRow, job_id)
            if row is None:
                return
            if counts is not None:
                row.generations = [
                    {**g, "rows_scored": counts[g["generation"]][0],
                     "rows_failed": counts[g["generation"]][1]} for g in row.generations]
            if row.access_key_id is not None:
                AccessKeys.revoke_by_id(session, row.access_key_id)
            if row.state not in FINAL_STATES:
                set_job_state(row, state, message)


@dataclass
class _Progress:
    """What a job did since its row was last written."""

    chunks_done: int | None = None
    rows: int = 0
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)


class _JobRun:
    """One run of one job, from its first unfinished chunk to its end (or a stop)."""

    def __init__(
        self, owner: BatchScoring, job_id: str, job_dir: Path, source: BatchInput,
        targets: list[GenerationTarget], scorer: ChunkScorer, http: requests.Session,
        chunk_size: int, start: int, output_format: str, rows_total: int | None,
        passthrough: list[str],
    ) -> None:
        self.owner = owner
        self.job_id = job_id
        self.job_dir = job_dir
        self.source = source
        self.targets = targets
        self.scorer = scorer
        self.http = http
        self.chunk_size = chunk_size
        self.start = start
        self.output_format = output_format
        self.rows_total = rows_total
        self.passthrough = passthrough
        # What a chunk holds: the columns sent to any generation, and those passed through.
        self.columns = list(dict.fromkeys(
            [*(name for target in targets for name in target.sent_columns), *passthrough]))
        self._renewed = time.monotonic()
        self._pending = _Progress()
        self._flushed = time.monotonic()

    def close(self) -> None:
        self.http.close()

    def score(self) -> None:
        store = self.owner.store
        self._drop_uncounted_parts()
        if self.rows_total is None:
            self.rows_total = self.source.count_rows()
            with store.writing() as session:
                row = session.get(BatchJobRow, self.job_id)
                if row is not None:
                    row.rows_total = self.rows_total
        in_flight: deque[tuple[Chunk, Future[dict[str, tuple[int, int]]]]] = deque()
        with ThreadPoolExecutor(self.owner.calls_at_once,
                                thread_name_prefix=f"batch-{self.job_id[:8]}",
                                initializer=give_way_to_live_calls) as pool:
            for chunk in self.source.chunks(self.chunk_size, self.start, self.columns):
                while len(in_flight) >= self.owner.calls_at_once:
                    if not self._commit(*in_flight.popleft()):
                        return self._stopped(in_flight)
                in_flight.append((chunk, pool.submit(self._score_chunk, chunk)))
            while in_flight:
                if not self._commit(*in_flight.popleft()):
                    return self._stopped(in_flight)
        if self._flush():
            self._cancel()
            return None
        self._finish()
        return None

    def _score_chunk(self, chunk: Chunk) -> dict[str, tuple[int, int]]:
        """Each generation's part of ``chunk``; what each scored and refused."""
        counts = {}
        for target in self.targets:
            part = self._part(target.generation, chunk.index)
            result = self.scorer.score(target, chunk)
            errors = sorted([*result.errors, *_bad_lines(chunk)], key=lambda e: e.line)
            errors_part = self._part(target.generation, chunk.index, errors=True)
            if errors:
                write_errors(errors_part, errors)
            else:  # no part, no fsync: most chunks have no error
                errors_part.unlink(missing_ok=True)  # one left by a run cut short
            rows = ScoredRows(
                {name: chunk.values(name, result.positions) for name in self.passthrough},
                result.predictions, result.probabilities, result.classes)
            write_part(part, self.output_format, rows)  # last: it marks the chunk done
            counts[target.generation] = (len(rows), len(errors))
        return counts

    def _commit(self, chunk: Chunk, future: Future[dict[str, tuple[int, int]]]) -> bool:
        """Count a finished chunk; False when the job must stop (a cancel, a shutdown).
        The row is written at most every ``_PROGRESS_INTERVAL`` (and at the end): what a
        resumed job skips is told by the parts on disk, not by the row, so a chunk counted
        late is never scored twice, and the store is not written once per chunk."""
        counts = future.result()
        pending = self._pending
        pending.chunks_done = chunk.index + 1
        pending.rows += chunk.rows
        for generation, (scored, failed) in counts.items():
            was = pending.counts.get(generation, (0, 0))
            pending.counts[generation] = (was[0] + scored, was[1] + failed)
        if time.monotonic() - self._flushed >= _PROGRESS_INTERVAL and self._flush():
            self._cancel()
            return False
        return not self.owner._stop.is_set()

    def _flush(self) -> bool:
        """Write the progress counted since the last write; whether a cancel is asked. The
        parts of the chunks it counts are synced to disk first, all in one call."""
        pending, self._pending = self._pending, _Progress()
        self._flushed = time.monotonic()
        if pending.chunks_done is not None:
            os.sync()
        with self.owner.store.writing() as session:
            row = session.get(BatchJobRow, self.job_id)
            if row is None:
                return True
            if pending.chunks_done is not None:
                row.chunks_done = pending.chunks_done
            row.rows_done += pending.rows
            row.generations = [
                {**g, "rows_scored": g["rows_scored"] + pending.counts.get(g["generation"],
                                                                           (0, 0))[0],
                 "rows_failed": g["rows_failed"] + pending.counts.get(g["generation"],
                                                                      (0, 0))[1]}
                for g in row.generations]
            if time.monotonic() - self._renewed > _KEY_RENEWAL and row.access_key_id:
                AccessKeys.renew(session, row.access_key_id, BATCH_KEY_LIFETIME)
                self._renewed = time.monotonic()
            return row.cancel_requested

    def _stopped(self, in_flight: deque[tuple[Chunk, Future[dict[str, tuple[int, int]]]]]
                 ) -> None:
        for _chunk, future in in_flight:
            future.cancel()
        if self.owner._stop.is_set():
            self._flush()  # paused: what it did is counted when it resumes

    def _cancel(self) -> None:
        shutil.rmtree(self.job_dir / "parts", ignore_errors=True)
        self.owner._end(self.job_id, BatchJobState.CANCELLED, "cancelled")

    def _finish(self) -> None:
        counts = {}
        for target in self.targets:
            tag = target.generation
            parts = sorted((self.job_dir / "parts" / tag).glob("*.part"))
            error_parts = sorted((self.job_dir / "parts" / tag).glob("*.errors"))
            result = result_file(self.job_dir, tag, self.output_format)
            result.parent.mkdir(parents=True, exist_ok=True)
            join_parts(parts, self.output_format, result)
            join_parts(error_parts, "jsonl", errors_file(self.job_dir, tag))
            counts[tag] = (count_result_rows(result, self.output_format),
                           count_result_rows(errors_file(self.job_dir, tag), "jsonl"))
        shutil.rmtree(self.job_dir / "parts", ignore_errors=True)
        self.owner._end(self.job_id, BatchJobState.SUCCEEDED, counts=counts)

    def _drop_uncounted_parts(self) -> None:
        """The parts of the chunks from ``start`` on: written by a run cut short after its
        last count, maybe never synced (a machine that lost power may have kept an empty
        one), so scored again rather than trusted."""
        for target in self.targets:
            folder = self.job_dir / "parts" / target.generation
            if not folder.is_dir():
                continue
            for part in folder.iterdir():
                number = part.name.partition(".")[0]
                if number.isdigit() and int(number) >= self.start:
                    part.unlink(missing_ok=True)

    def _part(self, generation: str, index: int, *, errors: bool = False) -> Path:
        suffix = "errors" if errors else "part"
        return self.job_dir / "parts" / generation / f"{index:09d}.{suffix}"


def _bad_lines(chunk: Chunk) -> list[ErrorRow]:
    return [ErrorRow(bad.line, bad.message) for bad in chunk.bad]

