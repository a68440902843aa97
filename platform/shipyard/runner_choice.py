"""Which runner a control plane uses, and how a profile is handed to it."""

from __future__ import annotations

from shipyard.environments import Environment
from shipyard.errors import InvalidInput
from shipyard.settings import Settings
from shipyard_runners import DockerRunner, LocalRunner, Profile, Runner
from shipyard_runners.containers import installation_id

__all__ = ["RUNNERS", "make_runner", "profile_of", "runner_named"]

RUNNERS = ("local", "docker")


def make_runner(settings: Settings) -> Runner:
    """The installation's runner (``settings.runner``)."""
    return runner_named(settings.runner, settings)


def runner_named(name: str, settings: Settings) -> Runner:
    if name == "local":
        return LocalRunner(settings.home / "local")
    if name == "docker":
        return DockerRunner(settings.home / "docker", installation=installation_id(settings.home))
    raise InvalidInput(f"unknown runner {name!r}; known: {', '.join(RUNNERS)}")


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
