"""The swarm the runner places replicas on, as its manager's engine describes it.

The runner talks to one engine, which must be a manager of an active swarm: only a manager
answers the services API. Its nodes are where replicas may run; each node's address
(``Status.Addr``, the address it joined with) is where a replica's published port is
reached. GPUs are Swarm's *generic resources*: a node offers them when its engine is
started with ``node-generic-resources`` (``NVIDIA-GPU=<count>`` or one ``NVIDIA-GPU=<uuid>``
per device), and a replica that reserves some is placed only on such a node.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import docker

from shipyard_runners.containers.engine import engine_errors
from shipyard_sdk.errors import RunnerError

__all__ = ["GPU_RESOURCE", "Node", "gpus_in_swarm", "manager_node_id", "node_address",
           "swarm_nodes"]

GPU_RESOURCE = "NVIDIA-GPU"
"""The generic resource a GPU is, as NVIDIA's Swarm set-up names it."""


@dataclass(frozen=True)
class Node:
    """One node of the swarm, as far as placing a replica goes."""

    id: str
    hostname: str
    address: str
    nano_cpus: int
    memory_bytes: int
    ready: bool
    """Up and taking tasks (state ``ready``, availability ``active``)."""
    generic_resources: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Node:
        """A node as ``docker node inspect`` prints it."""
        description = attrs.get("Description") or {}
        resources = description.get("Resources") or {}
        status = attrs.get("Status") or {}
        availability = (attrs.get("Spec") or {}).get("Availability")
        return cls(
            id=str(attrs.get("ID") or ""),
            hostname=str(description.get("Hostname") or ""),
            address=node_address(attrs),
            nano_cpus=int(resources.get("NanoCPUs") or 0),
            memory_bytes=int(resources.get("MemoryBytes") or 0),
            ready=status.get("State") == "ready" and availability == "active",
            generic_resources=_generic_resources(resources.get("GenericResources") or []),
        )


def _generic_resources(listed: list[Mapping[str, Any]]) -> dict[str, int]:
    """Counts by kind: a discrete resource's value, one per named resource (a device)."""
    counts: dict[str, int] = {}
    for item in listed:
        if "DiscreteResourceSpec" in item:
            spec = item["DiscreteResourceSpec"] or {}
            kind, count = str(spec.get("Kind") or ""), int(spec.get("Value") or 0)
        else:
            spec = item.get("NamedResourceSpec") or {}
            kind, count = str(spec.get("Kind") or ""), 1
        if kind:
            counts[kind] = counts.get(kind, 0) + count
    return counts


def node_address(attrs: Mapping[str, Any]) -> str:
    """Where a node's published ports are reached: the address it joined the swarm with;
    for a manager that joined on every address (``0.0.0.0``), the address its managers
    reach it at."""
    address = str((attrs.get("Status") or {}).get("Addr") or "")
    if address and not _unspecified(address):
        return address
    manager = str((attrs.get("ManagerStatus") or {}).get("Addr") or "")
    host = manager.rsplit(":", 1)[0].strip("[]") if manager else ""
    if host and not _unspecified(host):
        return host
    raise RunnerError(
        f"swarm node {(attrs.get('Description') or {}).get('Hostname') or attrs.get('ID')} "
        "has no address its published ports can be reached at; join it with "
        "--advertise-addr <its address>"
    )


def _unspecified(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


def manager_node_id(client: docker.DockerClient, where: str) -> str:
    """The id of the engine's own node; ``RunnerError`` when the engine is not a manager
    of an active swarm."""
    with engine_errors("asking the engine whether it is in swarm mode"):
        info = client.info()
    swarm = info.get("Swarm") or {}
    state = str(swarm.get("LocalNodeState") or "inactive")
    if state != "active":
        raise RunnerError(
            f"swarm mode is off on the Docker engine at {where} (its swarm state is "
            f"{state!r}): run `docker swarm init --advertise-addr <address>` there, or join "
            "it to a swarm as a manager"
        )
    if not swarm.get("ControlAvailable"):
        raise RunnerError(
            f"the Docker engine at {where} is a swarm worker; the swarm runner needs a "
            "manager's engine (`docker node promote` it, or point the runner at a manager)"
        )
    return str(swarm.get("NodeID") or "")


def swarm_nodes(client: docker.DockerClient) -> list[Node]:
    with engine_errors("listing the swarm's nodes"):
        return [Node.from_attrs(attrs) for attrs in client.api.nodes()]


def gpus_in_swarm(nodes: list[Node]) -> str:
    """The nodes that offer GPUs as generic resources, as ``gpus.gpu_plan`` takes what
    was found ("" for none)."""
    offering = [f"{node.hostname or node.id}: {node.generic_resources[GPU_RESOURCE]}"
                for node in nodes
                if node.ready and node.generic_resources.get(GPU_RESOURCE, 0) > 0]
    if not offering:
        return ""
    return f"{GPU_RESOURCE} generic resources on {len(offering)} node(s) ({', '.join(offering)})"
