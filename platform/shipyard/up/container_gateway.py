"""The gateway's second address, for Docker instances that call other services.

A container's loopback is its own, so an installation on loopback (the default) is out of
its reach. When the installation uses Docker (its runner, or any service's), ``shipyard
up`` also opens the gateway on this machine's address on the engine's bridge network, and
the docker runner gives its containers that address in ``SHIPYARD_URL``. Only containers
on this machine reach it, and every call there is checked like any other.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from shipyard.errors import ShipyardError
from shipyard.settings import Settings
from shipyard.store import ServiceRow, Store
from shipyard.supervisor.runner_choice import docker_runner
from shipyard_runners.containers import is_loopback

__all__ = ["container_gateway_host"]

log = logging.getLogger(__name__)


def container_gateway_host(settings: Settings, store: Store) -> str | None:
    """The address to open the gateway on for containers as well, or None when there is
    no need (no Docker in use, or a public address containers already reach) or no way
    (no engine answers now: a warning says so)."""
    if not is_loopback(settings.host) or not _uses_docker(settings, store):
        return None
    runner = docker_runner(settings)
    try:
        return runner.host_address()
    except ShipyardError as exc:
        log.warning("Docker instances will not reach other services through the gateway: %s",
                    exc.message)
        return None


def _uses_docker(settings: Settings, store: Store) -> bool:
    if settings.runner == "docker":
        return True
    with store.reading() as session:
        return session.scalar(
            select(ServiceRow.id).where(ServiceRow.runner == "docker").limit(1)
        ) is not None
