"""Where a container reaches the machine its engine runs on.

An instance calls other services through the gateway at ``SHIPYARD_URL``. Inside a
container, 127.0.0.1 is the container itself, so a loopback URL is given to containers
with the engine's default bridge gateway (``docker0``, usually 172.17.0.1) as its host;
``shipyard up`` also opens the gateway on that address when the installation uses Docker
(see ``shipyard.process_tree``). Only containers on this machine reach that address.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

import docker

from shipyard_runners.containers.engine import engine_errors
from shipyard_sdk.errors import RunnerError

__all__ = ["bridge_gateway", "is_loopback", "points_at_loopback", "seen_from_containers"]

BRIDGE_NETWORK = "bridge"


def bridge_gateway(client: docker.DockerClient) -> str:
    """The IPv4 address of this machine on the engine's default bridge network."""
    with engine_errors("asking the engine for its bridge network"):
        network = client.networks.get(BRIDGE_NETWORK)
    for config in (network.attrs.get("IPAM") or {}).get("Config") or []:
        gateway = str(config.get("Gateway") or "")
        if gateway and ipaddress.ip_address(gateway).version == 4:
            return gateway
    raise RunnerError(
        f"the engine's {BRIDGE_NETWORK!r} network has no IPv4 gateway, so its containers "
        "cannot reach Shipyard on this machine"
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def points_at_loopback(url: str) -> bool:
    return is_loopback(urlsplit(url).hostname or "")


def seen_from_containers(url: str, bridge: str) -> str:
    """``url`` as a container reaches it: a loopback host becomes ``bridge``."""
    if not points_at_loopback(url):
        return url
    parts = urlsplit(url)
    netloc = bridge if parts.port is None else f"{bridge}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))
