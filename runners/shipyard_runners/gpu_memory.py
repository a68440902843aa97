"""``GpuMemoryMeter``: how much GPU memory each process holds, as ``nvidia-smi`` lists
the compute processes of every GPU, read at most once per ``max_age`` seconds for all the
instances a runner measures (the supervisor asks for each instance every few seconds).

A machine without ``nvidia-smi`` has no GPU memory to read: every process holds 0.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterable

__all__ = ["GpuMemoryMeter", "parse_compute_apps"]

QUERY = ["--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"]
MIB = 1024 * 1024


def parse_compute_apps(output: str) -> dict[int, int]:
    """Bytes per pid from ``nvidia-smi --query-compute-apps=pid,used_memory`` in CSV
    without header or units (MiB); a process on several GPUs adds up; lines that are not
    two numbers (``[N/A]``, ``[Insufficient Permissions]``) are left out."""
    held: dict[int, int] = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) != 2 or not cells[0].isdigit() or not cells[1].isdigit():
            continue
        pid = int(cells[0])
        held[pid] = held.get(pid, 0) + int(cells[1]) * MIB
    return held


class GpuMemoryMeter:
    def __init__(self, *, max_age: float = 5.0, timeout: float = 10.0) -> None:
        self.max_age = max_age
        self.timeout = timeout
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._held: dict[int, int] = {}

    def held_by(self, pids: Iterable[int]) -> int:
        """The GPU memory, in bytes, that the processes ``pids`` hold together."""
        held = self._current()
        return sum(held.get(pid, 0) for pid in pids) if held else 0

    def _current(self) -> dict[int, int]:
        with self._lock:
            now = time.monotonic()
            if now - self._read_at >= self.max_age:
                self._read_at = now
                self._held = self._read()
            return self._held

    def _read(self) -> dict[int, int]:
        nvidia_smi = shutil.which("nvidia-smi")
        if nvidia_smi is None:
            return {}
        try:
            done = subprocess.run([nvidia_smi, *QUERY], capture_output=True, text=True,
                                  timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return {}
        return parse_compute_apps(done.stdout) if done.returncode == 0 else {}
