"""The one task of a replica's service, as Swarm reports it.

A replica's service runs one task and never another (restart policy ``none``), so the
task is the instance: where it was placed, its container and main process once they exist,
the port it publishes once it runs, and how it ended.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard_runners.protocol import State

__all__ = ["PLACING", "ReplicaTask", "latest_task"]

PLACING = frozenset({"new", "allocated", "pending", "assigned"})
"""Not on a node yet (``assigned``: a node is chosen, its agent has not taken it)."""
_STARTING = frozenset({"accepted", "preparing", "ready", "starting"})
"""On its node: the image pulled, the container created and started; ``starting`` lasts
until the service's health check first passes."""
_RUNNING = "running"


@dataclass(frozen=True)
class ReplicaTask:
    id: str
    node_id: str
    state: str
    desired_state: str
    container_id: str
    pid: int | None
    """The container's main process on its node; Swarm reports it once the task runs."""
    published_port: int | None
    """The host port Swarm reports once the task runs."""
    message: str
    error: str
    exit_code: int | None
    created_at: str

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> ReplicaTask:
        status = attrs.get("Status") or {}
        container = status.get("ContainerStatus") or {}
        ports = (status.get("PortStatus") or {}).get("Ports") or []
        exit_code = container.get("ExitCode")
        return cls(
            id=str(attrs.get("ID") or ""),
            node_id=str(attrs.get("NodeID") or ""),
            state=str(status.get("State") or "new"),
            desired_state=str(attrs.get("DesiredState") or ""),
            container_id=str(container.get("ContainerID") or ""),
            pid=int(container.get("PID") or 0) or None,
            published_port=next((int(port["PublishedPort"]) for port in ports
                                 if port.get("PublishedPort")), None),
            message=str(status.get("Message") or ""),
            error=str(status.get("Err") or ""),
            exit_code=None if exit_code is None else int(exit_code),
            created_at=str(attrs.get("CreatedAt") or ""),
        )

    @property
    def placed(self) -> bool:
        """A node is chosen for it."""
        return bool(self.node_id)

    @property
    def running(self) -> bool:
        """Its container runs (serving, or on its way to it)."""
        return self.state in _STARTING | {_RUNNING} and self.desired_state == _RUNNING

    @property
    def ended(self) -> bool:
        return not self.running and self.state not in PLACING

    def engine_state(self) -> State | None:
        """``EXITED`` for a task that ended, ``STARTING`` for one not running yet, None for
        one whose container runs: its health is then for the runner to ask."""
        if self.ended:
            return State.EXITED
        if self.state in PLACING or self.state in {"accepted", "preparing", "ready"}:
            return State.STARTING
        return None

    def why_it_ended(self) -> str:
        """The task's end in words ("" while it runs)."""
        if not self.ended:
            return ""
        detail = self.error or self.message
        code = f" (exit code {self.exit_code})" if self.exit_code else ""
        return f"its Swarm task is {self.state}{code}" + (f": {detail}" if detail else "")


def latest_task(tasks: Iterable[Mapping[str, Any]]) -> ReplicaTask | None:
    """The newest task of a replica's service (its only one), None before Swarm made it."""
    found = [ReplicaTask.from_attrs(attrs) for attrs in tasks]
    return max(found, key=lambda task: task.created_at) if found else None
