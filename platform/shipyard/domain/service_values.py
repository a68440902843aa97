"""The values the service registry takes and gives: a service as the API shows it
(``Service``), one of its files (``ServiceFile``), and what creating one asks for
(``ServiceSpec``, checked as it is read), with the checks of a runner name and an access
level they share with the registry's updates. A service shows its health thresholds, all
of them (``shipyard.stats.health``), and, where it was asked for, its health, its drift
health and its accuracy health (``shipyard.stats.monitoring_health``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shipyard.domain.replicas import DEFAULT_REPLICAS, DEFAULT_TARGET_CONCURRENCY
from shipyard.domain.service_variables import checked_variables
from shipyard.domain.validation import (
    validate_association_id_field,
    validate_flag,
    validate_package_list,
)
from shipyard.errors import InvalidInput
from shipyard.iam.principals import ACCESS_LEVELS
from shipyard.stats.health import Health, thresholds_of
from shipyard.stats.health_thresholds import HealthThresholds, patched_overrides
from shipyard.stats.monitoring_settings import (
    MonitoringSettings,
    monitoring_of,
    patched_monitoring,
)
from shipyard.store import ServiceRow
from shipyard_runners import RUNNERS

__all__ = [
    "Service",
    "ServiceFile",
    "ServiceSpec",
    "validate_access_level",
    "validate_runner",
]


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    kind: str
    template: str
    environment: str
    packages: tuple[str, ...]
    description: str
    access_level: str
    project_id: str | None
    runner: str
    enabled: bool
    deployed: bool
    state: str
    status_message: str
    created_at: datetime
    updated_at: datetime
    collect_prediction_data: bool = False
    """Whether the query log keeps the bodies of its calls."""
    association_id_field: str = ""
    """The request body's JSON field that names a call's association id; "" for none."""
    health_thresholds: HealthThresholds = field(default_factory=HealthThresholds)
    """Its thresholds: the defaults, with the ones it set over them."""
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    """Its monitoring settings: the defaults, with the ones it set over them."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Its environment variables, as its next generation will have them."""
    min_replicas: int = DEFAULT_REPLICAS
    max_replicas: int = DEFAULT_REPLICAS
    """The replicas each of its generations runs (``shipyard.domain.replicas``)."""
    target_concurrency: float = DEFAULT_TARGET_CONCURRENCY
    """Calls in flight per replica the autoscaler aims at."""
    health: Health | None = None
    """Its health now, where it was asked for (a listing, a service's status)."""
    drift_health: Health | None = None
    """Its drift health now, where its health was asked for."""
    accuracy_health: Health | None = None
    """Its accuracy health now, where its health was asked for."""

    @classmethod
    def from_row(cls, row: ServiceRow, *, health: Health | None = None) -> Service:
        return cls(
            id=row.id, name=row.name, kind=row.kind, template=row.template,
            environment=row.environment, packages=tuple(row.packages),
            description=row.description, access_level=row.access_level, runner=row.runner,
            project_id=row.project_id, enabled=row.enabled, deployed=row.deployed,
            state=row.state, status_message=row.status_message,
            created_at=row.created_at, updated_at=row.updated_at,
            collect_prediction_data=row.collect_prediction_data,
            association_id_field=row.association_id_field,
            health_thresholds=thresholds_of(row), monitoring=monitoring_of(row), health=health,
            env=dict(row.variables or {}),
            min_replicas=row.min_replicas, max_replicas=row.max_replicas,
            target_concurrency=row.target_concurrency,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "kind": self.kind, "template": self.template,
            "environment": self.environment, "packages": list(self.packages),
            "description": self.description, "access_level": self.access_level,
            "project_id": self.project_id, "runner": self.runner,
            "enabled": self.enabled, "deployed": self.deployed,
            "state": self.state, "status_message": self.status_message,
            "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat(),
            "collect_prediction_data": self.collect_prediction_data,
            "association_id_field": self.association_id_field,
            "health_thresholds": self.health_thresholds.to_dict(),
            "monitoring": self.monitoring.to_dict(),
            "env": dict(self.env),
            "min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
            "target_concurrency": self.target_concurrency,
            **({"service_health": self.health.to_dict()} if self.health else {}),
            **({"drift_health": self.drift_health.to_dict()} if self.drift_health else {}),
            **({"accuracy_health": self.accuracy_health.to_dict()}
               if self.accuracy_health else {}),
        }


@dataclass(frozen=True)
class ServiceFile:
    path: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class ServiceSpec:
    """What a caller asks for when creating a service (validated by the registry)."""

    name: str
    kind: str = "custom"
    template: str | None = None
    environment: str | None = None
    packages: tuple[str, ...] = ()
    description: str = ""
    access_level: str = "project"
    project: str | None = None
    runner: str = ""
    collect_prediction_data: bool = False
    association_id_field: str = ""
    health_thresholds: Mapping[str, Any] | None = None
    """The health thresholds it sets (any of them); None: the defaults."""
    monitoring: Mapping[str, Any] | None = None
    """The monitoring settings it sets (any of them); None: the defaults."""
    env: Mapping[str, str] | None = None
    """Its environment variables (``service_variables``); None: none."""
    min_replicas: Any = DEFAULT_REPLICAS
    max_replicas: Any = DEFAULT_REPLICAS
    """Checked against each other and its profile by the registry."""
    target_concurrency: Any = DEFAULT_TARGET_CONCURRENCY

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServiceSpec:
        unknown = sorted(set(data) - {f for f in cls.__dataclass_fields__})
        if unknown:
            raise InvalidInput(f"unknown fields {unknown}")
        if not isinstance(data.get("name"), str):
            raise InvalidInput("'name' is required and must be a string")
        return cls(
            name=data["name"],
            kind=_string(data, "kind", "custom"),
            template=_string(data, "template", "") or None,
            environment=_string(data, "environment", "") or None,
            packages=tuple(validate_package_list(data.get("packages") or ())),
            description=_string(data, "description", ""),
            access_level=_string(data, "access_level", "project"),
            project=_string(data, "project", "") or None,
            runner=_string(data, "runner", ""),
            collect_prediction_data=validate_flag(
                data.get("collect_prediction_data", False), "collect_prediction_data"
            ),
            association_id_field=validate_association_id_field(
                data.get("association_id_field", "")
            ),
            health_thresholds=patched_overrides(None, data.get("health_thresholds")),
            monitoring=patched_monitoring(None, data.get("monitoring")),
            env=checked_variables(data.get("env")) or None,
            min_replicas=data.get("min_replicas", DEFAULT_REPLICAS),
            max_replicas=data.get("max_replicas", DEFAULT_REPLICAS),
            target_concurrency=data.get("target_concurrency", DEFAULT_TARGET_CONCURRENCY),
        )


def validate_runner(value: Any) -> str:
    """A runner name, or "" for the installation's own."""
    if value is None or value == "":
        return ""
    if value not in RUNNERS:
        raise InvalidInput(
            f"unknown runner {value!r}; known: {', '.join(RUNNERS)} (or \"\" for the "
            "installation's)"
        )
    return str(value)


def validate_access_level(value: Any) -> str:
    if value not in ACCESS_LEVELS:
        raise InvalidInput(f"unknown access level {value!r}; known: {', '.join(ACCESS_LEVELS)}")
    return str(value)


def _string(data: Mapping[str, Any], key: str, default: str) -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidInput(f"{key!r} must be a string")
    return value
