"""The fleet snapshot: what the supervisor knows of instances and builds, for the
gateway's ``/metrics``. The supervisor builds a ``FleetSnapshot`` from the store every few
seconds and writes it (``write_fleet_snapshot``); the gateway reads it back
(``FleetSnapshot.load``) when it is scraped, so it never touches the store for it::

    {"version": 1, "written_at": 1717171717.5,
     "instances": [{"instance_id": "i-1", "service": "add-numbers", "generation": "v2",
                    "state": "healthy", "running": true,
                    "cpu_percent": 1.5, "memory_bytes": 52428800}],
     "builds": [{"service": "add-numbers", "generation": "v2", "state": "succeeded",
                 "seconds": 41.2}]}

``instances`` lists every instance the store holds; ``running`` says whether it has a
process (its cpu and memory are current only then). ``builds`` lists every generation's
build: its state (``pending``, ``building``, ``succeeded``, ``failed``) and, once it
ended, how long it took (else null). Services and generations are named as people see
them: the service's name, the generation's tag.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.contracts.json_files import (
    json_list,
    json_object,
    read_json,
    write_json_atomically,
)

__all__ = [
    "FLEET_SNAPSHOT_VERSION",
    "BuildFigures",
    "FleetSnapshot",
    "FleetSnapshotError",
    "InstanceFigures",
    "write_fleet_snapshot",
]

FLEET_SNAPSHOT_VERSION = 1


class FleetSnapshotError(ValueError):
    """A snapshot that cannot be used (unreadable, not JSON, wrong shape)."""


@dataclass(frozen=True)
class InstanceFigures:
    """One instance: where it belongs, its state, and its usage when it runs."""

    instance_id: str
    service: str
    generation: str
    state: str
    running: bool
    cpu_percent: float = 0.0
    memory_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"instance_id": self.instance_id, "service": self.service,
                "generation": self.generation, "state": self.state, "running": self.running,
                "cpu_percent": self.cpu_percent, "memory_bytes": self.memory_bytes}

    @classmethod
    def from_dict(cls, data: Any) -> InstanceFigures:
        raw = _mapping(data, "instance")
        memory = _number(raw, "memory_bytes")
        return cls(
            instance_id=_text(raw, "instance_id"), service=_text(raw, "service"),
            generation=_text(raw, "generation"), state=_text(raw, "state"),
            running=bool(raw.get("running", False)),
            cpu_percent=_number(raw, "cpu_percent"), memory_bytes=int(memory),
        )


@dataclass(frozen=True)
class BuildFigures:
    """One generation's build: its state and, once it ended, how long it took."""

    service: str
    generation: str
    state: str
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "generation": self.generation,
                "state": self.state, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: Any) -> BuildFigures:
        raw = _mapping(data, "build")
        seconds = None if raw.get("seconds") is None else _number(raw, "seconds")
        return cls(service=_text(raw, "service"), generation=_text(raw, "generation"),
                   state=_text(raw, "state"), seconds=seconds)


@dataclass(frozen=True)
class FleetSnapshot:
    """Every instance and build, as the store held them at ``written_at`` (epoch seconds)."""

    written_at: float
    instances: tuple[InstanceFigures, ...] = ()
    builds: tuple[BuildFigures, ...] = ()
    query_lines_set_aside: int = 0
    """Spool lines the supervisor could not ingest (quarantined) since it started."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": FLEET_SNAPSHOT_VERSION, "written_at": self.written_at,
            "instances": [instance.to_dict() for instance in self.instances],
            "builds": [build.to_dict() for build in self.builds],
            "query_lines_set_aside": self.query_lines_set_aside,
        }

    @classmethod
    def from_dict(cls, data: Any) -> FleetSnapshot:
        raw = _mapping(data, "fleet snapshot")
        if raw.get("version") != FLEET_SNAPSHOT_VERSION:
            raise FleetSnapshotError(
                f"fleet snapshot version {raw.get('version')!r} is not {FLEET_SNAPSHOT_VERSION}"
            )
        return cls(
            written_at=_number(raw, "written_at"),
            instances=tuple(InstanceFigures.from_dict(item)
                            for item in _list(raw.get("instances", []), "instances")),
            builds=tuple(BuildFigures.from_dict(item)
                         for item in _list(raw.get("builds", []), "builds")),
            query_lines_set_aside=int(_number(raw, "query_lines_set_aside")),
        )

    @classmethod
    def load(cls, path: Path | str) -> FleetSnapshot:
        """Read and check a written snapshot; raises ``FleetSnapshotError`` (also when
        there is none yet)."""
        return cls.from_dict(read_json(path, "fleet snapshot", FleetSnapshotError))


def write_fleet_snapshot(path: Path | str, snapshot: FleetSnapshot) -> None:
    """Write ``snapshot`` at ``path`` atomically: a reader sees the old file or the new one."""
    write_json_atomically(path, snapshot.to_dict())


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    return json_object(value, what, FleetSnapshotError)


def _list(value: Any, what: str) -> list[Any]:
    return json_list(value, what, FleetSnapshotError)


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise FleetSnapshotError(f"{key} must be a non-empty string, got {value!r}")
    return value


def _number(raw: Mapping[str, Any], key: str) -> float:
    value = raw.get(key, 0)
    if (not isinstance(value, int | float) or isinstance(value, bool)
            or not math.isfinite(value) or value < 0):
        raise FleetSnapshotError(f"{key} must be a finite number >= 0, got {value!r}")
    return float(value)
