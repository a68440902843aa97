"""``shipyard images ...``: the docker runner's base images, built on this machine."""

from __future__ import annotations

import os

import click

from shipyard.cli.output import echo_table
from shipyard.domain.environments import EnvironmentCatalog
from shipyard.resources import environments_file
from shipyard.settings import Settings

__all__ = ["images"]


@click.group()
def images() -> None:
    """Build and list the base images the docker runner builds services on."""


@images.command("build-base")
@click.argument("names", nargs=-1)
@click.option("--mirror", help="The Debian mirror (default: the one apt uses here).")
def build_base(names: tuple[str, ...], mirror: str | None) -> None:
    """Build base images NAMES (default: every one environments.yaml names) from Debian's
    packages with mmdebstrap, into the local Docker engine. Needs root."""
    from shipyard.images import build_base_images, debian_mirror, recipes_for

    if not names:
        settings = Settings.from_env(os.environ)
        catalog = EnvironmentCatalog.load(settings.environments_file or environments_file())
        names = tuple(sorted({p.base_image for p in catalog.profiles.values() if p.base_image}))
    recipes = recipes_for(names)
    build_base_images(recipes, mirror or debian_mirror(), click.echo)
    click.echo(f"Built {', '.join(recipe.name for recipe in recipes)}.")


@images.command("list")
def list_images() -> None:
    """List Shipyard's base images on the local Docker engine."""
    from shipyard.images import base_images

    echo_table(base_images(), ("name", "id", "created"))
