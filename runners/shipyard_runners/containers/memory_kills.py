"""Telling that the kernel killed a container's process for its memory, and saying so in
the instance's notes: the engine's ``oom`` events since the instance started, and the
limit from the container's own configuration."""

from __future__ import annotations

import time

import docker
from docker.models.containers import Container

from shipyard_runners.containers.engine import engine_errors
from shipyard_runners.containers.records import InstanceRecords
from shipyard_runners.protocol import InstanceHandle

__all__ = ["killed_for_memory", "note_memory_kill"]


def killed_for_memory(client: docker.DockerClient, handle: InstanceHandle,
                      container: Container) -> bool:
    """Whether the kernel killed a process of the container for exceeding its limit."""
    with engine_errors("reading the engine's events"):
        # An ``until`` in the future would make the engine wait for it.
        now = time.time()
        events = client.events(
            since=int(handle.started_at) - 1, until=f"{int(now)}.{int(now % 1 * 1e9):09d}",
            filters={"container": container.id, "event": "oom"}, decode=True,
        )
        try:
            return any(True for _ in events)
        finally:
            events.close()


def note_memory_kill(records: InstanceRecords, handle: InstanceHandle,
                     container: Container) -> None:
    """Add "killed: out of memory" (with the limit) to the instance's notes, once."""
    limit = int(container.attrs["HostConfig"].get("Memory") or 0)
    message = "killed: out of memory"
    if limit:
        message += f" (it used more than its limit of {limit / 1024**2:.0f} MiB)"
    if not any(message in line for line in records.notes(handle.instance_id)):
        records.note(handle.instance_id, message)
