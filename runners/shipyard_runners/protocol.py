"""The one protocol every runner implements, and the values that cross it.

A runner turns a generation's files into an ``Artifact`` (``build``), lists the routes of
an artifact's app for its documentation (``routes``), and turns an artifact into running
instances (``start``, ``health``, ``stop``, ``logs``, ``usage``). Specs and handles
are frozen dataclasses of plain values: no process, container or client object crosses the
line, so the control plane can store artifacts and handles as JSON and hand them to a
runner created after a restart (``adopt``).

Runners never restart what dies: ``health`` reports ``exited`` and the supervisor decides.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "NO_SECRETS",
    "AppRoutes",
    "Artifact",
    "BuildSpec",
    "InstanceHandle",
    "LogSink",
    "Profile",
    "Route",
    "RouteSpec",
    "Runner",
    "State",
    "Usage",
]

LogSink = Callable[[str], None]
"""Receives one line of build output at a time, without its newline."""

NO_SECRETS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Profile:
    """The resources an environment profile grants one instance."""

    name: str
    cpu: float
    memory_bytes: int
    gpu: int = 0
    gpu_memory_bytes: int = 0
    base_image: str = ""
    allow_cpu_fallback: bool = False
    """Whether an instance runs on CPU where no GPU is found, instead of not starting."""


@dataclass(frozen=True)
class BuildSpec:
    """What to build: one generation of one service.

    ``code_dir`` belongs to the caller; a runner copies what it needs and never writes
    there. ``packages`` are already validated PEP 508 requirements.
    """

    service_id: str
    service_name: str
    generation: str
    code_dir: Path
    packages: tuple[str, ...]
    profile: Profile
    python: str = "3.11"
    runner: str = ""
    """The runner that should build it, "" for the control plane's own; read by a set of
    runners (the control plane's ``RunnerSet``), not by a runner itself."""
    variables: Mapping[str, str] = field(default_factory=dict)
    """The generation's environment variables, set for its import check as for its
    instances (checked names: none that changes how the runtime starts)."""
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Its secrets, unsealed: set for its import check like the variables, never shown
    in the build log."""


@dataclass(frozen=True)
class Artifact:
    """A built generation: ``key`` is unique per build, ``env_key`` names the environment
    (virtualenv, base layer) it runs on, ``path`` is a runner-specific location."""

    key: str
    env_key: str
    path: str
    runner: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Artifact:
        return cls(
            key=str(data["key"]),
            env_key=str(data["env_key"]),
            path=str(data["path"]),
            runner=str(data["runner"]),
        )


@dataclass(frozen=True)
class RouteSpec:
    """An operation a view declares for flasgger apart from its docstring: ``kind`` is
    ``file`` (``text`` is the YAML file, ``source`` its path in the service's folder),
    ``dict`` (``text`` is the JSON of a ``swag_from`` dict) or ``error`` (``text`` says why
    it could not be read)."""

    kind: str
    source: str
    text: str


@dataclass(frozen=True)
class Route:
    """One method of one route of a service's app, as listed inside its own environment.

    ``rule`` is in Flask's syntax (``/items/<int:item_id>``); ``docstring`` is the raw
    docstring of the view that answers ``method`` ("" when it has none).
    """

    rule: str
    endpoint: str
    method: str
    docstring: str = ""
    spec: RouteSpec | None = None

    @classmethod
    def from_dict(cls, item: Mapping[str, Any]) -> Route:
        """A route as ``shipyard_sdk.runtime.routes`` lists it (the service wrote it:
        ``KeyError``, ``TypeError`` or ``AttributeError`` when it is not that)."""
        spec = item.get("spec")
        return cls(
            rule=str(item["rule"]), endpoint=str(item["endpoint"]),
            method=str(item["method"]), docstring=str(item.get("docstring") or ""),
            spec=None if spec is None else RouteSpec(
                kind=str(spec["kind"]), source=str(spec["source"]), text=str(spec["text"])),
        )


@dataclass(frozen=True)
class AppRoutes:
    """Every route of an artifact's app; ``problem`` says why none could be listed."""

    routes: tuple[Route, ...]
    problem: str = ""

    @classmethod
    def from_dict(cls, listed: Mapping[str, Any]) -> AppRoutes:
        """The route list ``shipyard_sdk.runtime.routes`` wrote, parsed from its JSON."""
        return cls(routes=tuple(Route.from_dict(item) for item in listed["routes"]),
                   problem=str(listed.get("problem") or ""))


@dataclass(frozen=True)
class InstanceHandle:
    """A started instance, enough to find it again after a control-plane restart."""

    instance_id: str
    artifact_key: str
    host: str
    port: int
    pid: int | None
    runner: str
    started_at: float
    notes: tuple[str, ...] = ()
    """What the runner says about how this instance runs, where it is not as its profile
    and environment ask (capped cpus, on CPU for want of a GPU, no way to reach other
    services); shown in its status."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InstanceHandle:
        pid = data.get("pid")
        return cls(
            instance_id=str(data["instance_id"]),
            artifact_key=str(data["artifact_key"]),
            host=str(data["host"]),
            port=int(data["port"]),
            pid=None if pid is None else int(pid),
            runner=str(data["runner"]),
            started_at=float(data["started_at"]),
            notes=tuple(str(note) for note in data.get("notes") or ()),
        )


@dataclass(frozen=True)
class Usage:
    """What an instance uses now: ``cpu_percent`` is 100 per busy core;
    ``gpu_memory_bytes`` is what its processes hold on GPUs (0 without one)."""

    cpu_percent: float
    memory_bytes: int
    gpu_memory_bytes: int = 0


class State(enum.StrEnum):
    """An instance's health as its runner sees it."""

    STARTING = "starting"
    """Running, but has not answered its health check yet."""
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    """Running and answered before, but not (or not well) now."""
    EXITED = "exited"
    """Gone: the supervisor calls ``stop`` to clean up, then starts a new one."""


@runtime_checkable
class Runner(Protocol):
    """A backend that builds generations and runs their instances."""

    name: str

    def build(self, spec: BuildSpec, log: LogSink) -> Artifact:
        """Build ``spec``, streaming every output line to ``log`` as it comes.

        Raises ``BuildFailed`` with a one-line reason; the details are in the log.
        """
        ...

    def routes(self, artifact: Artifact, log: LogSink) -> AppRoutes:
        """The routes of the artifact's app, listed by importing it in its own environment
        (the control plane never imports user code), streaming the output to ``log``.

        Raises ``BuildFailed`` when they cannot be listed.
        """
        ...

    def start(
        self, artifact: Artifact, profile: Profile, env: Mapping[str, str],
        secrets: Mapping[str, str] = NO_SECRETS,
    ) -> InstanceHandle:
        """Start one instance and return once it is started, not once it is healthy.

        ``secrets`` (unsealed) reach the service's code as environment variables, as
        ``env`` does; a runner that can also gives them as read-only files, and keeps their
        values out of what its engine shows (``docker inspect``).

        Raises ``RunnerError`` when it cannot start at all (no process or container
        exists then); what it starts without, it says in the handle's ``notes``.
        """
        ...

    def health(self, handle: InstanceHandle) -> State: ...

    def stop(self, handle: InstanceHandle, grace: float = 30.0) -> None:
        """Let in-flight requests finish, kill after ``grace`` seconds. Idempotent."""
        ...

    def adopt(self, handle: InstanceHandle) -> bool:
        """Whether a previously started instance is still alive and still that instance."""
        ...

    def logs(self, handle: InstanceHandle, tail: int | None = None) -> str:
        """The instance's output, or its last ``tail`` lines."""
        ...

    def usage(self, handle: InstanceHandle) -> Usage:
        """What the instance uses now; zero for one that is gone."""
        ...

    def exists(self, artifact: Artifact) -> bool:
        """Whether ``artifact`` can still be started; if not, it must be rebuilt."""
        ...

    def remove(self, artifact: Artifact) -> None:
        """Delete what ``artifact`` alone holds: its code or image, and its environment
        once no other artifact of this runner uses it. Idempotent. The caller stops its
        instances first and builds nothing meanwhile."""
        ...

    def discard_unfinished(self) -> None:
        """Delete what builds cut short by a crash left half-made. The caller builds
        nothing meanwhile (a supervisor calls it as it starts)."""
        ...
