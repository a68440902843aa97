"""The route list of a generation's app, as its import check wrote it in a container
(see ``import_checks``), and as images built before the check left the build wrote it into
the image (``ROUTES_FILE``, read through a container that is created, never started)."""

from __future__ import annotations

import contextlib
import io
import json
import tarfile

import docker
import docker.errors
from docker.models.containers import Container

from shipyard_runners.containers.dockerfiles import ROUTES_FILE
from shipyard_runners.containers.engine import engine_errors
from shipyard_runners.protocol import AppRoutes
from shipyard_sdk.errors import BuildFailed

__all__ = ["MAX_ROUTE_LIST_BYTES", "copy_route_list", "parse_route_list", "read_route_list"]

MAX_ROUTE_LIST_BYTES = 16 * 1024 * 1024
"""A route list past this is refused: the service wrote it, the control plane reads it."""


def copy_route_list(container: Container, path: str) -> bytes:
    """The file ``path`` of ``container`` (running or not), as it is."""
    with engine_errors("reading the app's route list", BuildFailed):
        bits, found = container.get_archive(path)
        if int(found.get("size", 0)) > MAX_ROUTE_LIST_BYTES:
            raise BuildFailed(f"the app's route list is over {MAX_ROUTE_LIST_BYTES} bytes")
        packed = b"".join(bits)
    try:
        with tarfile.open(fileobj=io.BytesIO(packed)) as archive:
            member = archive.extractfile(archive.getmembers()[0])
            if member is None:
                raise ValueError("it is not a file")
            return member.read(MAX_ROUTE_LIST_BYTES + 1)
    except (OSError, ValueError, IndexError, tarfile.TarError) as exc:
        raise BuildFailed(f"the app's route list is unreadable: {exc}") from exc


def parse_route_list(data: bytes) -> AppRoutes:
    try:
        return AppRoutes.from_dict(json.loads(data.decode("utf-8")))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BuildFailed(f"the app's route list is unreadable: {exc}") from exc


def read_route_list(client: docker.DockerClient, image: str, labels: dict[str, str]
                    ) -> AppRoutes:
    """The route list an older build wrote into ``image``."""
    with engine_errors("reading the app's route list", BuildFailed):
        container = client.containers.create(image, labels=labels)
    try:
        return parse_route_list(copy_route_list(container, ROUTES_FILE))
    finally:
        with contextlib.suppress(docker.errors.APIError):
            container.remove(force=True)
