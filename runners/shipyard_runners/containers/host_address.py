"""Where a container reaches the machine its engine runs on.

An instance calls other services through the gateway at ``SHIPYARD_URL``. Inside a
container, 127.0.0.1 is the container itself, so a loopback URL is given to containers
with this machine's address on the engine's default bridge network (``docker0``, usually
172.17.0.1) as its host; ``shipyard up`` also opens the gateway on that address when the
installation uses Docker (see ``shipyard.up.process_tree``). Only containers on this machine
reach that address.

The address is the gateway of the network's IPv4 subnet when the engine names one; an
engine started with its default flags often does not (its IPAM config lists the subnet
alone), so then it is the IPv4 address of the bridge interface the network names
(``com.docker.network.bridge.name``) inside that subnet, and last the subnet's first
address, which the engine gives its bridge by default.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import docker
import psutil

from shipyard_runners.containers.engine import engine_errors
from shipyard_sdk.errors import RunnerError

__all__ = [
    "bridge_address",
    "bridge_gateway",
    "interface_addresses",
    "is_loopback",
    "points_at_loopback",
    "seen_from_containers",
    "url_for_containers",
]

BRIDGE_NETWORK = "bridge"
BRIDGE_INTERFACE_OPTION = "com.docker.network.bridge.name"


def bridge_gateway(client: docker.DockerClient) -> str:
    """The IPv4 address of this machine on the engine's default bridge network."""
    with engine_errors(f"asking the engine for its {BRIDGE_NETWORK!r} network"):
        network = client.networks.get(BRIDGE_NETWORK)
    return bridge_address(network.attrs, interface_addresses())


def interface_addresses() -> dict[str, list[str]]:
    """This machine's IPv4 addresses, by network interface."""
    return {
        name: [address.address for address in addresses if address.family == socket.AF_INET]
        for name, addresses in psutil.net_if_addrs().items()
    }


def bridge_address(attrs: Mapping[str, Any], interfaces: Mapping[str, Sequence[str]]) -> str:
    """This machine's address on the network the engine describes as ``attrs`` (what
    ``docker network inspect`` prints), given this machine's IPv4 ``interfaces``."""
    subnets = []
    for config in (attrs.get("IPAM") or {}).get("Config") or []:
        gateway = str(config.get("Gateway") or "")
        if gateway and ipaddress.ip_address(gateway).version == 4:
            return gateway
        try:
            subnet = ipaddress.ip_network(str(config.get("Subnet") or ""), strict=False)
        except ValueError:
            continue
        if subnet.version == 4:
            subnets.append(subnet)
    interface = str((attrs.get("Options") or {}).get(BRIDGE_INTERFACE_OPTION) or "")
    for address in interfaces.get(interface, ()):
        if not subnets or any(ipaddress.ip_address(address) in s for s in subnets):
            return address
    for subnet in subnets:
        if subnet.num_addresses > 2:
            return str(subnet.network_address + 1)
    raise RunnerError(
        f"the engine's {BRIDGE_NETWORK!r} network names no IPv4 gateway or subnet, and this "
        f"machine has no IPv4 address on its interface {interface or '(none named)'!r}"
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


def url_for_containers(client: docker.DockerClient, url: str) -> tuple[str, str]:
    """``url`` as this engine's containers reach it, and a note ("" for none). Where this
    machine's bridge address cannot be found, ``url`` stays as it is and the note says
    why calls to it from a container fail: that never stops a container from starting."""
    if not points_at_loopback(url):
        return url, ""
    try:
        bridge = bridge_gateway(client)
    except RunnerError as exc:
        return url, (f"its calls to other services fail: they go to {url}, out of a "
                     f"container's reach, because {exc.message}")
    return seen_from_containers(url, bridge), ""
