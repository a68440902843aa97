"""CPU, memory and GPU memory of a container, from the engine's one-shot statistics and,
for a container given GPUs, ``nvidia-smi``'s compute processes (``GpuMemoryMeter``).

CPU is the container's CPU time since the previous reading of the same instance divided by
the wall time between them (100 per busy core); the first reading averages over the
container's life. Memory is what the container's cgroup charges minus the page cache it
can drop (what ``docker stats`` shows).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import docker.errors
from docker.models.containers import Container

from shipyard_runners.gpu_memory import GpuMemoryMeter
from shipyard_runners.protocol import Usage
from shipyard_sdk.errors import RunnerError

__all__ = ["ContainerMeter", "memory_in_use"]


def memory_in_use(stats: Mapping[str, Any]) -> int:
    memory = stats.get("memory_stats") or {}
    usage = int(memory.get("usage") or 0)
    details = memory.get("stats") or {}
    # cgroup v1 names it total_inactive_file, v2 inactive_file.
    cache = details.get("total_inactive_file", details.get("inactive_file", 0))
    return max(0, usage - int(cache or 0))


def _cpu_seconds(stats: Mapping[str, Any]) -> float:
    usage = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage") or 0
    return int(usage) / 1e9


def _started(started_at: str) -> float:
    # The engine writes nanoseconds; Python reads at most microseconds.
    trimmed = started_at.rstrip("Z")
    if "." in trimmed:
        head, fraction = trimmed.split(".", 1)
        trimmed = f"{head}.{fraction[:6]}"
    return datetime.fromisoformat(trimmed + "+00:00").timestamp()


@dataclass
class ContainerMeter:
    _last: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _gpu_memory: GpuMemoryMeter = field(default_factory=GpuMemoryMeter)

    def gpu_memory(self, container: Any) -> int:
        """What the processes of a container given GPUs hold on them (host pids, as
        ``top`` lists them); 0 for a container without GPUs."""
        if not (container.attrs.get("HostConfig") or {}).get("DeviceRequests"):
            return 0
        try:
            listed = container.top(ps_args="-o pid")
        except (docker.errors.APIError, OSError):  # it stopped meanwhile, or no engine
            return 0
        pids = [int(row[0]) for row in listed.get("Processes") or [] if row and row[0].isdigit()]
        return self._gpu_memory.held_by(pids)

    def cpu_percent(self, instance_id: str, stats: Mapping[str, Any], started_at: str) -> float:
        now = time.time()
        used = _cpu_seconds(stats)
        with self._lock:
            since, used_before = self._last.get(instance_id, (_started(started_at), 0.0))
            self._last[instance_id] = (now, used)
        elapsed = now - since
        return max(0.0, (used - used_before) / elapsed * 100.0) if elapsed > 0 else 0.0

    def usage(self, instance_id: str, container: Container) -> Usage:
        """What the running ``container`` of instance ``instance_id`` uses now (zero once
        it is gone)."""
        try:
            stats = container.stats(stream=False, one_shot=True)
        except docker.errors.NotFound:
            return Usage(cpu_percent=0.0, memory_bytes=0)
        except (docker.errors.APIError, OSError) as exc:
            raise RunnerError(f"cannot read the usage of {instance_id}: {exc}") from exc
        return Usage(
            cpu_percent=self.cpu_percent(instance_id, stats, container.attrs["State"]["StartedAt"]),
            memory_bytes=memory_in_use(stats), gpu_memory_bytes=self.gpu_memory(container),
        )

    def forget(self, instance_id: str) -> None:
        with self._lock:
            self._last.pop(instance_id, None)
