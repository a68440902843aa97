"""Base images for the docker runner, built on this machine without a registry."""

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
