"""Whether an instance gets the GPUs its profile asks for: the one place both runners ask.

A profile with ``gpu: N`` runs its instances on NVIDIA GPUs where they are found: on this
machine for the local runner (``nvidia-smi -L`` lists them, else ``/dev/nvidia<N>``
devices exist), on the Docker engine for the docker runner (its ``nvidia`` runtime, or
NVIDIA devices it discovered through CDI). Where none is found, an instance does not
start, unless the profile sets ``allow_cpu_fallback: true``: then it starts without GPUs,
and the build log and the instance's status say that it runs on CPU.

What was found is a short description ("" for nothing), so that the decision
(``gpu_plan``) is plain and each runner's search can be given to it from anywhere.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard_runners.commands import run
from shipyard_runners.protocol import Profile
from shipyard_sdk.errors import BuildFailed, RunnerError

__all__ = ["GpuPlan", "engine_gpus", "gpu_plan", "gpus_on_this_machine", "listed_gpus"]

NVIDIA_RUNTIME = "nvidia"
CDI_NVIDIA_GPU = "nvidia.com/gpu"
LIST_TIMEOUT = 20.0


@dataclass(frozen=True)
class GpuPlan:
    """How an instance of a profile runs where a runner looked for GPUs."""

    gpus: int
    """How many GPUs an instance gets: 0 when it runs on CPU."""
    note: str = ""
    """What the build log says ("" for a profile without GPUs)."""
    on_cpu: bool = False
    """Whether it runs on CPU instead of the GPUs it asks for: its status says ``note``."""
    refusal: str = ""
    """Why an instance cannot start ("" when it can)."""

    def check(self) -> None:
        """Raise ``RunnerError`` with the refusal, if there is one."""
        if self.refusal:
            raise RunnerError(self.refusal)


def gpu_plan(profile: Profile, found: str, where: str) -> GpuPlan:
    """The plan for ``profile`` where a search of ``where`` (this machine, the Docker
    engine) found ``found``."""
    if profile.gpu <= 0:
        return GpuPlan(gpus=0)
    asked = f"profile {profile.name!r} asks for {profile.gpu} GPU(s)"
    if found:
        return GpuPlan(gpus=profile.gpu, note=f"{asked}; {where} has {found}")
    missing = f"{asked} and no GPU was found on {where}"
    if profile.allow_cpu_fallback:
        return GpuPlan(gpus=0, note=f"{missing}: it runs on CPU (allow_cpu_fallback)",
                       on_cpu=True)
    return GpuPlan(
        gpus=0, note=f"{missing}: its instances will not start",
        refusal=f"{missing}; set allow_cpu_fallback: true on the profile to run it on CPU",
    )


def listed_gpus(nvidia_smi_output: str) -> int:
    """How many GPUs ``nvidia-smi -L`` listed (``GPU 0: NVIDIA H100 (UUID: ...)``)."""
    return sum(1 for line in nvidia_smi_output.splitlines() if line.startswith("GPU "))


def gpus_on_this_machine(dev: Path = Path("/dev")) -> str:
    """The NVIDIA GPUs of this machine, as ``nvidia-smi -L`` lists them or, without it,
    as device files under ``dev``; "" when there are none."""
    nvidia_smi = shutil.which("nvidia-smi")
    if nvidia_smi:
        output: list[str] = []
        try:
            code = run([nvidia_smi, "-L"], output.append, what="listing GPUs",
                       timeout=LIST_TIMEOUT, check=False)
        except BuildFailed:
            code = 1
        count = listed_gpus("\n".join(output)) if code == 0 else 0
        if count:
            return f"{count} GPU(s) (nvidia-smi -L)"
    devices = sorted(path.name for path in dev.glob("nvidia[0-9]*"))
    return ", ".join(str(dev / name) for name in devices)


def engine_gpus(info: Mapping[str, Any]) -> str:
    """What a Docker engine offers for NVIDIA GPUs, from its ``info`` (``docker info``);
    "" for nothing."""
    if NVIDIA_RUNTIME in (info.get("Runtimes") or {}):
        return f"the {NVIDIA_RUNTIME!r} runtime"
    devices = [
        str(device.get("ID") or "") for device in info.get("DiscoveredDevices") or []
        if str(device.get("ID") or "").startswith(CDI_NVIDIA_GPU)
    ]
    return "CDI devices " + ", ".join(devices) if devices else ""
