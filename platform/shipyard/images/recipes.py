"""How each base image named in ``environments.yaml`` is made without a registry.

A base image is a Debian root filesystem made by ``mmdebstrap`` from Debian's own packages
(``minbase``: the essential packages, plus Python, its ``venv`` module and the CA
certificates), imported into the engine with ``docker import``. The GPU profile's image is
the same filesystem with the NVIDIA container runtime's variables set: the CUDA libraries
that deep-learning packages need come with their wheels (``nvidia-*`` on PyPI), and the
driver's libraries are mounted into the container by the NVIDIA runtime when the engine
honours the container's GPU device request. Nothing CUDA-specific is installed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RECIPES", "BaseImageRecipe"]


@dataclass(frozen=True)
class BaseImageRecipe:
    name: str
    description: str
    suite: str = "bookworm"
    python: str = "3.11"
    packages: tuple[str, ...] = ("python3", "python3-venv", "ca-certificates")
    env: dict[str, str] = field(default_factory=dict)

    @property
    def rootfs_key(self) -> tuple[str, tuple[str, ...]]:
        """Recipes with the same key are made from one root filesystem."""
        return self.suite, self.packages


RECIPES: dict[str, BaseImageRecipe] = {
    recipe.name: recipe
    for recipe in (
        BaseImageRecipe(
            name="shipyard/python:3.11-bookworm",
            description="Debian bookworm (minbase) with Python 3.11, venv and CA certificates",
        ),
        BaseImageRecipe(
            name="shipyard/python-cuda:3.11-bookworm",
            description=(
                "the same, for NVIDIA GPUs: CUDA comes with the service's wheels, the driver "
                "from the NVIDIA container runtime"
            ),
            env={"NVIDIA_VISIBLE_DEVICES": "all",
                 "NVIDIA_DRIVER_CAPABILITIES": "compute,utility"},
        ),
    )
}
