"""Which runner a control plane uses, and how a profile is handed to it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from sqlalchemy.engine import make_url

from shipyard.domain.environments import Environment
from shipyard.errors import InvalidInput
from shipyard.settings import Settings
from shipyard_runners import (
    RUNNERS,
    DockerRunner,
    LocalRunner,
    Profile,
    Runner,
    Sandbox,
    SwarmRunner,
)
from shipyard_runners.containers import installation_id

__all__ = [
    "RUNNERS",
    "SANDBOXES",
    "docker_runner",
    "make_runner",
    "profile_of",
    "runner_named",
    "swarm_runner",
]

SANDBOXES = ("bubblewrap", "none")


def make_runner(settings: Settings) -> Runner:
    """The installation's runner (``settings.runner``)."""
    return runner_named(settings.runner, settings)


def runner_named(name: str, settings: Settings) -> Runner:
    if name == "local":
        return LocalRunner(settings.home / "local", sandbox=_sandbox(settings),
                           bytecode_store=settings.effective_bytecode_store)
    if name == "docker":
        return docker_runner(settings)
    if name == "swarm":
        return swarm_runner(settings)
    raise InvalidInput(f"unknown runner {name!r}; known: {', '.join(RUNNERS)}")


def docker_runner(settings: Settings) -> DockerRunner:
    """The installation's docker runner: its folder in the home, its installation id."""
    return DockerRunner(settings.home / "docker", installation=installation_id(settings.home))


def swarm_runner(settings: Settings) -> SwarmRunner:
    """The installation's swarm runner: its folder in the home, its installation id, the
    registry and host ports the settings name."""
    if not settings.swarm_registry:
        raise InvalidInput(
            "the swarm runner needs a registry every node of the swarm pulls from: set "
            "swarm_registry (--swarm-registry, SHIPYARD_SWARM_REGISTRY or the config file) "
            "to its host:port, such as 127.0.0.1:5000"
        )
    return SwarmRunner(settings.home / "swarm", installation=installation_id(settings.home),
                       registry=settings.swarm_registry, ports=settings.swarm_ports)


def _sandbox(settings: Settings) -> Sandbox | Literal["none"]:
    """The local runner's sandbox, hiding the home and a database file kept elsewhere."""
    if settings.sandbox == "none":
        return "none"
    if settings.sandbox != "bubblewrap":
        raise InvalidInput(
            f"unknown sandbox {settings.sandbox!r}; known: {', '.join(SANDBOXES)}"
        )
    hidden = [settings.home]
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        database = Path(url.database).absolute()
        hidden += [database.with_name(database.name + suffix)
                   for suffix in ("", "-wal", "-shm", "-journal")]
    return Sandbox.for_this_machine(hidden=hidden)


def profile_of(environment: Environment) -> Profile:
    return Profile(
        name=environment.name,
        cpu=environment.cpu,
        memory_bytes=environment.memory_bytes,
        gpu=environment.gpu,
        gpu_memory_bytes=environment.gpu_memory_bytes,
        base_image=environment.base_image,
        allow_cpu_fallback=environment.allow_cpu_fallback,
    )
