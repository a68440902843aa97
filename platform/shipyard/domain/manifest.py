"""``shipyard.yaml``: the manifest at the root of a service folder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from shipyard.domain.replicas import validate_target_concurrency
from shipyard.domain.service_interface import INTERFACE_KEYS, check_interface_keys
from shipyard.domain.service_variables import checked_variables
from shipyard.domain.validation import (
    validate_association_id_field,
    validate_flag,
    validate_package_list,
    validate_service_name,
)
from shipyard.errors import InvalidInput
from shipyard.stats.health_thresholds import patched_overrides
from shipyard.stats.monitoring_settings import patched_monitoring

__all__ = ["MANIFEST_NAME", "Manifest", "parse_manifest"]

MANIFEST_NAME = "shipyard.yaml"
_KEYS = {
    "name", "kind", "environment", "packages", "description", "template", "runner",
    "collect_prediction_data", "association_id_field", "health_thresholds", "monitoring",
    "env", "min_replicas", "max_replicas", "target_concurrency",
    # A custom service that is its own model (``shipyard.domain.service_interface``): read
    # from the files of each generation, not stored on the service.
    "features", "target", "problem_type", "predict_path", "baseline",
}


@dataclass(frozen=True)
class Manifest:
    name: str
    kind: str
    environment: str | None
    packages: tuple[str, ...]
    description: str
    runner: str | None = None
    """``local`` or ``docker``; None leaves it to the installation (or to what is stored)."""
    collect_prediction_data: bool | None = None
    """Whether the query log keeps call bodies; None leaves what is stored (default off)."""
    association_id_field: str | None = None
    """The JSON field naming a call's association id; None leaves what is stored."""
    health_thresholds: Mapping[str, Any] | None = None
    """Health thresholds, merged over the stored ones (a null puts one back to its
    default); None leaves what is stored (default: the defaults)."""
    monitoring: Mapping[str, Any] | None = None
    """Monitoring settings, merged over the stored ones as health thresholds are."""
    env: Mapping[str, str] | None = None
    """Environment variables, replacing the stored ones; None leaves what is stored."""
    min_replicas: int | None = None
    max_replicas: int | None = None
    """The replicas each generation runs (checked against the profile by the registry);
    None leaves what is stored (default 1)."""
    target_concurrency: float | None = None
    """Calls in flight per replica the autoscaler aims at; None leaves what is stored."""

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "name": self.name, "kind": self.kind, "packages": list(self.packages),
            "description": self.description,
        }
        if self.environment:
            spec["environment"] = self.environment
        if self.runner is not None:
            spec["runner"] = self.runner
        if self.collect_prediction_data is not None:
            spec["collect_prediction_data"] = self.collect_prediction_data
        if self.association_id_field is not None:
            spec["association_id_field"] = self.association_id_field
        if self.health_thresholds is not None:
            spec["health_thresholds"] = dict(self.health_thresholds)
        if self.monitoring is not None:
            spec["monitoring"] = dict(self.monitoring)
        if self.env is not None:
            spec["env"] = dict(self.env)
        if self.min_replicas is not None:
            spec["min_replicas"] = self.min_replicas
        if self.max_replicas is not None:
            spec["max_replicas"] = self.max_replicas
        if self.target_concurrency is not None:
            spec["target_concurrency"] = self.target_concurrency
        return spec


def parse_manifest(text: str | bytes) -> Manifest:
    """Parse and validate a manifest; errors name the key at fault."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{MANIFEST_NAME} is not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{MANIFEST_NAME} must be a mapping with at least 'name'")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise InvalidInput(f"{MANIFEST_NAME} has unknown keys {unknown}; known: {sorted(_KEYS)}")
    if not isinstance(data.get("name"), str):
        raise InvalidInput(f"{MANIFEST_NAME} needs 'name' (a string)")
    packages = data.get("packages") or []
    kind = data.get("kind", "custom")
    if kind not in ("custom", "model"):
        raise InvalidInput(f"{MANIFEST_NAME}: unknown kind {kind!r}; known: custom, model")
    environment = data.get("environment")
    description = data.get("description") or ""
    if environment is not None and not isinstance(environment, str):
        raise InvalidInput(f"{MANIFEST_NAME}: 'environment' must be a string")
    if not isinstance(description, str):
        raise InvalidInput(f"{MANIFEST_NAME}: 'description' must be a string")
    runner = data.get("runner")
    if runner is not None and not isinstance(runner, str):
        raise InvalidInput(f"{MANIFEST_NAME}: 'runner' must be a string such as docker")
    collect = data.get("collect_prediction_data")
    if collect is not None:
        validate_flag(collect, f"{MANIFEST_NAME}: 'collect_prediction_data'")
    field = data.get("association_id_field")
    if field is not None:
        try:
            field = validate_association_id_field(field)
        except InvalidInput as exc:
            raise InvalidInput(f"{MANIFEST_NAME}: {exc.message}") from exc
    thresholds = data.get("health_thresholds")
    if thresholds is not None:
        try:
            patched_overrides(None, thresholds)
        except InvalidInput as exc:
            raise InvalidInput(f"{MANIFEST_NAME}: {exc.message}") from exc
    if kind == "model" and any(key in data for key in INTERFACE_KEYS):
        raise InvalidInput(f"{MANIFEST_NAME}: a model service's features come with its "
                           "model; features, target, problem_type, predict_path and "
                           "baseline are for a custom service that is its own model")
    check_interface_keys(data)
    monitoring = data.get("monitoring")
    if monitoring is not None:
        try:
            patched_monitoring(None, monitoring)
        except InvalidInput as exc:
            raise InvalidInput(f"{MANIFEST_NAME}: {exc.message}") from exc
    env = None
    if "env" in data:
        try:
            env = checked_variables(data["env"])
        except InvalidInput as exc:
            raise InvalidInput(f"{MANIFEST_NAME}: {exc.message}") from exc
    for key in ("min_replicas", "max_replicas"):
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            raise InvalidInput(f"{MANIFEST_NAME}: {key!r} must be a whole number of at "
                               f"least 0, not {value!r}")
    target = data.get("target_concurrency")
    if target is not None:
        try:
            target = validate_target_concurrency(target)
        except InvalidInput as exc:
            raise InvalidInput(f"{MANIFEST_NAME}: {exc.message}") from exc
    return Manifest(
        name=validate_service_name(data["name"]),
        kind=kind,
        environment=environment,
        packages=tuple(validate_package_list(packages)),
        description=description,
        runner=runner,
        collect_prediction_data=collect,
        association_id_field=field,
        health_thresholds=thresholds,
        monitoring=monitoring,
        env=env,
        min_replicas=data.get("min_replicas"),
        max_replicas=data.get("max_replicas"),
        target_concurrency=target,
    )
