"""Deploying: what the API records as desired state, and what it reads back.

``deploy`` snapshots a service's current files, packages and profile as a new immutable
generation and asks for it to serve; ``undeploy`` asks for nothing to serve. The
supervisor (``shipyard.supervisor``) owns builds and instances and brings the actual state
to the desired one; this module never starts a process.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.domain.archives import write_zip
from shipyard.domain.generation_refs import (
    generation_numbers,
    mapping_of,
    parse_tag,
    stored_mapping,
    tag_in,
    tag_of,
    tagged_mapping,
)
from shipyard.domain.service_interface import declared_interface
from shipyard.domain.service_secrets import sealed_secrets
from shipyard.domain.services import find_service
from shipyard.domain.states import BUILD_DONE, BuildState, ServiceState, set_service_state
from shipyard.errors import NotFound, ServiceDisabled
from shipyard.store import (
    BuildLogRow,
    GenerationRow,
    InstanceRow,
    ServiceFileRow,
    ServiceRow,
    Store,
)

__all__ = [
    "BuildState", "Deployments", "Generation", "GenerationDocument", "add_generation",
    "find_generation",
]

@dataclass(frozen=True)
class Generation:
    id: str
    service_id: str
    number: int
    created_at: datetime
    environment: str
    packages: tuple[str, ...]
    build_state: str
    build_error: str
    model_version: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    min_replicas: int | None = None
    max_replicas: int | None = None
    """Its own replica bounds; None where it has its service's."""
    replicas: int | None = None
    """The replicas it runs now (None before it first ran)."""

    @property
    def tag(self) -> str:
        return tag_of(self.number)

    @classmethod
    def from_row(cls, row: GenerationRow) -> Generation:
        return cls(
            id=row.id, service_id=row.service_id, number=row.number, created_at=row.created_at,
            environment=row.environment, packages=tuple(row.packages),
            build_state=row.build_state, build_error=row.build_error,
            model_version=row.model_version, env=dict(row.variables or {}),
            min_replicas=row.min_replicas, max_replicas=row.max_replicas,
            replicas=row.replicas,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "tag": self.tag, "build": self.number,
            "created_at": self.created_at.isoformat(), "environment": self.environment,
            "packages": list(self.packages), "build_state": self.build_state,
            "build_error": self.build_error, "model_version": self.model_version,
            "env": dict(self.env), "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas, "replicas": self.replicas,
        }


@dataclass(frozen=True)
class GenerationDocument:
    """A generation's stored OpenAPI document, and whose it is."""

    service_id: str
    service_name: str
    generation: str
    document: dict[str, Any]


class Deployments:
    def __init__(self, store: Store) -> None:
        self.store = store

    def deploy(self, ref: str, *, model_version: str | None = None) -> Generation:
        """Snapshot the service as a new generation and make it the one that should serve."""
        with self.store.writing() as session:
            service = find_service(session, ref)
            if not service.enabled:
                raise ServiceDisabled(
                    f"service {service.name!r} is disabled; enable it before deploying"
                )
            files = dict(session.execute(
                select(ServiceFileRow.path, ServiceFileRow.content)
                .where(ServiceFileRow.service_id == service.id)
            ).all())
            row = add_generation(
                session, service, files=files, environment=service.environment,
                packages=list(service.packages), model_version=model_version,
            )
            service.deployed = True
            service.target_generation_id = row.id
            service.mapping = stored_mapping([(row.id, 1.0)])
            set_service_state(service, ServiceState.BUILDING, f"building {tag_of(row.number)}")
            session.flush()
            return Generation.from_row(row)

    def undeploy(self, ref: str) -> None:
        with self.store.writing() as session:
            service = find_service(session, ref)
            service.deployed = False
            service.target_generation_id = None
            service.mapping = None
            service.challenger_generation_id = None
            service.updated_at = datetime.now(UTC)
            if service.state != ServiceState.STOPPED:
                set_service_state(service, ServiceState.STOPPING, "stopping its instances")

    def generations(self, ref: str) -> list[Generation]:
        with self.store.reading() as session:
            service = find_service(session, ref)
            rows = session.scalars(
                select(GenerationRow).where(GenerationRow.service_id == service.id)
                .order_by(GenerationRow.number)
            )
            return [Generation.from_row(row) for row in rows]

    def generation(self, ref: str, number: int) -> Generation:
        with self.store.reading() as session:
            return Generation.from_row(_generation(session, ref, number))

    def build_log(
        self, ref: str, number: int, after: int = 0
    ) -> tuple[list[tuple[int, str]], bool]:
        """Log lines numbered above ``after``, and whether the build has ended."""
        with self.store.reading() as session:
            generation = _generation(session, ref, number)
            lines = session.execute(
                select(BuildLogRow.seq, BuildLogRow.line)
                .where(BuildLogRow.generation_id == generation.id, BuildLogRow.seq > after)
                .order_by(BuildLogRow.seq)
            ).all()
            return list(lines), generation.build_state in BUILD_DONE

    def document(self, ref: str, generation: str | None = None) -> GenerationDocument:
        """The OpenAPI document of the live generation, or of ``generation`` (``v2``)."""
        number = None if generation is None else parse_tag(generation)
        with self.store.reading() as session:
            service = find_service(session, ref)
            if number is not None:
                row = _generation(session, ref, number)
            elif service.live_generation_id is None:
                raise NotFound(
                    f"service {service.name!r} has no live generation, so no document: "
                    "deploy it, or ask for a built one with ?generation=vN"
                )
            else:
                row = session.get_one(GenerationRow, service.live_generation_id)
            if row.openapi is None:
                raise NotFound(_no_document(service.name, row))
            return GenerationDocument(
                service_id=service.id, service_name=service.name,
                generation=tag_of(row.number), document=row.openapi,
            )

    def status(self, ref: str) -> dict[str, Any]:
        """What serves now, what should, and each instance with its health and usage."""
        with self.store.reading() as session:
            service = find_service(session, ref)
            numbers = generation_numbers(session, service.id)
            instances = session.scalars(
                select(InstanceRow).where(InstanceRow.service_id == service.id)
                .order_by(InstanceRow.started_at)
            )
            return {
                "live_generation": tag_in(numbers, service.live_generation_id),
                "target_generation": tag_in(numbers, service.target_generation_id),
                "mapping": tagged_mapping(numbers, service.live_mapping),
                "challenger": tag_in(numbers, service.challenger_generation_id),
                "routes_serial": service.routes_serial,
                "scaling": _scaling(session, service, numbers),
                "instances": [
                    {
                        "id": row.id,
                        "generation": tag_in(numbers, row.generation_id),
                        "state": row.state,
                        "address": _address(row.handle),
                        "restarts": row.restarts,
                        "last_error": row.last_error,
                        "cpu_percent": row.cpu_percent,
                        "memory_bytes": row.memory_bytes,
                    }
                    for row in instances
                ],
            }

    def serving(self, service_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """What serves each of ``service_ids`` now (its live generation and mapping), in
        two queries however many there are: for listings."""
        if not service_ids:
            return {}
        with self.store.reading() as session:
            numbers = dict(session.execute(
                select(GenerationRow.id, GenerationRow.number)
                .where(GenerationRow.service_id.in_(service_ids))
            ).all())
            rows = session.execute(
                select(ServiceRow.id, ServiceRow.live_generation_id, ServiceRow.live_mapping)
                .where(ServiceRow.id.in_(service_ids))
            ).all()
        return {
            service_id: {"live_generation": tag_in(numbers, live),
                         "mapping": tagged_mapping(numbers, mapping)}
            for service_id, live, mapping in rows
        }

    def instance_handles(self, ref: str) -> list[tuple[str, dict[str, Any]]]:
        """(generation tag, stored runner handle) of each started instance."""
        with self.store.reading() as session:
            service = find_service(session, ref)
            rows = session.execute(
                select(GenerationRow.number, InstanceRow.handle)
                .join(GenerationRow, GenerationRow.id == InstanceRow.generation_id)
                .where(InstanceRow.service_id == service.id, InstanceRow.handle.is_not(None))
            ).all()
            return [(tag_of(number), handle) for number, handle in rows]


def _scaling(session: Session, service: ServiceRow, numbers: Mapping[str, int]
             ) -> list[dict[str, Any]]:
    """The replicas each generation taking (or about to take) traffic runs, and the last
    decision about them (``supervisor.autoscaling``)."""
    wanted = {generation_id for generation_id, _ in
              [*mapping_of(service.live_mapping), *mapping_of(service.mapping)]}
    if service.challenger_generation_id:
        wanted.add(service.challenger_generation_id)
    rows = session.scalars(select(GenerationRow).where(
        GenerationRow.id.in_(wanted), GenerationRow.replicas.is_not(None),
    ).order_by(GenerationRow.number)) if wanted else []
    return [{"generation": tag_in(numbers, row.id), "replicas": row.replicas,
             "scaled_at": row.scaled_at.isoformat() if row.scaled_at else None,
             "reason": row.scaling_reason} for row in rows]


def add_generation(
    session: Session, service: ServiceRow, *, files: Mapping[str, bytes], environment: str,
    packages: list[str], model_version: str | None,
) -> GenerationRow:
    """A new generation of ``service`` holding ``files`` (as a code archive) and the
    service's environment variables and secrets (sealed) as they are now, pending its
    build, numbered after the last it ever made (a deleted generation's tag is not given
    again); a custom service's keeps the model interface its files declare, checked first
    (``InvalidInput``, and no generation)."""
    interface = declared_interface(files) if service.kind == "custom" else None
    service.last_generation_number += 1
    row = GenerationRow(
        id="gen_" + uuid.uuid4().hex[:16], service_id=service.id,
        number=service.last_generation_number, created_at=datetime.now(UTC), kind=service.kind,
        environment=environment, packages=packages, files=write_zip(files),
        variables=dict(service.variables) if service.variables else None,
        secrets=sealed_secrets(session, service.id),
        model_version=model_version, build_state=BuildState.PENDING, build_error="",
        artifact=None, interface=interface,
    )
    session.add(row)
    return row


def _generation(session: Session, ref: str, number: int) -> GenerationRow:
    """Build ``number`` of service ``ref``, or ``NotFound`` (the builds API's wording)."""
    service = find_service(session, ref)
    row = _numbered(session, service, number)
    if row is None:
        raise NotFound(f"service {service.name!r} has no build {number}")
    return row


def find_generation(session: Session, service: ServiceRow, number: int) -> GenerationRow:
    """Generation ``number`` of ``service``, or ``NotFound``."""
    row = _numbered(session, service, number)
    if row is None:
        raise NotFound(f"service {service.name!r} has no generation {tag_of(number)}")
    return row


def _numbered(session: Session, service: ServiceRow, number: int) -> GenerationRow | None:
    return session.scalar(
        select(GenerationRow).where(
            GenerationRow.service_id == service.id, GenerationRow.number == number
        )
    )


def _no_document(name: str, row: GenerationRow) -> str:
    tag = tag_of(row.number)
    if row.build_state in (BuildState.PENDING, BuildState.BUILDING):
        return f"{tag} of {name!r} is still building; its document comes with its build"
    if row.build_state == BuildState.FAILED:
        return f"the build of {tag} of {name!r} failed, so it has no document"
    return f"{tag} of {name!r} has no document: its build log says why"


def _address(handle: dict[str, Any] | None) -> str | None:
    return f"{handle['host']}:{handle['port']}" if handle else None
