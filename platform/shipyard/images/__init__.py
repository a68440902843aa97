"""Base images for the docker runner, built on this machine without a registry.

Run by the CLI (``shipyard images build-base``) only; it reaches the engine through the
docker runner's public surface (``shipyard_runners.containers``).
"""

from shipyard.images.building import base_images, build_base_images, debian_mirror, recipes_for
from shipyard.images.recipes import RECIPES, BaseImageRecipe

__all__ = [
    "RECIPES",
    "BaseImageRecipe",
    "base_images",
    "build_base_images",
    "debian_mirror",
    "recipes_for",
]
