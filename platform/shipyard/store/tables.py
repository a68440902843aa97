"""The tables of the registry. Changing them needs a migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shipyard.contracts.query_record import QUERY_COLUMNS, QueryColumn

__all__ = [
    "ArtifactRemovalRow",
    "Base",
    "BuildLogRow",
    "GenerationRow",
    "InstanceRow",
    "ModelReplacementRow",
    "ModelRow",
    "ModelVersionRow",
    "QueryLogRow",
    "ServiceFileRow",
    "ServiceRow",
]


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite stores none)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class ServiceRow(Base):
    __tablename__ = "services"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    template: Mapped[str] = mapped_column(Text, nullable=False)
    environment: Mapped[str] = mapped_column(String(32), nullable=False)
    packages: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    access_level: Mapped[str] = mapped_column(String(16), nullable=False, default="project")
    project_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    # The runner that builds and runs it; "" for the installation's (settings.runner).
    runner: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    deployed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Desired: the generation that should serve. Actual: the one serving now.
    target_generation_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    live_generation_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="stopped")
    status_message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # Traffic, desired and in force: [{"generation_id": ..., "proba": ...}, ...]. The
    # supervisor puts the desired mapping in force once all its generations are healthy.
    mapping: Mapped[list | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    live_mapping: Mapped[list | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    challenger_generation_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Query logs: whether bodies are kept, and the JSON field naming an association id.
    collect_prediction_data: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    association_id_field: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    # The health thresholds it sets (``shipyard.stats.health``); None: the defaults.
    health_thresholds: Mapped[dict | None] = mapped_column(
        JSON(none_as_null=True), nullable=True
    )
    # Its monitoring settings (``shipyard.domain.monitoring``) as set; None: the defaults.
    monitoring: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    # The number of the newest generation it ever made: a deleted tag is never given again.
    last_generation_number: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The serial of the first routing table that carried its route as it now stands: the
    # gateway serves its mapping once it has loaded that table (``supervisor.routing``).
    routes_serial: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # Its environment variables as set (``shipyard.domain.service_variables``); None: none.
    variables: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    # The replicas each of its generations runs (``shipyard.domain.replicas``), and the
    # calls in flight per replica the autoscaler aims at.
    min_replicas: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    max_replicas: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    target_concurrency: Mapped[float] = mapped_column(Float, nullable=False, default=2.0)


class ServiceFileRow(Base):
    __tablename__ = "service_files"

    service_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)


class ServiceSecretRow(Base):
    """One secret of a service, sealed with the server key (``shipyard.iam.vault``)."""

    __tablename__ = "service_secrets"

    service_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    sealed: Mapped[str] = mapped_column(Text, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class GenerationRow(Base):
    """An immutable snapshot of a service, and the state of its one build."""

    __tablename__ = "generations"
    __table_args__ = (UniqueConstraint("service_id", "number"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    service_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("services.id", ondelete="CASCADE"), nullable=False, index=True
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    environment: Mapped[str] = mapped_column(String(32), nullable=False)
    packages: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    files: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    # The service's environment variables when it was made; None: none.
    variables: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    # Its secrets when it was made, still sealed (name: Fernet token); None: none.
    secrets: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    build_state: Mapped[str] = mapped_column(String(16), nullable=False)
    build_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    artifact: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    build_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Times its build was started: more than one when a crash cut a build short.
    build_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    build_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The OpenAPI document its build made from the app's routes (without ``servers``).
    openapi: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    # A custom service's declared model interface (``shipyard.domain.service_interface``).
    interface: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    # Its own bounds on its replicas (None: its service's), the replicas it runs now
    # (None until it first runs), and the autoscaler's last decision about them.
    min_replicas: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_replicas: Mapped[int | None] = mapped_column(Integer, nullable=True)
    replicas: Mapped[int | None] = mapped_column(Integer, nullable=True)
    scaled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    scaling_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")


class ArtifactRemovalRow(Base):
    """The artifact of a deleted generation (or of a deleted service's generation), queued
    in the transaction that deleted it, until the supervisor has removed it from its
    runner."""

    __tablename__ = "artifact_removals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    artifact: Mapped[dict] = mapped_column(JSON, nullable=False)
    # Whose it was, for the log: "add-numbers v2".
    generation: Mapped[str] = mapped_column(Text, nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")


class BuildLogRow(Base):
    __tablename__ = "build_log_lines"

    generation_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("generations.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[float] = mapped_column(Float, nullable=False)
    line: Mapped[str] = mapped_column(Text, nullable=False)


class InstanceRow(Base):
    """A running (or restarting) replica, as the supervisor last saw it."""

    __tablename__ = "instances"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("services.id", ondelete="CASCADE"), nullable=False, index=True
    )
    generation_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("generations.id", ondelete="CASCADE"), nullable=False
    )
    handle: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    restarts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_start_at: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    started_at: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    healthy_since: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    cpu_percent: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    memory_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class ModelRow(Base):
    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Its collaborators are this project's members; none: administrators only.
    project_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)


class ModelVersionRow(Base):
    """One uploaded model file with what it predicts from; never opened by the control
    plane, only by the service instances that serve it."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("models.id", ondelete="CASCADE"), nullable=False, index=True
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    # features, target, problem_type, packages, description
    details: Mapped[dict] = mapped_column(JSON, nullable=False)
    baseline: Mapped[list] = mapped_column(JSON, nullable=False)


def _query_log_column(column: QueryColumn) -> Column[Any]:
    kind: Any
    if column.kind in ("text", "body", "encoding"):
        kind = String(column.length) if column.length else Text
    else:
        kind = {"time": UTCDateTime, "integer": Integer, "number": Float}[column.kind]
        if column.name.endswith("_bytes"):
            kind = BigInteger  # a body of over 2 GiB overflows 32 bits
    return Column(column.name, kind, nullable=not column.required, default=column.default,
                  index=column.indexed)


class QueryLogRow(Base):
    """One call through the gateway, and what its challenger answered: the columns of
    the contract's ``QUERY_COLUMNS``, after an id. Services may be deleted; their calls
    stay on record."""

    __table__ = Table(
        "query_log", Base.metadata,
        # 64-bit: a busy log passes 2**31 calls; on SQLite an INTEGER primary key (the
        # rowid) is 64-bit already, and only that type makes it the rowid.
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
               autoincrement=True),
        *(_query_log_column(column) for column in QUERY_COLUMNS),
        Index("ix_query_log_service_at", "service_id", "at"),
    )


class ModelReplacementRow(Base):
    """A request to replace a model service's model version, its validation and outcome."""

    __tablename__ = "model_replacements"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    service_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("services.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    from_model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_model_version: Mapped[str] = mapped_column(String(64), nullable=False)
    generation_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # {"status": "passing|warning|failing", "checks": [{"name", "status", "message"}]}
    validation: Mapped[dict] = mapped_column(JSON, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
