"""The routing table: the contract between the supervisor, which publishes it, and the
gateway, which reads it. Both hold it as the frozen dataclasses below: the supervisor
builds a ``RoutingTable`` and writes it (``write_routing_table``), the gateway loads the
file back into one (``RoutingTable.load``); the JSON between them is theirs alone::

    {"version": 1, "serial": 42,
     "services": {
       "svc_0123abcd": {"id": "svc_0123abcd", "name": "add-numbers",
         "enabled": true, "deployed": true, "state": "running", "message": "",
         "access_level": "project", "project_id": "prj_0123abcd",
         "mapping": [{"generation": "v2", "proba": 1.0}], "challenger": "v3",
         "collect_prediction_data": false, "association_id_field": "", "monitored": true,
         "instances": {"v2": [{"instance_id": "i-1", "host": "127.0.0.1", "port": 41234}]}}}}

``mapping`` says which generations get live traffic and with which probabilities;
``challenger`` names the generation that gets a copy of each call (or is null);
``instances`` lists the live instances of each generation. The gateway forwards only to
addresses listed here. ``collect_prediction_data`` and ``association_id_field`` say what
the query log keeps of each call; ``monitored``, that the supervisor reads the rows each
call scored from its bodies (drift), so the gateway passes them on even when the query log
does not keep them. ``association_columns`` (and ``association_required``) are what the
gateway tells a model service's instance in the ``X-Shipyard-Association-*`` headers, and
``warning_boundaries`` what it says in ``X-Shipyard-Warning-Boundaries``.
``access_level`` (``public``, ``instance`` or ``project``, the default when absent) and
``project_id`` say who may call the service. ``scaled_to_zero`` says that the service may
run no replica and has none healthy: the gateway then holds a call, asks for a replica
(``run/demand``) and forwards the call once the table lists one.

``serial`` numbers the tables the supervisor publishes, each one higher than the last
(0 when absent). The gateway tells it on the control plane's answers
(``X-Shipyard-Routes``), and a service's status says which serial first carried its route
as it stands (``routes_serial``): a client that sees the gateway at that serial or past it
knows the gateway serves what the status says, without sleeping on it.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.contracts.json_files import (
    json_list,
    json_object,
    read_json,
    write_json_atomically,
)
from shipyard.contracts.query_record import (
    ASSOCIATION_COLUMNS_HEADER,
    ASSOCIATION_REQUIRED_HEADER,
    WARNING_BOUNDARIES_HEADER,
)
from shipyard.iam.principals import ACCESS_LEVELS

__all__ = [
    "FORWARDED_PREFIX_HEADER",
    "INVOKE_PREFIX",
    "ROUTING_TABLE_VERSION",
    "ReplicaChooser",
    "RoutingTable",
    "RoutingTableError",
    "ServiceRoute",
    "Upstream",
    "write_routing_table",
]

INVOKE_PREFIX = "/user-services/invoke/"
"""Where the gateway mounts every service: ``/user-services/invoke/<id or name>/...``."""
FORWARDED_PREFIX_HEADER = "X-Forwarded-Prefix"

ROUTING_TABLE_VERSION = 1

ReplicaChooser = Callable[[tuple["Upstream", ...]], "Upstream | None"]
"""Picks the replica of a generation a call goes to (the gateway's ``Balancer.choose``)."""


class RoutingTableError(ValueError):
    """A routing table that cannot be used (unreadable, not JSON, wrong shape)."""


@dataclass(frozen=True)
class Upstream:
    """One live instance: where to forward."""

    instance_id: str
    host: str
    port: int

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @functools.cached_property
    def authority(self) -> bytes:
        """``host:port``, for a Host header."""
        return authority_of(self.address)

    def to_dict(self) -> dict[str, Any]:
        return {"instance_id": self.instance_id, "host": self.host, "port": self.port}

    @classmethod
    def from_dict(cls, data: Any) -> Upstream:
        raw = _mapping(data, "instance")
        port = raw.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise RoutingTableError(f"instance port must be 1-65535, got {port!r}")
        return cls(
            instance_id=_text(raw, "instance_id"), host=_text(raw, "host", required=True),
            port=port,
        )


@dataclass(frozen=True)
class ServiceRoute:
    """What the gateway knows of one service."""

    id: str
    name: str
    enabled: bool
    deployed: bool
    state: str
    message: str
    mapping: tuple[tuple[str, float], ...]
    instances: Mapping[str, tuple[Upstream, ...]]
    access_level: str = "project"
    project_id: str | None = None
    challenger: str | None = None
    collect_prediction_data: bool = False
    association_id_field: str = ""
    monitored: bool = False
    association_columns: tuple[str, ...] = ()
    association_required: bool = False
    warning_boundaries: str = ""
    """The ``X-Shipyard-Warning-Boundaries`` value for the instance; "" when the service
    flags no prediction."""
    scaled_to_zero: bool = False
    """The service may run no replica (``min_replicas`` 0) and has none healthy now (none
    for want of calls, or one on its way): the gateway holds a call until one is healthy,
    instead of refusing it."""
    # Cumulative weights over the mapped generations that have instances, and one
    # round-robin cycle per generation: derived once, so picking costs a few operations.
    _weights: tuple[tuple[float, str], ...] = field(init=False, repr=False, compare=False)
    _cycles: Mapping[str, Iterator[Upstream]] = field(init=False, repr=False, compare=False)
    instance_headers: bytes = field(init=False, repr=False, compare=False)
    """What the gateway adds to each request it forwards (and copies) to an instance."""

    def __post_init__(self) -> None:
        live = [(gen, proba) for gen, proba in self.mapping
                if proba > 0 and self.instances.get(gen)]
        total = sum(proba for _, proba in live)
        weights, running = [], 0.0
        for gen, proba in live:
            running += proba / total
            weights.append((running, gen))
        object.__setattr__(self, "_weights", tuple(weights))
        object.__setattr__(self, "instance_headers", _instance_headers(
            self.name, self.association_columns, self.association_required,
            self.warning_boundaries))
        object.__setattr__(self, "_cycles", {
            gen: itertools.cycle(upstreams) for gen, upstreams in self.instances.items()
            if upstreams
        })

    @property
    def live(self) -> bool:
        """Whether some mapped generation has an instance to forward to."""
        return bool(self._weights)

    def challenger_instance(
        self, generation: str,
        choose: ReplicaChooser | None = None,
    ) -> Upstream | None:
        """The challenger's instance to copy a call to (``choose``'s among its replicas,
        else the next one round-robin), unless ``generation`` (the one answering) is the
        challenger itself or the challenger has no instance."""
        challenger = self.challenger
        if challenger is None or challenger == generation or not self.mounted(challenger):
            return None
        if choose is None:
            return self.next_instance(challenger)
        return choose(self.instances[challenger])

    def mounted(self, generation: str) -> bool:
        """Whether ``generation`` has an instance to forward to."""
        return generation in self._cycles

    def next_instance(self, generation: str) -> Upstream:
        """The next instance of ``generation``, round-robin; it must be mounted."""
        return next(self._cycles[generation])

    def pick_generation(self, rng: random.Random) -> str | None:
        """A mapped generation with instances, drawn by the mapping's probabilities."""
        weights = self._weights
        if len(weights) <= 1:
            return weights[0][1] if weights else None
        draw = rng.random()
        for bound, generation in weights:
            if draw < bound:
                return generation
        return weights[-1][1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "enabled": self.enabled,
            "deployed": self.deployed, "state": self.state, "message": self.message,
            "access_level": self.access_level, "project_id": self.project_id,
            "mapping": [{"generation": gen, "proba": proba} for gen, proba in self.mapping],
            "challenger": self.challenger,
            "collect_prediction_data": self.collect_prediction_data,
            "association_id_field": self.association_id_field,
            "monitored": self.monitored,
            "association_columns": list(self.association_columns),
            "association_required": self.association_required,
            "warning_boundaries": self.warning_boundaries,
            "scaled_to_zero": self.scaled_to_zero,
            "instances": {gen: [upstream.to_dict() for upstream in upstreams]
                          for gen, upstreams in self.instances.items()},
        }

    @classmethod
    def from_dict(cls, key: str, data: Any) -> ServiceRoute:
        raw = _mapping(data, f"service {key!r}")
        mapping = []
        for entry in _list(raw.get("mapping", []), "mapping"):
            item = _mapping(entry, "mapping entry")
            proba = item.get("proba")
            if not isinstance(proba, int | float) or isinstance(proba, bool) or proba < 0:
                raise RoutingTableError(f"service {key!r}: proba must be a number >= 0")
            mapping.append((_text(item, "generation", required=True), float(proba)))
        instances = {
            str(generation): tuple(Upstream.from_dict(item) for item in _list(listed, "instances"))
            for generation, listed in _mapping(raw.get("instances", {}), "instances").items()
        }
        return cls(
            id=_text(raw, "id") or key,
            name=_text(raw, "name") or key,
            enabled=bool(raw.get("enabled", False)),
            deployed=bool(raw.get("deployed", False)),
            state=_text(raw, "state"),
            message=_text(raw, "message"),
            mapping=tuple(mapping),
            instances=instances,
            access_level=_access_level(raw.get("access_level", "project")),
            project_id=_text(raw, "project_id") or None,
            challenger=_text(raw, "challenger") or None,
            collect_prediction_data=bool(raw.get("collect_prediction_data", False)),
            association_id_field=_text(raw, "association_id_field"),
            monitored=bool(raw.get("monitored", False)),
            association_columns=tuple(
                str(column) for column in _list(raw.get("association_columns", []),
                                                "association_columns")),
            association_required=bool(raw.get("association_required", False)),
            warning_boundaries=_text(raw, "warning_boundaries"),
            scaled_to_zero=bool(raw.get("scaled_to_zero", False)),
        )


def _instance_headers(name: str, columns: tuple[str, ...], required: bool, boundaries: str
                      ) -> bytes:
    # Where the service is mounted, so that the URLs its app makes (redirects, the pages
    # of flasgger or Swagger UI it serves) lead back through the gateway; see
    # ``shipyard_sdk.runtime.wsgi``.
    head = f"{FORWARDED_PREFIX_HEADER}: {INVOKE_PREFIX}{name}\r\n"
    if columns:
        head += f"{ASSOCIATION_COLUMNS_HEADER}: {','.join(columns)}\r\n"
        if required:
            head += f"{ASSOCIATION_REQUIRED_HEADER}: true\r\n"
    if boundaries:
        head += f"{WARNING_BOUNDARIES_HEADER}: {boundaries}\r\n"
    return head.encode("latin-1")


@dataclass(frozen=True)
class RoutingTable:
    """Every service the gateway can route to, found by id or by name."""

    services: Mapping[str, ServiceRoute] = field(default_factory=dict)
    serial: int = field(default=0, compare=False)
    """Which publication this is; not part of what the table says (two tables with the
    same routes are equal whatever their serials)."""
    _by_name: Mapping[str, ServiceRoute] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {r.name: r for r in self.services.values()})

    def to_dict(self) -> dict[str, Any]:
        return {"version": ROUTING_TABLE_VERSION, "serial": self.serial,
                "services": {key: route.to_dict() for key, route in self.services.items()}}

    @classmethod
    def from_dict(cls, data: Any) -> RoutingTable:
        raw = _mapping(data, "routing table")
        if raw.get("version") != ROUTING_TABLE_VERSION:
            raise RoutingTableError(
                f"routing table version {raw.get('version')!r} is not {ROUTING_TABLE_VERSION}"
            )
        serial = raw.get("serial", 0)
        if isinstance(serial, bool) or not isinstance(serial, int) or serial < 0:
            raise RoutingTableError(f"serial must be a whole number from 0, got {serial!r}")
        services = {}
        for key, entry in _mapping(raw.get("services", {}), "services").items():
            route = ServiceRoute.from_dict(str(key), entry)
            services[route.id] = route
        return cls(services, serial)

    @classmethod
    def load(cls, path: Path | str) -> RoutingTable:
        """Read and check a published table; raises ``RoutingTableError``."""
        return cls.from_dict(read_json(path, "routing table", RoutingTableError))

    def lookup(self, ref: str) -> ServiceRoute | None:
        """The service with this id, else with this name."""
        return self.services.get(ref) or self._by_name.get(ref)

    def pick(
        self, route: ServiceRoute, rng: random.Random, generation: str | None = None,
        choose: ReplicaChooser | None = None,
    ) -> tuple[str, Upstream] | None:
        """A generation and one of its instances, or None when none can serve.

        Without ``generation``, one is drawn by the mapping's probabilities among the
        mapped generations that have instances; the instance is ``choose``'s among the
        generation's (the gateway's balancer), else the next one round-robin.
        """
        if generation is None:
            generation = route.pick_generation(rng)
            if generation is None:
                return None
        elif not route.mounted(generation):
            return None
        if choose is None:
            return generation, route.next_instance(generation)
        chosen = choose(route.instances[generation])
        return None if chosen is None else (generation, chosen)

    def addresses(self) -> set[tuple[str, int]]:
        """Every instance address in the table."""
        return {
            upstream.address
            for route in self.services.values()
            for upstreams in route.instances.values()
            for upstream in upstreams
        }


def authority_of(address: tuple[str, int]) -> bytes:
    host, port = address
    return (f"[{host}]:{port}" if ":" in host else f"{host}:{port}").encode()


def write_routing_table(path: Path | str, table: RoutingTable | Mapping[str, Any]) -> None:
    """Publish ``table`` at ``path`` atomically: a reader sees the old file or the new one.

    A table given as JSON-like data (a test's, a benchmark's) is checked first, so a
    malformed one fails here, at its writer.
    """
    if isinstance(table, RoutingTable):
        table = table.to_dict()
    else:
        RoutingTable.from_dict(table)
    write_json_atomically(path, table)


def _access_level(value: Any) -> str:
    if value not in ACCESS_LEVELS:
        raise RoutingTableError(f"access_level must be one of {ACCESS_LEVELS}, got {value!r}")
    return str(value)


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    return json_object(value, what, RoutingTableError)


def _list(value: Any, what: str) -> list[Any]:
    return json_list(value, what, RoutingTableError)


def _text(raw: Mapping[str, Any], key: str, required: bool = False) -> str:
    value = raw.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise RoutingTableError(f"{key} must be a string, got {value!r}")
    if required and not value:
        raise RoutingTableError(f"{key} must not be empty")
    return value
