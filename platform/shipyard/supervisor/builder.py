"""Builds, for the supervisor: each pending generation built once, in a small thread pool.

A build claims its generation (``pending`` → ``building``), unpacks the generation's code
into a scratch directory, has the service's runner build it with the log stored line by
line as it comes, documents it (problems there are warnings, never failures), and stores
the artifact and document, or the error. Its end is handed to the supervisor's
``settle`` callback, in the same write transaction, to decide what the service does next.

A build cut short by a crash of the supervisor is found ``building`` by the next one,
which cleans what it left (``discard_unfinished``) and builds it again from the start,
its log continuing after the lines already stored, up to ``MAX_BUILD_ATTEMPTS`` starts;
then it fails with a message that says so. Scratch folders live under the home's
``run/build-scratch``, so that whatever a crash leaves there is removed too.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.contracts.run_paths import build_scratch_dir
from shipyard.domain.control_plane import ControlPlane
from shipyard.domain.generation_refs import tag_of
from shipyard.domain.states import BuildState, set_build_state
from shipyard.errors import ShipyardError
from shipyard.openapi.generations import GenerationFacts, document_generation, model_baseline
from shipyard.store import GenerationRow, ServiceRow
from shipyard.supervisor.build_log import BuildLogWriter, append_line
from shipyard.supervisor.runner_choice import profile_of
from shipyard_runners import Artifact, BuildSpec, Runner

__all__ = ["MAX_BUILD_ATTEMPTS", "BuildSettled", "Builder"]

log = logging.getLogger(__name__)

MAX_BUILD_ATTEMPTS = 3
"""How many times a build is started before one cut short by a crash counts as failed."""
_FINISH_RETRIES = 30

BuildSettled = Callable[[Session, ServiceRow, GenerationRow, str], None]
"""Called when a build ends, with its error ("" when it succeeded)."""


@dataclass(frozen=True)
class _Job:
    """One build, as read from its generation when it starts."""

    generation_id: str
    spec: BuildSpec
    files: bytes
    kind: str
    description: str
    model_version: str | None
    attempts: int


class Builder:
    def __init__(
        self, plane: ControlPlane, runner: Runner, workers: int, settle: BuildSettled,
        ended: Callable[[], None] = lambda: None,
    ) -> None:
        """``ended`` is called (from the build's thread) once a build's end is stored."""
        self.plane = plane
        self.store = plane.store
        self.runner = runner
        self.settle = settle
        self.ended = ended
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="build")
        self.scratch = build_scratch_dir(plane.settings.home)

    def recover(self) -> None:
        """Before the first build of a new supervisor: remove what builds cut short by a
        crash left (here and in the runner), and build those again, unless one was
        started ``MAX_BUILD_ATTEMPTS`` times already: that one fails, saying why."""
        shutil.rmtree(self.scratch, ignore_errors=True)
        try:
            self.runner.discard_unfinished()
        except ShipyardError as exc:  # an engine that is down: its leftovers wait
            log.warning("cannot remove what builds cut short left: %s", exc.message)
        with self.store.writing() as session:
            for generation in session.scalars(
                select(GenerationRow).where(GenerationRow.build_state == BuildState.BUILDING)
            ):
                if generation.build_attempts < MAX_BUILD_ATTEMPTS:
                    set_build_state(generation, BuildState.PENDING)
                    continue
                error = (f"the supervisor stopped during this build "
                         f"{generation.build_attempts} times; deploy again to build it anew")
                append_line(session, generation.id, f"build failed: {error}")
                self._record_end(session, generation, None, error, None)

    def schedule(self) -> None:
        """Claim every pending generation and start building it."""
        with self.store.writing() as session:
            pending = session.scalars(
                select(GenerationRow).where(GenerationRow.build_state == BuildState.PENDING)
            ).all()
            for generation in pending:
                set_build_state(generation, BuildState.BUILDING)
                generation.build_started_at = datetime.now(UTC)
            ids = [generation.id for generation in pending]
        for generation_id in ids:
            self._pool.submit(self._build, generation_id)

    def shutdown(self) -> None:
        """Finish the builds running; those not started stay claimed, and the next
        supervisor's recovery makes them pending again."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _build(self, generation_id: str) -> None:
        job = self._job(generation_id)
        error = ""
        artifact: Artifact | None = None
        document: dict[str, Any] | None = None
        try:
            artifact, document = self._run(job)
        except ShipyardError as exc:
            error = exc.message
        except Exception as exc:
            log.exception("build of %s %s crashed", job.spec.service_name, job.spec.generation)
            error = f"internal error: {type(exc).__name__}: {exc}"
        self._finish_surely(generation_id, artifact, error, document)
        self.ended()

    def _job(self, generation_id: str) -> _Job:
        """The build of ``generation_id``, counted as one more attempt as it starts."""
        with self.store.writing() as session:
            generation = session.get_one(GenerationRow, generation_id)
            generation.build_attempts += 1
            service = session.get_one(ServiceRow, generation.service_id)
            environment = self.plane.environments.get(generation.environment)
            return _Job(
                generation_id=generation_id,
                spec=BuildSpec(
                    service_id=service.id, service_name=service.name,
                    generation=tag_of(generation.number), code_dir=Path(),
                    packages=tuple(generation.packages), profile=profile_of(environment),
                    runner=service.runner or "", variables=dict(generation.variables or {}),
                    secrets=self.plane.secrets.unsealed(generation.secrets),
                ),
                files=generation.files, kind=generation.kind, description=service.description,
                model_version=generation.model_version, attempts=generation.build_attempts,
            )

    def _run(self, job: _Job) -> tuple[Artifact, dict[str, Any] | None]:
        """Build ``job``, its log stored as it comes; a failure is logged, then raised."""
        tag = job.spec.generation
        self.scratch.mkdir(parents=True, exist_ok=True)
        with BuildLogWriter(self.store, job.generation_id) as line, \
                tempfile.TemporaryDirectory(prefix="build-", dir=self.scratch) as scratch:
            if line.resumed and job.attempts > 1:
                line(f"--- the supervisor stopped during this build; building it again from "
                     f"the start (attempt {job.attempts} of {MAX_BUILD_ATTEMPTS})")
            elif line.resumed:
                line("--- building it again: what it built is gone")
            line(f"building {job.spec.service_name} {tag} on {job.spec.profile.name}")
            try:
                code_dir = Path(scratch)
                with zipfile.ZipFile(io.BytesIO(job.files)) as archive:
                    archive.extractall(code_dir)
                artifact = self.runner.build(dataclasses.replace(job.spec, code_dir=code_dir),
                                             line)
                # Documentation never fails a build: its problems are warnings.
                facts = GenerationFacts(
                    service_name=job.spec.service_name, tag=tag, kind=job.kind,
                    description=job.description, code_dir=code_dir,
                    baseline=model_baseline(self.plane.models, job.model_version),
                )
                document = document_generation(self.runner, artifact, facts, line)
                line(f"built {tag}")
            except ShipyardError as exc:
                line(f"build failed: {exc.message}")
                raise
            except Exception as exc:
                line(f"build failed: internal error: {type(exc).__name__}: {exc}")
                raise
        return artifact, document

    def _finish_surely(
        self, generation_id: str, artifact: Artifact | None, error: str,
        document: dict[str, Any] | None,
    ) -> None:
        """``_finish``, tried again while the database is unavailable: a build that ended
        must not stay ``building``."""
        for attempt in range(_FINISH_RETRIES):
            try:
                self._finish(generation_id, artifact, error, document)
                return
            except ShipyardError as exc:
                if attempt == _FINISH_RETRIES - 1:
                    raise
                log.warning("cannot store the end of build %s yet (%s); trying again",
                            generation_id, exc.message)
                time.sleep(1.0)

    def _finish(
        self, generation_id: str, artifact: Artifact | None, error: str,
        document: dict[str, Any] | None = None,
    ) -> None:
        with self.store.writing() as session:
            self._record_end(session, session.get_one(GenerationRow, generation_id),
                             artifact, error, document)

    def _record_end(
        self, session: Session, generation: GenerationRow, artifact: Artifact | None,
        error: str, document: dict[str, Any] | None,
    ) -> None:
        """Store how a build ended and let the supervisor settle the service."""
        generation.build_finished_at = datetime.now(UTC)
        if artifact is not None:
            set_build_state(generation, BuildState.SUCCEEDED)
            generation.artifact = artifact.to_dict()
            generation.openapi = document
        else:
            set_build_state(generation, BuildState.FAILED)
            generation.build_error = error
        service = session.get(ServiceRow, generation.service_id)
        if service is not None:
            self.settle(session, service, generation, "" if artifact is not None else error)
