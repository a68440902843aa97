"""Deciding where one request goes: an instance of a service, or the API upstream.

``dispatch`` is pure: the routing table, the request target and headers in, a
``Destination`` or a typed error out (404 unknown service or generation, 503 disabled,
not deployed or not running, 400 a bad target). ``/metrics`` goes to the worker's own
metrics endpoint (``gateway.metrics_endpoint``) when it has one.
"""

from __future__ import annotations

import random

from shipyard.contracts.routing_table import (
    ReplicaChooser,
    RoutingTable,
    ServiceRoute,
    Upstream,
    authority_of,
)
from shipyard.errors import NotFound, ShipyardError, Unavailable
from shipyard.gateway.headers import RequestHeaders
from shipyard.gateway.settings import GatewaySettings
from shipyard.gateway.targets import origin_form, split_invoke

__all__ = [
    "API_LABEL", "METRICS_LABEL", "METRICS_PATH", "Destination", "ScaledToZero", "dispatch",
    "refused_destination",
]

API_LABEL = "api"
METRICS_LABEL = "metrics"
METRICS_PATH = b"/metrics"


class ScaledToZero(Exception):
    """The call's service runs no replica for want of calls: hold it until one serves
    (``gateway.activation``)."""

    def __init__(self, route: ServiceRoute) -> None:
        super().__init__(route.name)
        self.route = route


class Destination:
    """Where one request is forwarded, and the limits that apply to it.

    ``service``, ``generation`` and ``route`` are None for the API upstream (and the
    metrics endpoint); ``body_limit`` and ``idle_timeout`` are None where they do not
    apply; ``label`` names the destination in the access log.
    """

    __slots__ = ("address", "authority", "body_limit", "generation", "idle_timeout", "label",
                 "path", "route", "service")

    def __init__(
        self,
        address: tuple[str, int],
        authority: bytes,
        path: bytes,
        service: str | None,
        generation: str | None,
        body_limit: int | None,
        idle_timeout: float | None,
        route: ServiceRoute | None = None,
        label: str | None = None,
    ) -> None:
        self.address = address
        self.authority = authority
        self.path = path
        self.service = service
        self.generation = generation
        self.body_limit = body_limit
        self.idle_timeout = idle_timeout
        self.label = label or service or API_LABEL
        self.route = route

    def moved_to(self, upstream: Upstream) -> Destination:
        """The same call, to another replica of the same generation."""
        return Destination(upstream.address, upstream.authority, self.path, self.service,
                           self.generation, self.body_limit, self.idle_timeout, self.route,
                           self.label)

    @classmethod
    def held(cls, route: ServiceRoute, settings: GatewaySettings) -> Destination:
        """A call to ``route`` held until it has a replica: nowhere yet, with the limits
        of a call to it."""
        return cls(("", 0), b"", b"", route.name, None, settings.max_body_bytes,
                   settings.upstream_timeout, route)

    @classmethod
    def refused(cls, route: ServiceRoute) -> Destination:
        """A call to ``route`` that is answered without being forwarded (the service is
        disabled, not deployed, not running...): it goes nowhere, and is still logged."""
        return cls(("", 0), b"", b"", route.name, None, None, None, route)

    @property
    def needs_credentials(self) -> bool:
        """Whether the caller must be authenticated before anything is forwarded."""
        route = self.route
        return route is not None and route.access_level != "public"


def dispatch(
    table: RoutingTable,
    target: bytes,
    headers: RequestHeaders,
    rng: random.Random,
    settings: GatewaySettings,
    api_address: tuple[str, int],
    metrics_address: tuple[str, int] | None = None,
    choose: ReplicaChooser | None = None,
    hold_idle: bool = False,
) -> Destination:
    """The destination of a request for ``target`` (the raw request target); ``choose``
    picks among a generation's replicas (the gateway's ``Balancer``; round-robin without
    it). With ``hold_idle``, a call to a service scaled to zero raises ``ScaledToZero``
    instead of a 503."""
    path = origin_form(target)
    invoke = split_invoke(path)
    if invoke is None:
        if metrics_address is not None and path.partition(b"?")[0] == METRICS_PATH:
            return Destination(metrics_address, authority_of(metrics_address), path, None,
                               None, None, None, label=METRICS_LABEL)
        return Destination(api_address, authority_of(api_address), path, None, None, None, None)
    route = table.lookup(invoke.ref)
    if route is None:
        raise NotFound(f"service {invoke.ref!r} does not exist")
    if not route.enabled:
        raise Unavailable(f"service {route.name!r} is disabled")
    if not route.deployed:
        raise Unavailable(f"service {route.name!r} is not deployed")
    wanted = headers.target_generation
    if wanted and not route.mounted(wanted):
        raise NotFound(f"generation {wanted!r} of service {route.name!r} is not mounted")
    picked = table.pick(route, rng, wanted or None, choose)
    if picked is None:
        if hold_idle and route.scaled_to_zero and not wanted:
            raise ScaledToZero(route)
        raise Unavailable(_not_running(route))
    generation, upstream = picked
    return Destination(
        upstream.address, upstream.authority, invoke.path, route.name, generation,
        settings.max_body_bytes, settings.upstream_timeout, route,
    )


def refused_destination(table: RoutingTable, target: bytes) -> Destination | None:
    """For a call ``dispatch`` refused, the destination it is logged under: its service's,
    when the target names a service the table knows; else None."""
    try:
        invoke = split_invoke(origin_form(target))
    except ShipyardError:  # a target refused as malformed names no service
        return None
    route = table.lookup(invoke.ref) if invoke is not None else None
    return Destination.refused(route) if route is not None else None


def _not_running(route: ServiceRoute) -> str:
    state = route.state or "unknown"
    detail = f": {route.message}" if route.message else ""
    return f"service {route.name!r} has no running instance (state {state}{detail})"
