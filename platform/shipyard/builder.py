"""Builds, for the supervisor: each pending generation built once, in a small thread pool.

A build claims its generation (``pending`` → ``building``), unpacks the generation's code
into a scratch directory, has the service's runner build it with the log stored line by
line as it comes, documents it (problems there are warnings, never failures), and stores
the artifact and document, or the error. Its end is handed to the supervisor's
``settle`` callback, in the same write transaction, to decide what the service does next.
"""

from __future__ import annotations

import io
import logging
import tempfile
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.build_log import BuildLogWriter
from shipyard.control_plane import ControlPlane
from shipyard.deployments import BuildState
from shipyard.errors import ShipyardError
from shipyard.generation_refs import tag_of
from shipyard.openapi.generations import GenerationFacts, document_generation, model_baseline
from shipyard.runner_choice import profile_of
from shipyard.store import GenerationRow, ServiceRow
from shipyard_runners import Artifact, BuildSpec, Runner

__all__ = ["BuildSettled", "Builder"]

log = logging.getLogger(__name__)

BuildSettled = Callable[[Session, ServiceRow, GenerationRow, str], None]
"""Called when a build ends, with its error ("" when it succeeded)."""


class Builder:
    def __init__(
        self, plane: ControlPlane, runner: Runner, workers: int, settle: BuildSettled
    ) -> None:
        self.plane = plane
        self.store = plane.store
        self.runner = runner
        self.settle = settle
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="build")

    def schedule(self) -> None:
        """Claim every pending generation and start building it."""
        with self.store.writing() as session:
            pending = session.scalars(
                select(GenerationRow).where(GenerationRow.build_state == BuildState.PENDING)
            ).all()
            for generation in pending:
                generation.build_state = BuildState.BUILDING
                generation.build_started_at = datetime.now(UTC)
            ids = [generation.id for generation in pending]
        for generation_id in ids:
            self._pool.submit(self._build, generation_id)

    def shutdown(self) -> None:
        """Finish the builds running; those not started stay claimed, and the next
        supervisor's recovery makes them pending again."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _build(self, generation_id: str) -> None:
        with self.store.reading() as session:
            generation = session.get_one(GenerationRow, generation_id)
            service = session.get_one(ServiceRow, generation.service_id)
            files, name = generation.files, service.name
            number, service_id = generation.number, service.id
            environment = self.plane.environments.get(generation.environment)
            packages = tuple(generation.packages)
            kind, description = generation.kind, service.description
            model_version = generation.model_version
            runner = service.runner or ""
        error = ""
        artifact: Artifact | None = None
        document: dict[str, Any] | None = None
        with BuildLogWriter(self.store, generation_id) as line, \
                tempfile.TemporaryDirectory(prefix="shipyard-build-") as scratch:
            line(f"building {name} {tag_of(number)} on {environment.name}")
            try:
                code_dir = Path(scratch)
                with zipfile.ZipFile(io.BytesIO(files)) as archive:
                    archive.extractall(code_dir)
                spec = BuildSpec(
                    service_id=service_id, service_name=name, generation=tag_of(number),
                    code_dir=code_dir, packages=packages, profile=profile_of(environment),
                    runner=runner,
                )
                artifact = self.runner.build(spec, line)
                # Documentation never fails a build: its problems are warnings.
                facts = GenerationFacts(
                    service_name=name, tag=tag_of(number), kind=kind,
                    description=description, code_dir=code_dir,
                    baseline=model_baseline(self.plane.models, model_version),
                )
                document = document_generation(self.runner, artifact, facts, line)
                line(f"built {tag_of(number)}")
            except ShipyardError as exc:
                error = exc.message
                line(f"build failed: {error}")
            except Exception as exc:
                log.exception("build of %s %s crashed", name, tag_of(number))
                error = f"internal error: {type(exc).__name__}: {exc}"
                line(f"build failed: {error}")
        self._finish(generation_id, artifact, error, document)

    def _finish(
        self, generation_id: str, artifact: Artifact | None, error: str,
        document: dict[str, Any] | None = None,
    ) -> None:
        with self.store.writing() as session:
            generation = session.get_one(GenerationRow, generation_id)
            generation.build_finished_at = datetime.now(UTC)
            if artifact is not None:
                generation.build_state = BuildState.SUCCEEDED
                generation.artifact = artifact.to_dict()
                generation.openapi = document
            else:
                generation.build_state = BuildState.FAILED
                generation.build_error = error
            service = session.get(ServiceRow, generation.service_id)
            if service is not None:
                self.settle(session, service, generation, "" if artifact is not None else error)
