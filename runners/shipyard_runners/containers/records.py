"""What the docker runner keeps of an instance on disk, under ``<root>/instances/``:

    <instance id>.log     the container's output, saved when it is stopped and removed
    <instance id>.notes   lines the runner adds about it (killed for memory, capped cpus)

A container's output leaves the engine with the container; the notes are not the
container's to write. Both are shown after the container's own output by ``logs``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from shipyard_runners.processes import tail as tail_of_file
from shipyard_sdk.errors import RunnerError

__all__ = ["InstanceRecords"]

_INSTANCE_ID = re.compile(r"^[0-9a-f]{32}$")


class InstanceRecords:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, instance_id: str, suffix: str) -> Path:
        if not _INSTANCE_ID.match(instance_id):
            raise RunnerError(f"{instance_id!r} is not an instance id of the docker runner")
        return self.root / f"{instance_id}{suffix}"

    def save_output(self, instance_id: str, output: bytes) -> None:
        path = self._path(instance_id, ".log")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(output)

    def saved_output(self, instance_id: str, tail: int | None) -> str:
        return tail_of_file(self._path(instance_id, ".log"), tail)

    def note(self, instance_id: str, line: str) -> None:
        path = self._path(instance_id, ".notes")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as notes:
            notes.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    def notes(self, instance_id: str) -> list[str]:
        try:
            return self._path(instance_id, ".notes").read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []

    def with_notes(self, instance_id: str, output: str, tail: int | None) -> str:
        """``output`` followed by the runner's notes, as the last ``tail`` lines."""
        text = output + "".join(f"shipyard: {line}\n" for line in self.notes(instance_id))
        if tail is None:
            return text
        kept = text.splitlines()[-tail:] if tail > 0 else []
        return "\n".join(kept) + "\n" if kept else ""
