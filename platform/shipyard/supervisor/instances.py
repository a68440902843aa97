"""An instance's life, for the supervisor: started from its generation's artifact with
credentials of its own, restarted with backoff when it exits or fails to start, given up
(its generation with it) when it never becomes healthy, promoted when its generation is
wanted and it is healthy, retired and stopped (in the background, gracefully) when nobody
needs it.

``InstanceLifecycle`` is a part of ``Supervisor`` (``supervisor.loop``), kept in a module
of its own so that the loop reads as the loop; it holds no state of its own, only the
behaviour, over the supervisor's (its runner, timings, memory and stop pool).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from shipyard.domain.generation_refs import tag_of
from shipyard.domain.states import (
    BuildState,
    ServiceState,
    set_build_state,
    set_instance_state,
    set_service_state,
)
from shipyard.errors import ShipyardError
from shipyard.iam.access_keys import AccessKeys
from shipyard.store import GenerationRow, InstanceRow, ServiceRow
from shipyard.supervisor.health_checks import HealthChecks
from shipyard.supervisor.housekeeping import INSTANCE_CREDENTIALS_LIFETIME
from shipyard.supervisor.rollout import give_up_generation, put_in_force, shares
from shipyard.supervisor.runner_choice import profile_of
from shipyard_runners import Artifact, InstanceHandle, Runner, State
from shipyard_sdk.runtime.batch_lane import BATCH_LANE_VAR

if TYPE_CHECKING:
    from shipyard.domain.control_plane import ControlPlane
    from shipyard.supervisor.gatekeeper import Gatekeeper
    from shipyard.supervisor.loop import SupervisorTimings, _Memory

__all__ = ["InstanceLifecycle"]

log = logging.getLogger(__name__)


class InstanceLifecycle:
    """Starting, restarting, promoting, retiring and stopping instances (see the module)."""

    plane: ControlPlane
    runner: Runner
    timings: SupervisorTimings
    _memory: _Memory
    _gatekeeper: Gatekeeper
    _lock: threading.Lock
    _stopping: set[str]
    _stops: ThreadPoolExecutor
    _health: HealthChecks

    def _start(self, session: Session, service: ServiceRow, row: InstanceRow, now: float) -> None:
        generation = session.get_one(GenerationRow, row.generation_id)
        artifact = Artifact.from_dict(generation.artifact or {})
        environment = self.plane.environments.get(generation.environment)
        try:
            exists = self.runner.exists(artifact)
        except ShipyardError as exc:  # its runner cannot tell now (an engine that is down)
            self._start_failed(session, service, row, now, exc.message)
            return
        if not exists:
            # Its artifact is gone: build the same generation again.
            set_build_state(generation, BuildState.PENDING)
            generation.build_attempts = 0
            generation.artifact = None
            session.delete(row)
            return
        settings = self.plane.settings
        # The instance's own credentials, for the SDK inside it to call other services.
        credentials = self.plane.access.access_keys.issue_for_instance(
            session, service.id, row.id, INSTANCE_CREDENTIALS_LIFETIME
        )
        profile = profile_of(environment)
        env = {
            # Their names (and the secrets') cannot be any of those below.
            **(generation.variables or {}),
            "SHIPYARD_SERVICE_ID": service.id,
            "SHIPYARD_SERVICE_NAME": service.name,
            # Whether a worker may score batch calls in a forked copy of itself
            # (shipyard_sdk.runtime.batch_lane): a model service's, without a GPU.
            BATCH_LANE_VAR: "1" if service.kind == "model" and profile.gpu == 0 else "0",
            "SHIPYARD_GENERATION": tag_of(generation.number),
            # Where the SDK inside the instance calls other services.
            "SHIPYARD_URL": settings.public_url,
            "SHIPYARD_ACCESS_KEY_ID": credentials.key.id,
            "SHIPYARD_SECRET_ACCESS_KEY": credentials.secret_access_key,
            "SHIPYARD_REGION": settings.region,
            "SHIPYARD_SIGNING_SERVICE": settings.signing_service,
        }
        try:
            handle = self.runner.start(artifact, profile, env,
                                       self.plane.secrets.unsealed(generation.secrets))
        except ShipyardError as exc:
            self._start_failed(session, service, row, now, exc.message)
            return
        self._memory.failing_since.pop(row.id, None)
        row.handle = handle.to_dict()
        set_instance_state(row, State.STARTING)
        row.started_at = now
        row.healthy_since = None
        if handle.notes:  # what it runs without: its status says so
            row.last_error = "; ".join(handle.notes)

    def _start_failed(
        self, session: Session, service: ServiceRow, row: InstanceRow, now: float,
        problem: str,
    ) -> None:
        """A start failed before any instance existed. A live generation keeps trying, with
        backoff; a new one, like any start, has ``start_timeout`` (from its first failed
        try) to succeed, and is then given up with the reason."""
        row.last_error = problem
        row.restarts += 1
        first = self._memory.failing_since.setdefault(row.id, now)
        row.next_start_at = now + self._backoff(row.restarts)
        if row.generation_id in shares(service.live_mapping):
            set_service_state(service, ServiceState.STARTING,
                              f"instance {row.id} cannot start: {problem}; "
                              f"trying again (restart {row.restarts})")
            return
        deadline = first + self.timings.start_timeout
        if now < deadline:
            row.next_start_at = min(row.next_start_at, deadline)
            return
        self._memory.failing_since.pop(row.id, None)
        generation = session.get_one(GenerationRow, row.generation_id)
        AccessKeys.revoke_for_instance(session, row.id)
        session.delete(row)
        give_up_generation(
            session, service, generation,
            f"{tag_of(generation.number)} could not start in "
            f"{self.timings.start_timeout:g}s: {problem}",
        )

    def _exited(
        self, session: Session, service: ServiceRow, row: InstanceRow, now: float,
        handle: InstanceHandle,
    ) -> None:
        """Restart a dead instance, unless it is a new generation that keeps dying."""
        is_new = row.generation_id not in shares(service.live_mapping)
        if is_new and row.healthy_since is None and row.restarts + 1 >= self.timings.new_tries:
            self._abandon(
                session, service, row, handle,
                f"exited {row.restarts + 1} times before it became healthy",
            )
            return
        self._restart_later(service, row, now, handle)

    def _restart_later(
        self, service: ServiceRow, row: InstanceRow, now: float, handle: InstanceHandle
    ) -> None:
        tail = self._log_tail(handle)
        self._stop_quietly(handle, grace=0.0)
        row.handle = None
        set_instance_state(row, State.EXITED)
        row.restarts += 1
        row.last_error = tail
        row.next_start_at = now + self._backoff(row.restarts)
        log.warning("instance %s of %s exited; restart %d", row.id, service.name, row.restarts)
        if row.generation_id in shares(service.live_mapping):
            set_service_state(service, ServiceState.STARTING,
                f"instance {row.id} exited; restarting (restart {row.restarts})",
            )

    def _never_healthy(
        self, session: Session, service: ServiceRow, row: InstanceRow,
        handle: InstanceHandle, now: float,
    ) -> None:
        if row.generation_id in shares(service.live_mapping):
            # A live generation stopped answering after a restart: keep trying.
            self._restart_later(service, row, now, handle)
            return
        self._abandon(
            session, service, row, handle,
            f"never became healthy in {self.timings.start_timeout:g}s",
        )

    def _abandon(
        self, session: Session, service: ServiceRow, row: InstanceRow,
        handle: InstanceHandle, problem: str,
    ) -> None:
        """Stop and forget a new generation's instance; the live generations keep serving."""
        generation = session.get_one(GenerationRow, row.generation_id)
        tail = self._log_tail(handle)
        self._submit_stop(handle)
        AccessKeys.revoke_for_instance(session, row.id)
        session.delete(row)
        give_up_generation(
            session, service, generation, f"{tag_of(generation.number)} {problem}: {tail}"
        )

    def _promote_if_ready(
        self, session: Session, service: ServiceRow,
        by_generation: dict[str, list[InstanceRow]], replicas: dict[str, int],
    ) -> None:
        """Put the desired mapping in force once each of its generations has all its
        replicas healthy and has passed the gates."""
        desired = shares(service.mapping)
        if not service.deployed or not desired or service.mapping == service.live_mapping:
            return
        for generation_id in desired:
            healthy = [row for row in by_generation.get(generation_id, ())
                       if row.state == State.HEALTHY.value and row.handle is not None]
            if len(healthy) < max(replicas.get(generation_id, 1), 1):
                return
        new = [generation_id for generation_id in desired
               if generation_id not in shares(service.live_mapping)]
        if not self._gatekeeper.answered(new):
            return  # a later tick takes the verdicts
        for generation_id in new:
            problem = self._gatekeeper.take(generation_id)
            if problem is not None:
                generation = session.get_one(GenerationRow, generation_id)
                give_up_generation(
                    session, service, generation, f"{tag_of(generation.number)} {problem}"
                )
                return
        put_in_force(service)
        log.info("%s now serves %s", service.name, service.live_mapping)

    def _retire(self, session: Session, row: InstanceRow) -> None:
        if row.handle:
            self._submit_stop(InstanceHandle.from_dict(row.handle))
        self._health.forget(row.id)
        self._memory.failing_since.pop(row.id, None)
        AccessKeys.revoke_for_instance(session, row.id)
        session.delete(row)

    def _submit_stop(self, handle: InstanceHandle) -> None:
        with self._lock:
            if handle.instance_id in self._stopping:
                return
            self._stopping.add(handle.instance_id)

        def _stop() -> None:
            try:
                self._stop_quietly(handle)
            finally:
                with self._lock:
                    self._stopping.discard(handle.instance_id)

        self._stops.submit(_stop)

    def _stop_quietly(self, handle: InstanceHandle, grace: float | None = None) -> None:
        try:
            self.runner.stop(handle, self.timings.stop_grace if grace is None else grace)
        except Exception:
            log.exception("could not stop instance %s", handle.instance_id)

    def _log_tail(self, handle: InstanceHandle, lines: int = 20) -> str:
        try:
            return self.runner.logs(handle, tail=lines).strip()[-2000:]
        except Exception:
            return ""

    def _backoff(self, restarts: int) -> float:
        return min(self.timings.backoff_max, self.timings.backoff_first * 2 ** (restarts - 1))
