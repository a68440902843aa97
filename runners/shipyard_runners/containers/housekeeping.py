"""Removing everything one installation made on an engine, and nothing else."""

from __future__ import annotations

import contextlib

import docker
import docker.errors

from shipyard_runners.containers import labels as label
from shipyard_runners.containers.engine import engine_errors
from shipyard_sdk.errors import RunnerError

__all__ = ["discard_dangling_images", "purge_installation"]


def purge_installation(client: docker.DockerClient, installation: str) -> tuple[int, int]:
    """Remove every container (running or not) and image labelled with ``installation``;
    base images, which carry no installation, stay. How many containers and images went."""
    filters = label.installation_filter(installation)
    with engine_errors(f"removing the containers and images of {installation}"):
        containers = client.containers.list(all=True, filters=filters)
        for container in containers:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        removed = 0
        while True:
            images = client.images.list(all=True, filters=filters)
            # Newest first: children (generations, a build's intermediate layers) go
            # before the images they are built on; a parent is left for the next round.
            images.sort(key=lambda image: str(image.attrs.get("Created")), reverse=True)
            progressed = False
            for image in images:
                try:
                    client.images.remove(image.id, force=True)
                    removed += 1
                    progressed = True
                except docker.errors.NotFound:
                    progressed = True  # went with a child removed before it
                except docker.errors.APIError as exc:
                    if exc.status_code != 409:
                        raise
            if not images or not progressed:
                break
    if images:
        raise RunnerError(
            f"images of {installation} are still used: "
            + ", ".join(image.short_id for image in images)
        )
    return len(containers), removed


def discard_dangling_images(client: docker.DockerClient, installation: str) -> int:
    """Remove the untagged images of ``installation`` that no tagged image is built on:
    what a build cut short leaves (a finished build tags its image). How many went."""
    filters = {**label.installation_filter(installation), "dangling": ["true"]}
    removed = 0
    with engine_errors(f"removing the unfinished images of {installation}"):
        for image_id in client.api.images(filters=filters, quiet=True):
            try:
                client.api.remove_image(image_id)
                removed += 1
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # in use: a container runs it, it stays
                    raise
    return removed
