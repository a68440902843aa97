"""Which services a listing shows, and in what order: ``GET /api/v1/services``'s filters.

Each filter is checked before anything is read: an unknown filter, or a value a filter
cannot take, is an ``InvalidInput`` that names it and what it takes (a listing that
silently ignored a misspelt filter would show everything and look right). Filters combine
with AND; ``search`` looks for its words, case-insensitively, in the name or the
description. ``service_health``, ``drift_health`` and ``accuracy_health`` (each one status
or several, separated by commas) are computed, not stored: they select among the services
the other filters found (``keeps``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, false, or_

from shipyard.domain.query_flags import query_flag
from shipyard.domain.scaffold import KINDS
from shipyard.domain.states import ServiceState
from shipyard.errors import InvalidInput
from shipyard.stats.health import HEALTH_STATUSES, HealthStatus
from shipyard.store import ServiceRow
from shipyard_runners import RUNNERS

if TYPE_CHECKING:
    from shipyard.domain.service_values import Service

__all__ = ["FILTERS", "ORDERS", "ServiceFilter"]

ORDERS: dict[str, Any] = {
    "name": ServiceRow.name, "-name": ServiceRow.name.desc(),
    "created_at": ServiceRow.created_at, "-created_at": ServiceRow.created_at.desc(),
    "updated_at": ServiceRow.updated_at, "-updated_at": ServiceRow.updated_at.desc(),
    "state": ServiceRow.state,
}
FILTERS = ("kind", "state", "enabled", "deployed", "environment", "runner", "project",
           "search", "service_health", "drift_health", "accuracy_health", "order_by")
_MAX_SEARCH = 200


@dataclass(frozen=True)
class ServiceFilter:
    kind: str | None = None
    state: ServiceState | None = None
    enabled: bool | None = None
    deployed: bool | None = None
    environment: str | None = None
    runner: str | None = None
    """A runner's name, or "" for services on the installation's own."""
    project_id: str | None = None
    search: str | None = None
    service_health: frozenset[HealthStatus] | None = None
    """The health statuses to keep; None keeps every service."""
    drift_health: frozenset[HealthStatus] | None = None
    """The drift health statuses to keep; None keeps every service."""
    accuracy_health: frozenset[HealthStatus] | None = None
    """The accuracy health statuses to keep; None keeps every service."""
    order_by: str = "name"

    @classmethod
    def parse(
        cls, args: Mapping[str, str], *, environments: tuple[str, ...],
        project_id: Callable[[str], str],
    ) -> ServiceFilter:
        """The filter of a listing's query ``args``. ``project_id`` turns a project's name
        or id into its id (or raises); ``environments`` are the known profiles."""
        unknown = sorted(set(args) - set(FILTERS))
        if unknown:
            raise InvalidInput(f"unknown filter(s) {unknown}; known: {', '.join(FILTERS)}")
        kind = _one_of(args, "kind", KINDS)
        state = _one_of(args, "state", tuple(ServiceState))
        environment = _one_of(args, "environment", environments)
        runner = _one_of(args, "runner", ("", *RUNNERS))
        order_by = _one_of(args, "order_by", tuple(ORDERS)) or "name"
        search = args.get("search")
        if search is not None and len(search) > _MAX_SEARCH:
            raise InvalidInput(f"'search' may be at most {_MAX_SEARCH} characters")
        project = args.get("project")
        return cls(
            kind=kind, state=ServiceState(state) if state else None,
            enabled=query_flag(args, "enabled"), deployed=query_flag(args, "deployed"),
            environment=environment, runner=runner,
            project_id=project_id(project) if project is not None else None,
            search=search or None, service_health=_statuses(args, "service_health"),
            drift_health=_statuses(args, "drift_health"),
            accuracy_health=_statuses(args, "accuracy_health"), order_by=order_by,
        )

    def keeps(self, service: Service) -> bool:
        """Whether ``service`` (with its healths) passes the filters SQL cannot apply."""
        checks = ((self.service_health, service.health),
                  (self.drift_health, service.drift_health),
                  (self.accuracy_health, service.accuracy_health))
        return all(statuses is None or (health is not None and health.status in statuses)
                   for statuses, health in checks)

    def apply(self, query: Select[Any]) -> Select[Any]:
        """``query`` (over ``ServiceRow``) narrowed and ordered by this filter."""
        equal = {
            ServiceRow.kind: self.kind, ServiceRow.state: self.state,
            ServiceRow.enabled: self.enabled, ServiceRow.deployed: self.deployed,
            ServiceRow.environment: self.environment, ServiceRow.runner: self.runner,
            ServiceRow.project_id: self.project_id,
        }
        for column, value in equal.items():
            if value is not None:
                query = query.where(column == value)
        for word in (self.search or "").split():
            if "\x00" in word:  # in no name nor description; PostgreSQL refuses to look
                query = query.where(false())
                continue
            pattern = "%" + _escaped(word.lower()) + "%"
            query = query.where(or_(
                ServiceRow.name.ilike(pattern, escape="\\"),
                ServiceRow.description.ilike(pattern, escape="\\"),
            ))
        return query.order_by(ORDERS[self.order_by], ServiceRow.name)


def _one_of(args: Mapping[str, str], name: str, known: tuple[str, ...]) -> str | None:
    value = args.get(name)
    if value is not None and value not in known:
        shown = ", ".join(repr(k) if k == "" else k for k in known)
        raise InvalidInput(f"unknown {name} {value!r}; known: {shown}")
    return value


def _statuses(args: Mapping[str, str], name: str) -> frozenset[HealthStatus] | None:
    value = args.get(name)
    if value is None:
        return None
    statuses = [word.strip() for word in value.split(",")]
    unknown = [word for word in statuses if word not in HEALTH_STATUSES]
    if unknown:
        raise InvalidInput(
            f"unknown {name} {', '.join(map(repr, unknown))}; known: "
            f"{', '.join(HEALTH_STATUSES)} (several separated by commas)"
        )
    return frozenset(HealthStatus(word) for word in statuses)


def _escaped(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
