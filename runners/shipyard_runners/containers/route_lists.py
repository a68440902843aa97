"""Reading the route list a generation's build wrote into its image (see ``dockerfiles``),
through a container that is created, never started, and removed."""

from __future__ import annotations

import contextlib
import io
import json
import tarfile

import docker
import docker.errors

from shipyard_runners.containers.dockerfiles import ROUTES_FILE
from shipyard_runners.containers.engine import engine_errors
from shipyard_runners.protocol import AppRoutes, Route
from shipyard_sdk.errors import BuildFailed

__all__ = ["MAX_ROUTE_LIST_BYTES", "read_route_list"]

MAX_ROUTE_LIST_BYTES = 16 * 1024 * 1024
"""A route list past this is refused: the service wrote it, the control plane reads it."""


def read_route_list(client: docker.DockerClient, image: str, labels: dict[str, str]
                    ) -> AppRoutes:
    with engine_errors("reading the app's route list", BuildFailed):
        container = client.containers.create(image, labels=labels)
        try:
            bits, stat = container.get_archive(ROUTES_FILE)
            if int(stat.get("size", 0)) > MAX_ROUTE_LIST_BYTES:
                raise BuildFailed(f"the app's route list is over {MAX_ROUTE_LIST_BYTES} bytes")
            packed = b"".join(bits)
        finally:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(packed)) as archive:
            member = archive.extractfile(archive.getmembers()[0])
            if member is None:
                raise ValueError("it is not a file")
            listed = json.loads(member.read().decode("utf-8"))
        routes = tuple(
            Route(
                rule=str(item["rule"]), endpoint=str(item["endpoint"]),
                method=str(item["method"]), docstring=str(item.get("docstring") or ""),
            )
            for item in listed["routes"]
        )
    except (OSError, ValueError, KeyError, TypeError, IndexError, tarfile.TarError) as exc:
        raise BuildFailed(f"the app's route list is unreadable: {exc}") from exc
    return AppRoutes(routes=routes, problem=str(listed.get("problem") or ""))
