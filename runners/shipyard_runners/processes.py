"""Finding, measuring and stopping the processes of a local instance.

An instance is a gunicorn master started in a session of its own (so its pid is the
session id) with ``SHIPYARD_INSTANCE_ID`` in its environment; its workers are forked from
it and share both. A pid is trusted only after checking that variable in
``/proc/<pid>/environ``, so a pid the kernel has handed to another process since is never
signalled, whoever started the instance (this runner or one before a restart).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from shipyard_sdk.errors import RunnerError

__all__ = [
    "INSTANCE_VAR",
    "CpuMeter",
    "find_master",
    "members",
    "memory_bytes",
    "tail",
    "terminate",
    "tree_pids",
]

INSTANCE_VAR = "SHIPYARD_INSTANCE_ID"


def _is_instance(process: psutil.Process, instance_id: str) -> bool:
    try:
        return process.environ().get(INSTANCE_VAR) == instance_id
    except psutil.Error:
        return False


def find_master(pid: int | None, instance_id: str) -> psutil.Process | None:
    """The live master process of ``instance_id`` at ``pid``, if it is still that."""
    if pid is None:
        return None
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            _reap(pid)
            return None
    except psutil.Error:
        return None
    return process if _is_instance(process, instance_id) else None


def members(session: int, instance_id: str) -> list[psutil.Process]:
    """Every live process of the instance: its master, workers, and what they started,
    including workers a killed master left behind."""
    found = []
    for process in psutil.process_iter():
        try:
            in_session = os.getsid(process.pid) == session
        except OSError:
            continue
        if in_session and _is_instance(process, instance_id):
            found.append(process)
    return found


def _reap(pid: int) -> None:
    """Collect the exit status of ``pid`` if it is a dead child of this process."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def terminate(pid: int, instance_id: str, grace: float) -> None:
    """Stop the instance: SIGTERM to the master, which lets its workers finish their
    requests, then SIGKILL to whatever of the instance is left after ``grace`` seconds."""
    master = find_master(pid, instance_id)
    if master is not None:
        with contextlib.suppress(psutil.NoSuchProcess):
            master.send_signal(signal.SIGTERM)
        # wait() also reaps the master when it is a child of this process.
        with contextlib.suppress(psutil.TimeoutExpired, psutil.NoSuchProcess):
            master.wait(timeout=grace)
    leftovers = members(pid, instance_id)
    for process in leftovers:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    _gone, alive = psutil.wait_procs(leftovers, timeout=5)
    _reap(pid)
    if alive:
        raise RunnerError(f"processes {[p.pid for p in alive]} survived SIGKILL")


def _cpu_seconds(master: psutil.Process) -> float:
    """CPU time of the master, of the workers it has reaped, and of the live workers."""
    times = master.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in master.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
    return total


def memory_bytes(master: psutil.Process) -> int:
    """Resident memory of the master and its workers (shared pages counted in each)."""
    total = 0
    for process in [master, *master.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total


def tree_pids(master: psutil.Process) -> list[int]:
    """The pids of the master and its workers."""
    pids = [master.pid]
    with contextlib.suppress(psutil.NoSuchProcess):
        pids += [child.pid for child in master.children(recursive=True)]
    return pids


@dataclass
class CpuMeter:
    """CPU use since the previous reading, per instance (100 per busy core); the first
    reading of an instance averages over its whole life."""

    _last: dict[str, tuple[float, float]] = field(default_factory=dict)

    def read(self, instance_id: str, master: psutil.Process) -> float:
        now = time.time()
        used = _cpu_seconds(master)
        since, used_before = self._last.get(instance_id, (master.create_time(), 0.0))
        self._last[instance_id] = (now, used)
        elapsed = now - since
        return max(0.0, (used - used_before) / elapsed * 100.0) if elapsed > 0 else 0.0

    def forget(self, instance_id: str) -> None:
        self._last.pop(instance_id, None)


def tail(path: Path, lines: int | None) -> str:
    """The last ``lines`` lines of ``path`` (all of it for ``None``), "" if it is missing."""
    if not path.is_file():
        return ""
    with open(path, "rb") as handle:
        if lines is None:
            return handle.read().decode("utf-8", "replace")
        if lines <= 0:
            return ""
        end = handle.seek(0, os.SEEK_END)
        data, position = b"", end
        while position > 0 and data.count(b"\n") <= lines:
            step = min(64 * 1024, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    kept = data.decode("utf-8", "replace").splitlines()[-lines:]
    return "\n".join(kept) + "\n" if kept else ""
