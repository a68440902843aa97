"""The host port each replica's service publishes, chosen from a range.

A replica is reached at its node's address and the port its service publishes in ``host``
mode (the ingress routing mesh is not used: it does not work on every machine). The port
is chosen here, not by the node's engine: Swarm reports a port the engine picks only once
the task is ``running``, which, for a service with a health check, is once that check has
passed (the task is ``starting`` until then, its ``PortStatus`` empty), and ``start`` must
return the address before that: it is called while the supervisor holds the store's write
lock, and an app may take a minute to load its model. A port no service of the swarm
publishes is chosen at random from the range (``swarm_ports``, ``20000-29999`` by default:
below the kernel's ephemeral ports, where engines pick theirs, and apart from Swarm's own
ingress range 30000-32767); Swarm itself never places two tasks that publish the same host
port on one node. Something else that listens on the chosen port of the chosen node fails
the task, which ``health`` then reports ``exited``; the next start picks another port.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard_sdk.errors import InvalidInput, RunnerError

__all__ = ["DEFAULT_PORTS", "PortRange", "published_ports"]

DEFAULT_PORTS = "20000-29999"
_RANGE = re.compile(r"^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$")


@dataclass(frozen=True)
class PortRange:
    first: int
    last: int

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """``FIRST-LAST``, both between 1024 and 65535; ``InvalidInput`` naming the problem
        otherwise."""
        found = _RANGE.match(text)
        if not found:
            raise InvalidInput(f"swarm_ports must be a range such as {DEFAULT_PORTS}, "
                               f"got {text!r}")
        first, last = int(found.group(1)), int(found.group(2))
        if not 1024 <= first <= last <= 65535:
            raise InvalidInput(f"swarm_ports {text!r} must run from a lower to a higher port, "
                               "both between 1024 and 65535")
        return cls(first, last)

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"

    def choose(self, taken: Iterable[int]) -> int:
        """A port of the range not in ``taken``, at random (two runners that choose at
        once rarely choose alike); ``RunnerError`` when every one is taken."""
        used = {port for port in taken if self.first <= port <= self.last}
        free = self.last - self.first + 1 - len(used)
        if free <= 0:
            raise RunnerError(f"every port of swarm_ports {self} is published by a service "
                              "of the swarm; widen the range")
        for _ in range(64):
            port = random.randint(self.first, self.last)
            if port not in used:
                return port
        return next(port for port in range(self.first, self.last + 1) if port not in used)


def published_ports(services: Iterable[Mapping[str, Any]]) -> set[int]:
    """Every port the swarm's services (as the services API lists them) publish, in
    either mode."""
    ports: set[int] = set()
    for service in services:
        spec = (service.get("Spec") or {}).get("EndpointSpec") or {}
        endpoint = service.get("Endpoint") or {}
        for port in [*(spec.get("Ports") or []), *(endpoint.get("Ports") or [])]:
            if port.get("PublishedPort"):
                ports.add(int(port["PublishedPort"]))
    return ports
