"""A replica's Swarm service as the manager has it: found by its instance id, its one task,
that task's container where it runs on the manager's own engine, and its output.

A service is taken for a replica only when it carries the installation's labels and the
instance's id; a replica is taken for a handle's instance only when it publishes the
handle's port and, where both are known, runs the handle's main process (so a stale handle
never reaches a newer instance).
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass

import docker.errors
from docker.models.containers import Container

from shipyard_runners.containers import labels as label
from shipyard_runners.containers.engine import Engine, engine_errors
from shipyard_runners.protocol import InstanceHandle, Profile
from shipyard_runners.swarm.ports import published_ports
from shipyard_runners.swarm.replica_specs import ReplicaSpec, service_name
from shipyard_runners.swarm.tasks import ReplicaTask, latest_task
from shipyard_sdk.errors import RunnerError

__all__ = ["Replica", "Replicas"]

TASK_LABEL = "com.docker.swarm.task.id"
"""The label an engine gives a task's container."""
_INSTANCE_ID = re.compile(r"^[0-9a-f]{32}$")
_NO_NODE = "no suitable node"
POLL = 0.1


@dataclass(frozen=True)
class Replica:
    """A replica's service now: its task (None before Swarm made it) and, on the manager's
    own node, the task's container."""

    service_id: str
    published_port: int
    task: ReplicaTask | None
    container: Container | None

    @property
    def pid(self) -> int | None:
        """The main process, as Swarm reports it once running, else as this engine does."""
        if self.task is not None and self.task.pid is not None:
            return self.task.pid
        if self.container is not None and self.container.status == "running":
            return int(self.container.attrs["State"].get("Pid") or 0) or None
        return None

    def runs(self, handle: InstanceHandle) -> bool:
        """Whether this is the handle's instance."""
        pid = self.pid
        return (self.published_port == handle.port
                and (handle.pid is None or pid is None or handle.pid == pid))


class Replicas:
    """The replicas of one installation, through a manager's engine."""

    def __init__(self, engine: Engine, installation: str) -> None:
        self.engine = engine
        self.installation = installation

    def find(self, instance_id: str) -> Replica | None:
        if not _INSTANCE_ID.match(instance_id):
            raise RunnerError(f"{instance_id!r} is not an instance id of the swarm runner")
        client = self.engine.client()
        with engine_errors(f"looking up instance {instance_id}"):
            try:
                service = client.api.inspect_service(service_name(instance_id))
            except docker.errors.NotFound:
                return None
            labels = (service.get("Spec") or {}).get("Labels") or {}
            if (labels.get(label.INSTALLATION) != self.installation
                    or labels.get(label.INSTANCE) != instance_id):
                return None
            task = latest_task(client.api.tasks(filters={"service": service["ID"]}))
        container = self.local_container(task.id) if task and task.container_id else None
        return Replica(service_id=str(service["ID"]),
                       published_port=min(published_ports([service]) or {0}),
                       task=task, container=container)

    def create(self, spec: ReplicaSpec) -> None:
        with engine_errors(f"creating the Swarm service {spec.name}"):
            self.engine.client().api.create_service(spec.task_template,
                                                    **spec.create_options())

    def remove(self, instance_id: str) -> None:
        with engine_errors(f"removing the Swarm service of instance {instance_id}"), \
                contextlib.suppress(docker.errors.NotFound):
            self.engine.client().api.remove_service(service_name(instance_id))

    def task(self, instance_id: str) -> ReplicaTask | None:
        with engine_errors(f"reading the task of instance {instance_id}"):
            return latest_task(self.engine.client().api.tasks(
                filters={"service": service_name(instance_id)}))

    def local_container(self, task_id: str) -> Container | None:
        """The task's container, if it is on this engine (and not removed meanwhile: the
        agent removes the container of a task that failed to start)."""
        client = self.engine.client()
        with engine_errors(f"looking up the container of task {task_id}"):
            for listed in client.api.containers(
                    all=True, filters={"label": f"{TASK_LABEL}={task_id}"}):
                with contextlib.suppress(docker.errors.NotFound):
                    return client.containers.get(listed["Id"])
        return None

    def wait_until_placed(self, instance_id: str, profile: Profile, timeout: float
                          ) -> ReplicaTask:
        """The replica's task once Swarm has chosen its node; ``RunnerError`` when no node
        can take it (its reservations, its GPUs) or it failed before running."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.task(instance_id)
            if task is not None and task.placed:
                return task
            if task is not None and task.ended:
                raise RunnerError(f"Swarm could not run an instance of profile "
                                  f"{profile.name!r}: {task.why_it_ended()}")
            waiting = "" if task is None else (task.error or task.message)
            if _NO_NODE in waiting or time.monotonic() > deadline:
                raise RunnerError(
                    f"Swarm placed no instance of profile {profile.name!r} (cpu "
                    f"{profile.cpu:g}, memory {profile.memory_bytes / 1024**2:.0f} MiB"
                    + (f", {profile.gpu} GPU(s)" if profile.gpu else "")
                    + f") within {timeout:g} s: {waiting or 'no answer'}"
                )
            time.sleep(POLL)

    def local_pid(self, instance_id: str, task: ReplicaTask, timeout: float) -> int | None:
        """The main process of the task's container on this engine, once it runs (None if
        it ended first: ``health`` then says ``exited``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            container = self.local_container(task.id)
            if container is not None and container.status == "running":
                return int(container.attrs["State"].get("Pid") or 0) or None
            current = self.task(instance_id)
            if current is None or current.ended or (container is not None
                                                    and container.status == "exited"):
                return None
            time.sleep(POLL)
        raise RunnerError(f"the container of instance {instance_id} did not start within "
                          f"{timeout:g} s on this engine's node")

    def output(self, replica: Replica, tail: int | None) -> bytes:
        """The replica's output: its container's on this engine, else what Swarm gathers
        from its node (which it does only once the task is ``running``)."""
        lines = "all" if tail is None else max(0, tail)
        with engine_errors(f"reading the output of service {replica.service_id}"):
            if replica.container is not None:
                return bytes(replica.container.logs(stdout=True, stderr=True, tail=lines))
            output = self.engine.client().api.service_logs(
                replica.service_id, stdout=True, stderr=True, tail=lines)
            return output if isinstance(output, bytes) else b"".join(output)
