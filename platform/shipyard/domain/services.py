"""The service registry: create, read, change and delete services and their files.

Plain domain code: it takes its store and catalogues as arguments, validates everything
before it writes, and raises typed errors. Every change is one transaction, so a bad
request leaves the registry exactly as it was.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.domain.archives import read_archive, write_zip
from shipyard.domain.artifact_removals import queue_removal
from shipyard.domain.environments import EnvironmentCatalog
from shipyard.domain.generation_refs import tag_of
from shipyard.domain.replicas import validate_replicas, validate_target_concurrency
from shipyard.domain.scaffold import (
    DEFAULT_PACKAGES,
    DEFAULT_TEMPLATES,
    KINDS,
    ScaffoldValues,
    render_template,
)
from shipyard.domain.service_filters import ServiceFilter
from shipyard.domain.service_values import (
    Service,
    ServiceFile,
    ServiceSpec,
    validate_access_level,
    validate_runner,
)
from shipyard.domain.service_variables import checked_variables
from shipyard.domain.states import BUILD_UNDER_WAY, ServiceState
from shipyard.domain.validation import (
    validate_association_id_field,
    validate_description,
    validate_file_tree,
    validate_flag,
    validate_package_list,
    validate_relative_path,
    validate_service_name,
)
from shipyard.errors import Conflict, InvalidInput, InvalidTemplate, NotFound, PayloadTooLarge
from shipyard.resources import templates_root
from shipyard.stats.health import service_health
from shipyard.stats.health_thresholds import patched_overrides
from shipyard.stats.monitoring_health import monitoring_health
from shipyard.stats.monitoring_settings import patched_monitoring
from shipyard.store import (
    GenerationRow,
    InstanceRow,
    ServiceFileRow,
    ServiceRow,
    ServiceSecretRow,
    Store,
    is_writing,
)

__all__ = ["Service", "ServiceFile", "ServiceRegistry", "ServiceSpec", "find_service"]

# The values this registry takes and gives live in ``service_values``; they are named
# here too, where callers have always found them.

_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ID_PREFIX = "svc_"
_EDITABLE = (
    "name", "description", "environment", "packages", "access_level", "runner",
    "collect_prediction_data", "association_id_field", "health_thresholds", "monitoring",
    "env", "min_replicas", "max_replicas", "target_concurrency",
)


class ServiceRegistry:
    def __init__(
        self,
        store: Store,
        environments: EnvironmentCatalog,
        *,
        extra_templates: Path | None = None,
        max_files_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.store = store
        self.environments = environments
        self.extra_templates = extra_templates
        self.max_files_bytes = max_files_bytes

    # -- services -------------------------------------------------------------------

    def create(
        self,
        spec: ServiceSpec,
        files: Mapping[str, bytes] | None = None,
        *,
        project_id: str | None = None,
    ) -> Service:
        """Register a new, disabled and undeployed service in project ``project_id``.

        Its files are ``files`` when given (an upload), else its template rendered.
        """
        name = validate_service_name(spec.name)
        if spec.kind not in KINDS:
            raise InvalidInput(f"unknown kind {spec.kind!r}; known: {', '.join(KINDS)}")
        profile = self.environments.get(spec.environment)
        environment = profile.name
        min_replicas, max_replicas = validate_replicas(spec.min_replicas, spec.max_replicas,
                                                       profile)
        target_concurrency = validate_target_concurrency(spec.target_concurrency)
        packages = validate_package_list(spec.packages or DEFAULT_PACKAGES[spec.kind])
        description = validate_description(spec.description)
        access_level = validate_access_level(spec.access_level)
        runner = validate_runner(spec.runner)
        collect = validate_flag(spec.collect_prediction_data, "collect_prediction_data")
        association_field = validate_association_id_field(spec.association_id_field)
        thresholds = patched_overrides(None, spec.health_thresholds)
        monitoring = patched_monitoring(None, spec.monitoring)
        variables = checked_variables(spec.env) or None
        template = spec.template or DEFAULT_TEMPLATES[spec.kind]
        if files is None:
            values = ScaffoldValues(
                name=name, kind=spec.kind, environment=environment,
                packages=tuple(packages), description=description,
            )
            files = render_template(self.template_dir(template), values)
        checked = self._checked_files(files)
        now = _now()
        row = ServiceRow(
            id=_new_id(), name=name, kind=spec.kind, template=template,
            environment=environment, packages=packages, description=description,
            access_level=access_level, project_id=project_id, runner=runner,
            collect_prediction_data=collect, association_id_field=association_field,
            health_thresholds=thresholds, monitoring=monitoring, variables=variables,
            min_replicas=min_replicas, max_replicas=max_replicas,
            target_concurrency=target_concurrency, enabled=False, deployed=False,
            last_generation_number=0,
            state=ServiceState.STOPPED, status_message="",
            created_at=now, updated_at=now,
        )
        try:
            with self.store.writing() as session:
                if session.scalar(select(ServiceRow.id).where(ServiceRow.name == name)):
                    raise Conflict(f"a service named {name!r} already exists")
                session.add(row)
                session.flush()
                _put_files(session, row.id, checked)
                return Service.from_row(row)
        except IntegrityError as exc:
            raise Conflict(f"a service named {name!r} already exists") from exc

    def list(
        self, filters: ServiceFilter | None = None, *, now: datetime | None = None
    ) -> list[Service]:
        """The services ``filters`` selects (all of them, by name, for None), each with
        its health, drift health and accuracy health at ``now`` (default: now)."""
        filters = filters or ServiceFilter()
        with self.store.reading() as session:
            rows = list(session.scalars(filters.apply(select(ServiceRow))))
            health = service_health(session, rows, now)
            found = [Service.from_row(row, health=health[row.id]) for row in rows]
        found = self._with_monitoring_health(found, now)
        return [service for service in found if filters.keeps(service)]

    def get(
        self, ref: str, *, with_health: bool = False, now: datetime | None = None
    ) -> Service:
        """The service ``ref`` (an id or a name); ``with_health``, with its health, drift
        health and accuracy health at ``now`` (default: now)."""
        with self.store.reading() as session:
            row = find_service(session, ref)
            health = service_health(session, [row], now)[row.id] if with_health else None
            service = Service.from_row(row, health=health)
        if not with_health:
            return service
        return self._with_monitoring_health([service], now)[0]

    def _with_monitoring_health(
        self, found: list[Service], now: datetime | None
    ) -> list[Service]:
        """``found`` with their drift and accuracy health (read after the registry's own
        transaction: each question reads in its own)."""
        answers = monitoring_health(self.store, found, now)
        return [replace(service, drift_health=answers[service.id][0],
                        accuracy_health=answers[service.id][1]) for service in found]

    def update(self, ref: str, changes: Mapping[str, Any]) -> Service:
        """Change the editable fields; kind and template are fixed at creation."""
        fixed = sorted(set(changes) & {"id", "kind", "template", "enabled", "deployed"})
        if fixed:
            raise InvalidInput(f"fields {fixed} cannot be changed this way")
        unknown = sorted(set(changes) - set(_EDITABLE))
        if unknown:
            raise InvalidInput(f"unknown fields {unknown}; editable: {list(_EDITABLE)}")
        values = self._validated_changes(changes)
        try:
            with self.store.writing() as session:
                row = find_service(session, ref)
                new_name = values.get("name")
                if new_name and new_name != row.name and session.scalar(
                    select(ServiceRow.id).where(ServiceRow.name == new_name)
                ):
                    raise Conflict(f"a service named {new_name!r} already exists")
                if "health_thresholds" in changes:
                    # Merged over the stored ones, so checked once they are read.
                    values["health_thresholds"] = patched_overrides(
                        row.health_thresholds, changes["health_thresholds"]
                    )
                if "monitoring" in changes:
                    values["monitoring"] = patched_monitoring(row.monitoring,
                                                              changes["monitoring"])
                if values.get("variables"):  # read the secrets' names only then
                    _refuse_secret_names(session, row, values["variables"])
                if {"min_replicas", "max_replicas", "environment"} & set(changes):
                    # Checked together, over the stored ones the change leaves as they are.
                    values["min_replicas"], values["max_replicas"] = validate_replicas(
                        changes.get("min_replicas", row.min_replicas),
                        changes.get("max_replicas", row.max_replicas),
                        self.environments.get(values.get("environment", row.environment)),
                    )
                for key, value in values.items():
                    setattr(row, key, value)
                row.updated_at = _now()
                return Service.from_row(row)
        except IntegrityError as exc:
            raise Conflict(f"a service named {changes.get('name')!r} already exists") from exc

    def variables(self, ref: str) -> dict[str, str]:
        """The environment variables its next generation will have."""
        with self.store.reading() as session:
            return dict(find_service(session, ref).variables or {})

    def set_variables(self, ref: str, variables: Any) -> dict[str, str]:
        """Replace its environment variables (checked whole: a problem changes nothing);
        they go into the next generation deployed, as its files and packages do."""
        checked = checked_variables(variables)
        with self.store.writing() as session:
            row = find_service(session, ref)
            _refuse_secret_names(session, row, checked)
            row.variables = checked or None
            row.updated_at = _now()
        return checked

    def delete(self, ref: str) -> None:
        """Delete an undeployed service whose instances have stopped and whose builds have
        ended, with its files and generations; their artifacts are queued for removal
        (``artifact_removals``). Its calls stay in the query log."""
        with self.store.writing() as session:
            row = find_service(session, ref)
            if row.deployed:
                raise Conflict(f"service {row.name!r} is deployed; undeploy it first")
            if session.scalar(
                select(InstanceRow.id).where(InstanceRow.service_id == row.id).limit(1)
            ) is not None:
                raise Conflict(
                    f"service {row.name!r} is still stopping its instances; try again "
                    "once it is stopped"
                )
            generations = session.scalars(
                select(GenerationRow).where(GenerationRow.service_id == row.id)
            ).all()
            building = [g for g in generations if g.build_state in BUILD_UNDER_WAY]
            if building:
                raise Conflict(
                    f"service {row.name!r} has a build under way ({tag_of(building[0].number)}); "
                    "delete it once the build has ended"
                )
            for generation in generations:
                queue_removal(session, generation, row.name)
            session.delete(row)

    def set_enabled(self, ref: str, enabled: bool) -> Service:
        with self.store.writing() as session:
            row = find_service(session, ref)
            row.enabled = enabled
            row.updated_at = _now()
            return Service.from_row(row)

    # -- files ----------------------------------------------------------------------

    def list_files(self, ref: str) -> list[ServiceFile]:
        with self.store.reading() as session:
            service_id = find_service(session, ref).id
            rows = session.execute(
                select(ServiceFileRow.path, ServiceFileRow.size, ServiceFileRow.sha256)
                .where(ServiceFileRow.service_id == service_id)
                .order_by(ServiceFileRow.path)
            )
            return [ServiceFile(path, size, digest) for path, size, digest in rows]

    def read_file(self, ref: str, path: str) -> bytes:
        path = validate_relative_path(path)
        with self.store.reading() as session:
            row = find_service(session, ref)
            content = session.scalar(
                select(ServiceFileRow.content).where(
                    ServiceFileRow.service_id == row.id, ServiceFileRow.path == path
                )
            )
            if content is None:
                raise NotFound(f"service {row.name!r} has no file {path!r}")
            return content

    def read_all_files(self, ref: str) -> dict[str, bytes]:
        with self.store.reading() as session:
            return _files_of(session, find_service(session, ref).id)

    def write_file(self, ref: str, path: str, content: bytes) -> ServiceFile:
        path = validate_relative_path(path)
        with self.store.writing() as session:
            row = find_service(session, ref)
            files = _files_of(session, row.id)
            files[path] = content
            self._checked_files(files)
            session.execute(
                delete(ServiceFileRow).where(
                    ServiceFileRow.service_id == row.id, ServiceFileRow.path == path
                )
            )
            _put_files(session, row.id, {path: content})
            row.updated_at = _now()
            return _describe(path, content)

    def delete_file(self, ref: str, path: str) -> None:
        path = validate_relative_path(path)
        with self.store.writing() as session:
            row = find_service(session, ref)
            result = session.execute(
                delete(ServiceFileRow).where(
                    ServiceFileRow.service_id == row.id, ServiceFileRow.path == path
                )
            )
            if result.rowcount == 0:
                raise NotFound(f"service {row.name!r} has no file {path!r}")
            row.updated_at = _now()

    def replace_files(self, ref: str, archive: bytes) -> list[ServiceFile]:
        """Replace all of a service's files with an archive's (zip or tar.gz), atomically."""
        return self.set_files(ref, read_archive(archive, max_total_bytes=self.max_files_bytes))

    def set_files(self, ref: str, files: Mapping[str, bytes]) -> list[ServiceFile]:
        """Replace all of a service's files, atomically."""
        files = self._checked_files(files)
        with self.store.writing() as session:
            row = find_service(session, ref)
            session.execute(delete(ServiceFileRow).where(ServiceFileRow.service_id == row.id))
            _put_files(session, row.id, files)
            row.updated_at = _now()
        return [_describe(path, files[path]) for path in sorted(files)]

    def archive(self, ref: str) -> bytes:
        return write_zip(self.read_all_files(ref))

    # -- helpers --------------------------------------------------------------------

    def template_dir(self, template: str) -> Path:
        """A template folder by name: the configured extra folder first, then the bundled."""
        if not _TEMPLATE_NAME.match(template):
            raise InvalidTemplate(f"template {template!r} is not a template name")
        roots = [r for r in (self.extra_templates, templates_root()) if r is not None]
        for root in roots:
            candidate = root / template
            if candidate.is_dir():
                return candidate
        known = sorted({p.name for r in roots if r.is_dir() for p in r.iterdir() if p.is_dir()})
        raise InvalidTemplate(f"unknown template {template!r}; known: {', '.join(known)}")

    def _validated_changes(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if "name" in changes:
            values["name"] = validate_service_name(str(changes["name"]))
        if "description" in changes:
            values["description"] = validate_description(changes["description"])
        if "environment" in changes:
            values["environment"] = self.environments.get(str(changes["environment"])).name
        if "packages" in changes:
            values["packages"] = validate_package_list(changes["packages"])
        if "access_level" in changes:
            values["access_level"] = validate_access_level(changes["access_level"])
        if "runner" in changes:
            values["runner"] = validate_runner(changes["runner"])
        if "collect_prediction_data" in changes:
            values["collect_prediction_data"] = validate_flag(
                changes["collect_prediction_data"], "collect_prediction_data"
            )
        if "association_id_field" in changes:
            values["association_id_field"] = validate_association_id_field(
                changes["association_id_field"]
            )
        if "target_concurrency" in changes:
            values["target_concurrency"] = validate_target_concurrency(
                changes["target_concurrency"])
        if "env" in changes:  # the whole map: what it does not name is unset
            values["variables"] = checked_variables(changes["env"]) or None
        return values

    def _checked_files(self, files: Mapping[str, bytes]) -> dict[str, bytes]:
        checked = validate_file_tree(files)
        total = sum(len(content) for content in checked.values())
        if total > self.max_files_bytes:
            raise PayloadTooLarge(
                f"service files total {total} bytes, over the limit of {self.max_files_bytes}"
            )
        return checked


def _refuse_secret_names(session: Session, row: ServiceRow, variables: Mapping[str, str]
                         ) -> None:
    secrets = set(session.scalars(select(ServiceSecretRow.name).where(
        ServiceSecretRow.service_id == row.id)))
    both = sorted(secrets & set(variables))
    if both:
        raise InvalidInput(f"{row.name} has secret(s) named {', '.join(both)}: a name is a "
                           "variable or a secret, not both")


def find_service(session: Session, ref: str) -> ServiceRow:
    """The service row with id or name ``ref``, or ``NotFound``.

    In a write session the row is locked until the transaction ends (``FOR UPDATE``): a
    change reads the service to write it back (its generation counter, its mapping, its
    variables), and on PostgreSQL another process may change it in between, where
    SQLite's single writer rules that out. So the changes of one service take turns, as
    they do on SQLite, and each reads what the one before it wrote."""
    if "\x00" in ref:  # no name holds one, and PostgreSQL refuses to look one up
        raise NotFound(f"no service {ref!r}")
    column = ServiceRow.id if ref.startswith(_ID_PREFIX) else ServiceRow.name
    query = select(ServiceRow).where(column == ref)
    if is_writing(session):
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise NotFound(f"no service {ref!r}")
    return row


def _files_of(session: Session, service_id: str) -> dict[str, bytes]:
    rows = session.execute(
        select(ServiceFileRow.path, ServiceFileRow.content).where(
            ServiceFileRow.service_id == service_id
        )
    )
    return {path: content for path, content in rows}


def _put_files(session: Session, service_id: str, files: Mapping[str, bytes]) -> None:
    for path, content in files.items():
        described = _describe(path, content)
        session.add(ServiceFileRow(
            service_id=service_id, path=path, content=content,
            size=described.size, sha256=described.sha256,
        ))


def _describe(path: str, content: bytes) -> ServiceFile:
    return ServiceFile(path, len(content), hashlib.sha256(content).hexdigest())


def _new_id() -> str:
    return _ID_PREFIX + uuid.uuid4().hex[:16]


def _now() -> datetime:
    return datetime.now(UTC)

