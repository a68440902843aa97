"""The model registry: trained models, their versions, and model services made from them.

An uploaded model is stored as bytes with what it predicts from (feature names and types,
target, problem type, the packages that load it) and a sample of its training data kept as
the baseline for monitoring. The control plane never opens the model file: deploying one
renders the model-service template around it, and only the service's instances load it.

A model belongs to a project, as a service does: the project of its first upload, which
every later version stays in. Who may upload, read and deploy it is the API's to check
(``project_of`` says whose it is); the registry refuses a version meant for another
project.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.domain.deployments import Deployments, Generation
from shipyard.domain.model_details import (
    ModelDetails,
    baseline_ranges,
    checked_baseline,
)
from shipyard.domain.scaffold import (
    DEFAULT_TEMPLATES,
    ScaffoldValues,
    render_template,
)
from shipyard.domain.services import Service, ServiceRegistry, ServiceSpec
from shipyard.domain.validation import (
    validate_service_name,
)
from shipyard.errors import Conflict, InvalidInput, NotFound
from shipyard.store import ModelRow, ModelVersionRow, Store

__all__ = [
    "ModelDetails",
    "ModelRegistry",
    "ModelVersion",
    "find_model_version",
    "split_model_version",
]

MODEL_FILE = "model/model.joblib"
METADATA_FILE = "model/metadata.json"


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    created_at: datetime
    sha256: str
    size: int
    details: ModelDetails
    baseline_rows: int
    project_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version, "project_id": self.project_id,
            "created_at": self.created_at.isoformat(), "sha256": self.sha256,
            "size": self.size, **self.details.to_dict(), "baseline_rows": self.baseline_rows,
        }


class ModelRegistry:
    def __init__(
        self, store: Store, services: ServiceRegistry, deployments: Deployments,
        *, max_model_bytes: int,
    ) -> None:
        self.store = store
        self.services = services
        self.deployments = deployments
        self.max_model_bytes = max_model_bytes

    def upload(self, name: str, content: bytes, metadata: Mapping[str, Any],
               *, project_id: str | None = None) -> ModelVersion:
        """Store a new version of model ``name``, created in ``project_id`` on its first
        upload; a model of another project is a ``Conflict``."""
        name = validate_service_name(name)
        details = ModelDetails.parse(metadata)
        baseline = checked_baseline(metadata.get("baseline", []), details)
        if not content:
            raise InvalidInput("the model file is empty")
        if len(content) > self.max_model_bytes:
            raise InvalidInput(f"the model file is over {self.max_model_bytes} bytes")
        now = datetime.now(UTC)
        with self.store.writing() as session:
            model = _locked_model(session, name, project_id, now)
            if model.project_id != project_id:
                raise Conflict(f"model {name!r} belongs to another project; its versions "
                               "stay there (upload under another name)")
            last = session.scalar(
                select(func.max(ModelVersionRow.version))
                .where(ModelVersionRow.model_id == model.id)
            )
            row = ModelVersionRow(
                id="mv_" + uuid.uuid4().hex[:16], model_id=model.id, version=(last or 0) + 1,
                created_at=now, content=content, sha256=hashlib.sha256(content).hexdigest(),
                size=len(content), details=details.to_dict(), baseline=baseline,
            )
            session.add(row)
            return _version(model, row)

    def project_of(self, name: str) -> str | None:
        """The project model ``name`` belongs to (None: administrators' only), or
        ``NotFound``."""
        with self.store.reading() as session:
            return _model(session, name).project_id

    def list(self, projects: frozenset[str] | None = None) -> list[dict[str, Any]]:
        """Every model of ``projects`` (of all, for None), with its newest version."""
        query = (
            select(ModelRow.name, ModelRow.project_id, func.max(ModelVersionRow.version),
                   func.count())
            .join(ModelVersionRow, ModelVersionRow.model_id == ModelRow.id)
            .group_by(ModelRow.name, ModelRow.project_id).order_by(ModelRow.name)
        )
        if projects is not None:
            query = query.where(ModelRow.project_id.in_(sorted(projects)))
        with self.store.reading() as session:
            return [
                {"name": n, "project_id": p, "latest_version": v, "versions": c}
                for n, p, v, c in session.execute(query).all()
            ]

    def versions(self, name: str) -> list[ModelVersion]:
        with self.store.reading() as session:
            model = _model(session, name)
            rows = session.scalars(
                select(ModelVersionRow).where(ModelVersionRow.model_id == model.id)
                .order_by(ModelVersionRow.version)
            )
            return [_version(model, row) for row in rows]

    def get(self, name: str, version: int | None = None) -> ModelVersion:
        with self.store.reading() as session:
            row = _model_version(session, name, version)
            return _version(_model(session, name), row)

    def baseline(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        with self.store.reading() as session:
            return list(_model_version(session, name, version).baseline)

    def deploy(
        self, name: str, version: int | None = None, *, service: str | None = None,
        environment: str | None = None, project_id: str | None = None,
        authorize: Callable[[Service], None] | None = None,
    ) -> tuple[str, Generation]:
        """Create (or update) the model service for a model version and deploy it.

        A new service goes into project ``project_id``; an existing one is first passed to
        ``authorize``, which raises if the caller may not change it.
        """
        with self.store.reading() as session:
            row = _model_version(session, name, version)
            content, number = row.content, row.version
            details = ModelDetails.parse(row.details)
            ranges = baseline_ranges(details, row.baseline)
        service_name = validate_service_name(service or name)
        files = self._service_files(service_name, name, number, content, details, environment,
                                    ranges)
        try:
            existing = self.services.get(service_name)
        except NotFound:
            existing = None
        if existing is None:
            spec = ServiceSpec(
                name=service_name, kind="model", environment=environment,
                packages=details.packages, description=details.description,
            )
            self.services.create(spec, files, project_id=project_id)
        else:
            if authorize is not None:
                authorize(existing)
            if existing.kind != "model":
                raise Conflict(
                    f"service {service_name!r} is a {existing.kind} service, not a model service"
                )
            changes: dict[str, Any] = {"packages": list(details.packages)}
            if environment:
                changes["environment"] = environment
            self.services.update(service_name, changes)
            self.services.set_files(service_name, files)
        self.services.set_enabled(service_name, True)
        return service_name, self.deployments.deploy(
            service_name, model_version=f"{name}:{number}"
        )

    def _service_files(
        self, service_name: str, model_name: str, number: int, content: bytes,
        details: ModelDetails, environment: str | None, ranges: Mapping[str, Any],
    ) -> dict[str, bytes]:
        values = ScaffoldValues(
            name=service_name, kind="model",
            environment=self.services.environments.get(environment).name,
            packages=details.packages, description=details.description,
        )
        files = render_template(self.services.template_dir(DEFAULT_TEMPLATES["model"]), values)
        metadata = {
            "name": model_name, "version": str(number), "problem_type": details.problem_type,
            "target": details.target, "features": list(details.features), **ranges,
        }
        files[MODEL_FILE] = content
        files[METADATA_FILE] = json.dumps(metadata, indent=2).encode()
        return files


def split_model_version(ref: str) -> tuple[str, int]:
    """``iris:3`` (as generations record it) → ``("iris", 3)``; ``InvalidInput`` otherwise."""
    name, _, number = ref.rpartition(":")
    if not name or not number.isdigit() or int(number) < 1:
        raise InvalidInput(f"a model version is NAME:NUMBER, such as iris:3, not {ref!r}")
    return name, int(number)


def find_model_version(session: Session, name: str, version: int | None) -> ModelVersionRow:
    """The stored version ``version`` of model ``name`` (its newest for None), or
    ``NotFound``."""
    return _model_version(session, name, version)


def _model(session: Session, name: str) -> ModelRow:
    model = session.scalar(select(ModelRow).where(ModelRow.name == name))
    if model is None:
        raise NotFound(f"no model {name!r}")
    return model


def _model_version(session: Session, name: str, version: int | None) -> ModelVersionRow:
    model = _model(session, name)
    query = select(ModelVersionRow).where(ModelVersionRow.model_id == model.id)
    if version is None:
        query = query.order_by(ModelVersionRow.version.desc()).limit(1)
    else:
        query = query.where(ModelVersionRow.version == version)
    row = session.scalar(query)
    if row is None:
        raise NotFound(f"model {name!r} has no version {version}")
    return row


def _locked_model(session: Session, name: str, project_id: str | None, now: datetime
                  ) -> ModelRow:
    """Model ``name``, made in ``project_id`` by its first upload, locked until the
    transaction ends: two uploads of one model (on PostgreSQL, in two processes at once)
    then number their versions one after the other, as on SQLite. Two first uploads at
    once both find no model; the second's insert waits for the first's and clashes, so it
    takes the first's model (in a savepoint, which leaves its transaction usable)."""
    query = select(ModelRow).where(ModelRow.name == name).with_for_update()
    model = session.scalar(query)
    if model is not None:
        return model
    model = ModelRow(id="mdl_" + uuid.uuid4().hex[:16], name=name, created_at=now,
                     project_id=project_id)
    try:
        with session.begin_nested():
            session.add(model)
    except IntegrityError:
        return session.scalars(query).one()
    return model


def _version(model: ModelRow, row: ModelVersionRow) -> ModelVersion:
    return ModelVersion(
        name=model.name, version=row.version, created_at=row.created_at, sha256=row.sha256,
        size=row.size, details=ModelDetails.parse(row.details), baseline_rows=len(row.baseline),
        project_id=model.project_id,
    )
