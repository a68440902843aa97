"""Traffic between a service's generations: the mapping, switches, rollbacks, the
challenger, and deleting a generation that takes no part in them.

The API records what should be (``services.mapping``: generations and the share of live
traffic each should take; ``services.challenger_generation_id``); the supervisor mounts
what that needs and puts the mapping in force (``services.live_mapping``) only once every
generation in it has a healthy instance, so a change never sends a request to a
generation that cannot answer. A generation left with no share and no challenger role is
stopped after a drain period. A deleted generation's artifact is queued for the supervisor
to remove (``artifact_removals``). Nothing here starts or stops a process.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.domain.artifact_removals import queue_removal
from shipyard.domain.deployments import Generation, find_generation
from shipyard.domain.environments import EnvironmentCatalog
from shipyard.domain.generation_refs import (
    Shares,
    generation_numbers,
    main_generation,
    mapping_of,
    parse_tag,
    stored_mapping,
    tag_in,
    tag_of,
    tagged_mapping,
)
from shipyard.domain.replicas import validate_replicas
from shipyard.domain.services import find_service
from shipyard.domain.states import BUILD_UNDER_WAY, BuildState, ServiceState, set_service_state
from shipyard.errors import BuildFailed, Conflict, InvalidInput
from shipyard.store import GenerationRow, InstanceRow, ServiceRow, Store
from shipyard_runners import State

__all__ = ["MAPPING_TOLERANCE", "GenerationStanding", "Traffic", "parse_mapping"]

MAPPING_TOLERANCE = 1e-9


@dataclass(frozen=True)
class GenerationStanding:
    """A generation and where it stands in its service's traffic."""

    generation: Generation
    mounted: bool
    mapped: float
    """Share of live traffic in force now, 0 to 1."""
    desired: float
    """Share it should take once the desired mapping is in force."""
    challenger: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.generation.to_dict(), "mounted": self.mounted,
            "mapped_percent": round(self.mapped * 100, 6),
            "desired_percent": round(self.desired * 100, 6),
            "challenger": self.challenger,
        }


class Traffic:
    def __init__(self, store: Store, environments: EnvironmentCatalog | None = None) -> None:
        self.store = store
        self.environments = environments

    def set_replicas(self, ref: str, tag: str, changes: Mapping[str, Any]) -> GenerationStanding:
        """Set a generation's own ``min_replicas`` and ``max_replicas`` (None: its
        service's again), checked together with what it keeps and against its profile."""
        unknown = sorted(set(changes) - {"min_replicas", "max_replicas"})
        if unknown or not changes:
            raise InvalidInput(f"give min_replicas and/or max_replicas (a number, or null for "
                               f"the service's); unknown: {unknown}")
        number = parse_tag(tag)
        with self.store.writing() as session:
            service = find_service(session, ref)
            row = find_generation(session, service, number)
            own = {"min_replicas": row.min_replicas, "max_replicas": row.max_replicas, **changes}
            low = service.min_replicas if own["min_replicas"] is None else own["min_replicas"]
            high = service.max_replicas if own["max_replicas"] is None else own["max_replicas"]
            assert self.environments is not None, "Traffic needs the environments to scale"
            validate_replicas(low, high, self.environments.get(row.environment))
            row.min_replicas, row.max_replicas = own["min_replicas"], own["max_replicas"]
        return next(standing for standing in self.standings(ref)
                    if standing.generation.number == number)

    def standings(self, ref: str) -> list[GenerationStanding]:
        """Every generation of a service, oldest first, with its share and role."""
        with self.store.reading() as session:
            service = find_service(session, ref)
            rows = session.scalars(
                select(GenerationRow).where(GenerationRow.service_id == service.id)
                .order_by(GenerationRow.number)
            ).all()
            mounted = set(session.scalars(
                select(InstanceRow.generation_id).where(
                    InstanceRow.service_id == service.id,
                    InstanceRow.state == State.HEALTHY.value,
                )
            ))
            live = dict(mapping_of(service.live_mapping)) if service.deployed else {}
            desired = dict(mapping_of(service.mapping)) if service.deployed else {}
            return [
                GenerationStanding(
                    generation=Generation.from_row(row), mounted=row.id in mounted,
                    mapped=live.get(row.id, 0.0), desired=desired.get(row.id, 0.0),
                    challenger=row.id == service.challenger_generation_id,
                )
                for row in rows
            ]

    def mapping(self, ref: str) -> dict[str, Any]:
        """The mapping in force and the one asked for, by generation tag."""
        with self.store.reading() as session:
            service = find_service(session, ref)
            numbers = generation_numbers(session, service.id)
            return {
                "live": tagged_mapping(numbers, service.live_mapping),
                "desired": tagged_mapping(numbers, service.mapping),
                "challenger": tag_in(numbers, service.challenger_generation_id),
                "routes_serial": service.routes_serial,
            }

    def set_mapping(self, ref: str, body: Any) -> dict[str, Any]:
        """Ask for a new mapping (``entries`` with probabilities, or integer ``weights``)."""
        with self.store.writing() as session:
            service = _deployed(session, ref)
            built = _built(session, service.id)
            entries = parse_mapping(body, built)
            _ask_for(service, entries)
        return self.mapping(ref)

    def switch_to_newest(self, ref: str) -> Generation:
        """Ask for all traffic on the newest generation. One still waiting for its build
        takes the traffic once it is built and healthy; if its build fails, the mapping in
        force stays. A newest generation whose build already failed is refused."""
        with self.store.writing() as session:
            service = _deployed(session, ref)
            row = session.scalar(
                select(GenerationRow).where(GenerationRow.service_id == service.id)
                .order_by(GenerationRow.number.desc()).limit(1)
            )
            if row is None:
                raise Conflict(f"service {service.name!r} has no generation to switch to")
            tag = tag_of(row.number)
            if row.build_state == BuildState.FAILED:
                raise BuildFailed(
                    f"build of {service.name} {tag} failed: {row.build_error}"
                )
            _ask_for(service, [(row.id, 1.0)])
            if row.build_state != BuildState.SUCCEEDED:
                set_service_state(service, ServiceState.BUILDING,
                                  f"building {tag}, which is to take all traffic")
            return Generation.from_row(row)

    def rollback(self, ref: str, tag: str) -> Generation:
        """Ask for all traffic back on an earlier generation (rebuilt if its artifact is gone)."""
        number = parse_tag(tag)
        with self.store.writing() as session:
            service = _deployed(session, ref)
            row = find_generation(session, service, number)
            if row.build_state == BuildState.FAILED:
                raise Conflict(
                    f"{tag} of {service.name!r} failed to build, so it cannot serve: "
                    f"{row.build_error}"
                )
            _ask_for(service, [(row.id, 1.0)])
            return Generation.from_row(row)

    def delete_generation(self, ref: str, tag: str) -> None:
        """Delete a generation that neither serves nor challenges nor builds, and queue its
        artifact's removal (``artifact_removals``). Its calls stay in the query log."""
        number = parse_tag(tag)
        with self.store.writing() as session:
            service = find_service(session, ref)
            row = find_generation(session, service, number)
            _check_deletable(session, service, row)
            queue_removal(session, row, service.name)
            session.delete(row)

    def set_challenger(self, ref: str, tag: str | None) -> dict[str, Any]:
        """Name the generation that gets a copy of every request, or none (``None``)."""
        with self.store.writing() as session:
            service = find_service(session, ref)
            if tag is None:
                service.challenger_generation_id = None
            else:
                if not service.deployed:
                    raise Conflict(
                        f"service {service.name!r} is not deployed; deploy it before naming "
                        "a challenger"
                    )
                row = find_generation(session, service, parse_tag(tag))
                if row.build_state != BuildState.SUCCEEDED:
                    raise Conflict(
                        f"{tag} of {service.name!r} has not built (its build is "
                        f"{row.build_state}); only a built generation can be a challenger"
                    )
                service.challenger_generation_id = row.id
            service.updated_at = datetime.now(UTC)
        return self.mapping(ref)


def parse_mapping(body: Any, built: Mapping[str, str]) -> Shares:
    """Check a mapping and return it as (generation id, proba) pairs.

    ``body`` is ``{"entries": [{"generation": "v1", "proba": 0.5}, ...]}``, probabilities
    summing to 1, or ``{"weights": {"v1": 25, "v2": 75}}``, non-negative integers that are
    normalized. ``built`` maps the tags of built generations to their ids.
    """
    if not isinstance(body, Mapping):
        raise InvalidInput('a mapping is a JSON object with "entries" or "weights"')
    unknown = sorted(set(body) - {"entries", "weights"})
    if unknown or ("entries" in body) == ("weights" in body):
        raise InvalidInput(
            'a mapping has exactly one of "entries" (probabilities) or "weights" '
            f"(integers){f'; unknown: {unknown}' if unknown else ''}"
        )
    pairs = _weights(body["weights"]) if "weights" in body else _entries_of(body["entries"])
    seen: set[str] = set()
    result: Shares = []
    for tag, proba in pairs:
        if tag in seen:
            raise InvalidInput(f"generation {tag!r} appears twice in the mapping")
        seen.add(tag)
        if tag not in built:
            raise InvalidInput(
                f"generation {tag!r} is not a built generation of this service "
                f"(built: {', '.join(built) or 'none'})"
            )
        result.append((built[tag], proba))
    return result


def _ask_for(service: ServiceRow, pairs: Shares) -> None:
    service.mapping = stored_mapping(pairs)
    service.target_generation_id = main_generation(pairs)
    if service.mapping != service.live_mapping:
        set_service_state(service, ServiceState.SWITCHING, "putting the new mapping in force")
    service.updated_at = datetime.now(UTC)


def _check_deletable(session: Session, service: ServiceRow, row: GenerationRow) -> None:
    """Refuse (``Conflict``) to delete a generation that is, or is about to be, in use."""
    name = f"{tag_of(row.number)} of {service.name!r}"
    for mapping, which in ((service.live_mapping, "in force"), (service.mapping, "asked for")):
        if row.id in dict(mapping_of(mapping)):
            raise Conflict(
                f"{name} is in the mapping {which}; map its traffic to other generations "
                "before deleting it"
            )
    if row.id == service.challenger_generation_id:
        raise Conflict(f"{name} is the challenger; unset the challenger before deleting it")
    if row.build_state in BUILD_UNDER_WAY:
        raise Conflict(f"{name} is building; delete it once its build has ended")
    if session.scalar(
        select(InstanceRow.id).where(InstanceRow.generation_id == row.id).limit(1)
    ) is not None:
        raise Conflict(
            f"{name} still has instances, which stop within seconds of leaving the "
            "mapping; try again then"
        )


def _entries_of(raw: Any) -> list[tuple[str, float]]:
    if not isinstance(raw, list) or not raw:
        raise InvalidInput('"entries" must be a non-empty list')
    pairs = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, Mapping) or set(entry) != {"generation", "proba"}:
            raise InvalidInput(
                f'entry {index} must be an object with "generation" and "proba" only'
            )
        tag, proba = entry["generation"], entry["proba"]
        if not isinstance(tag, str):
            raise InvalidInput(f"entry {index}: generation must be a tag such as v2")
        if (not isinstance(proba, int | float) or isinstance(proba, bool)
                or not math.isfinite(proba) or not 0 <= proba <= 1):
            raise InvalidInput(f"entry {index}: proba must be a number from 0 to 1")
        pairs.append((tag, float(proba)))
    total = math.fsum(proba for _, proba in pairs)
    if abs(total - 1.0) > MAPPING_TOLERANCE:
        raise InvalidInput(f"the probabilities must sum to 1, not {total!r}")
    return pairs


def _weights(raw: Any) -> list[tuple[str, float]]:
    if not isinstance(raw, Mapping) or not raw:
        raise InvalidInput('"weights" must be a non-empty object of generation: integer')
    for tag, weight in raw.items():
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
            raise InvalidInput(f"the weight of {tag!r} must be a non-negative integer")
    total = sum(raw.values())
    if total == 0:
        raise InvalidInput("the weights must not all be 0")
    return [(str(tag), weight / total) for tag, weight in raw.items()]


def _deployed(session: Session, ref: str) -> ServiceRow:
    service = find_service(session, ref)
    if not service.deployed:
        raise Conflict(f"service {service.name!r} is not deployed; deploy it first")
    return service


def _built(session: Session, service_id: str) -> dict[str, str]:
    rows = session.execute(
        select(GenerationRow.number, GenerationRow.id).where(
            GenerationRow.service_id == service_id,
            GenerationRow.build_state == BuildState.SUCCEEDED,
        ).order_by(GenerationRow.number)
    ).all()
    return {tag_of(number): generation_id for number, generation_id in rows}

