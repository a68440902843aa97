"""The states of a service, of a generation's build and of an instance, each an enum that
is set through one function. Their values are the words the API and the CLI show.

A service: ``stopped`` (nothing deployed, nothing running), ``building`` (its target's
build is under way), ``starting`` (its target's instances are starting), ``running``,
``switching`` (a new mapping is being put in force), ``stopping`` (undeployed, instances
draining), ``failed`` (its target could not be built or started; what served before, if
anything, still does). A build: ``pending``, ``building``, ``succeeded``, ``failed``. An
instance: ``pending`` (not started yet), then what its runner last said of it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from shipyard.store import GenerationRow, InstanceRow, ServiceRow
from shipyard_runners import State

__all__ = [
    "BUILD_DONE",
    "BUILD_UNDER_WAY",
    "BuildState",
    "InstanceState",
    "ServiceState",
    "set_build_state",
    "set_instance_state",
    "set_service_state",
]


class ServiceState(StrEnum):
    STOPPED = "stopped"
    BUILDING = "building"
    STARTING = "starting"
    RUNNING = "running"
    SWITCHING = "switching"
    STOPPING = "stopping"
    FAILED = "failed"


class BuildState(StrEnum):
    PENDING = "pending"
    BUILDING = "building"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


BUILD_DONE = frozenset({BuildState.SUCCEEDED, BuildState.FAILED})
BUILD_UNDER_WAY = frozenset({BuildState.PENDING, BuildState.BUILDING})


class InstanceState(StrEnum):
    PENDING = "pending"
    STARTING = State.STARTING.value
    HEALTHY = State.HEALTHY.value
    UNHEALTHY = State.UNHEALTHY.value
    EXITED = State.EXITED.value
    DRAINING = "draining"
    """A replica no longer wanted (its service runs fewer now): out of the routing table,
    stopped once the gateway has had time to route away from it."""


def set_service_state(service: ServiceRow, state: ServiceState, message: str | None = None
                      ) -> None:
    """Put ``service`` in ``state``, saying why in ``message`` (None keeps the one it has)."""
    service.state = ServiceState(state)
    if message is not None:
        service.status_message = message
    service.updated_at = datetime.now(UTC)


def set_build_state(generation: GenerationRow, state: BuildState) -> None:
    generation.build_state = BuildState(state)


def set_instance_state(row: InstanceRow, state: InstanceState | State) -> None:
    """Record what ``row``'s runner said of it (a runner ``State``), or ``pending``."""
    row.state = InstanceState(state.value if isinstance(state, State) else state)
