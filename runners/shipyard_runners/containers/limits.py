"""What a profile grants a container, as the Docker engine's resource settings.

cpu → ``nano_cpus`` (a CFS quota: the container gets at most that many cores' time);
memory → ``mem_limit`` with swap equal to it (no swap on top), enforced by the kernel on
the container as a whole; gpu → a device request for that many NVIDIA GPUs, which the
engine hands to the NVIDIA container runtime. An engine refuses a quota above its own
number of cores, so the quota is capped there: on a 2-core engine the 4-core ``large``
profile runs with 2 cores' worth, and the instance log says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import docker.types

from shipyard_runners.protocol import Profile

__all__ = ["ContainerLimits", "limits_for"]

NANO = 1_000_000_000


@dataclass(frozen=True)
class ContainerLimits:
    nano_cpus: int
    memory_bytes: int
    gpus: int
    capped_from: float | None = None
    """The profile's cpu when the engine had fewer cores."""

    def capped_note(self, profile: Profile, where: str) -> str:
        """What an instance's status says when ``where`` had fewer cores than its profile
        asks for."""
        return (f"profile {profile.name!r} asks for {self.capped_from:g} cpus; "
                f"{where} has {self.nano_cpus / NANO:g}, so it gets {self.nano_cpus / NANO:g}")

    def run_options(self) -> dict[str, Any]:
        """The keyword arguments of ``containers.create`` for these limits."""
        options: dict[str, Any] = {}
        if self.nano_cpus > 0:
            options["nano_cpus"] = self.nano_cpus
        if self.memory_bytes > 0:
            options["mem_limit"] = self.memory_bytes
            options["memswap_limit"] = self.memory_bytes
        if self.gpus > 0:
            options["device_requests"] = [
                docker.types.DeviceRequest(driver="nvidia", count=self.gpus,
                                           capabilities=[["gpu"]])
            ]
        return options


def limits_for(profile: Profile, engine_cpus: int, gpus: int | None = None) -> ContainerLimits:
    """What ``profile`` gets on an engine of ``engine_cpus`` cores, with ``gpus`` GPUs
    (the profile's when None; fewer where the engine has none, see ``gpus``)."""
    cpu = profile.cpu
    capped_from = None
    if engine_cpus > 0 and cpu > engine_cpus:
        capped_from, cpu = cpu, float(engine_cpus)
    return ContainerLimits(
        nano_cpus=max(0, int(cpu * NANO)),
        memory_bytes=max(0, int(profile.memory_bytes)),
        gpus=max(0, int(profile.gpu if gpus is None else gpus)),
        capped_from=capped_from,
    )
