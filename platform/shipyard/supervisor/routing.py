"""The routing table, as the supervisor sees it: what the gateway may forward to; and its
publication, numbered (``RoutesPublisher``): to this node's gateway's file, and in the
store for the gateways of the other nodes (``supervisor.node_duties``)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from shipyard.contracts.routing_table import (
    RoutingTable,
    RoutingTableError,
    ServiceRoute,
    Upstream,
    write_routing_table,
)
from shipyard.contracts.supervisor_wakeups import NOTIFY_CHANNEL
from shipyard.domain.generation_refs import generation_numbers, tag_in, tag_of, tagged_mapping
from shipyard.stats.monitoring_settings import PredictionWarnings, monitoring_of
from shipyard.store import GenerationRow, InstanceRow, PublishedRoutesRow, ServiceRow
from shipyard_runners import State

__all__ = ["RoutesPublisher", "routing_table"]

_CHUNK = 500


def _monitoring(service: ServiceRow, declared: set[str]) -> dict[str, Any]:
    """What the gateway does for the monitoring of a model service, or of a custom
    service one of whose generations declares a model (``declared``, by service id)."""
    if service.kind != "model" and service.id not in declared:
        return {}
    settings = monitoring_of(service)
    return {"monitored": settings.tracks_drift or bool(settings.association_id_columns),
            "association_columns": settings.association_id_columns,
            "association_required": settings.required_in_prediction_requests,
            "warning_boundaries": _boundaries(settings.prediction_warnings)}


def _boundaries(warnings: PredictionWarnings) -> str:
    """The header value that tells the instance how to flag predictions; "" for none."""
    if not warnings.enabled:
        return ""
    pairs = [f"margin={warnings.margin!r}", f"min_confidence={warnings.min_confidence!r}",
             f"inputs={int(warnings.flag_inputs)}"]
    if warnings.lower is not None:
        pairs.append(f"lower={warnings.lower!r}")
    if warnings.upper is not None:
        pairs.append(f"upper={warnings.upper!r}")
    return ";".join(pairs)


def routing_table(session: Session) -> RoutingTable:
    """Each service with its live mapping and its healthy instances, by generation."""
    numbers = generation_numbers(session)
    declared = set(session.scalars(select(GenerationRow.service_id).where(
        GenerationRow.interface.is_not(None)).distinct()))
    healthy: dict[str, dict[str, list[Upstream]]] = {}
    for row in session.scalars(
        select(InstanceRow).where(InstanceRow.state == State.HEALTHY.value)
    ):
        handle = row.handle or {}
        healthy.setdefault(row.service_id, {}).setdefault(
            tag_of(numbers[row.generation_id]), []
        ).append(Upstream(instance_id=row.id, host=handle["host"], port=handle["port"]))
    # Services whose live generation may run no replica (its min_replicas, or its
    # service's, is 0).
    may_idle = {service_id for service_id, own, inherited in session.execute(
        select(ServiceRow.id, GenerationRow.min_replicas, ServiceRow.min_replicas)
        .join(GenerationRow, GenerationRow.id == ServiceRow.live_generation_id)
    ) if (inherited if own is None else own) == 0}
    return RoutingTable({
        service.id: ServiceRoute(
            id=service.id, name=service.name, enabled=service.enabled,
            deployed=service.deployed, state=service.state, message=service.status_message,
            access_level=service.access_level, project_id=service.project_id,
            mapping=tuple((entry["generation"], float(entry["proba"]))
                          for entry in tagged_mapping(numbers, service.live_mapping)),
            challenger=tag_in(numbers, service.challenger_generation_id),
            collect_prediction_data=service.collect_prediction_data,
            association_id_field=service.association_id_field,
            **_monitoring(service, declared),
            instances={gen: tuple(upstreams)
                       for gen, upstreams in healthy.get(service.id, {}).items()},
            # May run no replica (min_replicas 0) and has none healthy now: scaled to
            # zero, or on its way back.
            scaled_to_zero=(service.deployed and service.id in may_idle
                            and not healthy.get(service.id)),
        )
        for service in session.scalars(select(ServiceRow))
    })


class RoutesPublisher:
    """Writes the routing table for the gateway whenever it changed, each publication with
    the next serial, and notes on every service whose route changed the serial that first
    carries it (``ServiceRow.routes_serial``), in the session that changed it: a status
    that shows a new mapping also names the table the gateway must have loaded to serve
    it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.last: RoutingTable | None = None

    def changed(self, table: RoutingTable) -> bool:
        return table != self.last

    def publish(self, session: Session, table: RoutingTable) -> None:
        if not self.changed(table):
            return
        last = self.last
        serial = self._next_serial(session)
        changed = [key for key, route in table.services.items()
                   if last is None or last.services.get(key) != route]
        for start in range(0, len(changed), _CHUNK):
            chunk = changed[start:start + _CHUNK]
            session.execute(update(ServiceRow).where(ServiceRow.id.in_(chunk))
                            .values(routes_serial=serial)
                            .execution_options(synchronize_session=False))
        published = dataclasses.replace(table, serial=serial)
        body = json.dumps(published.to_dict(), separators=(",", ":"))
        row = session.get(PublishedRoutesRow, 1)
        if row is None:
            session.add(PublishedRoutesRow(id=1, serial=serial, body=body))
        else:
            row.serial = serial
            row.body = body
        if session.get_bind().dialect.name == "postgresql":
            # Delivered at the commit: the standing-by nodes copy the table at once.
            session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
        write_routing_table(self.path, published)
        self.last = published

    def _next_serial(self, session: Session) -> int:
        if self.last is not None:
            return self.last.serial + 1
        # After a restart or a takeover: past every serial already told, by the file, the
        # store or the services.
        told = max(session.scalar(select(func.max(ServiceRow.routes_serial))) or 0,
                   session.scalar(select(PublishedRoutesRow.serial)) or 0)
        with contextlib.suppress(RoutingTableError):  # none yet, or unreadable
            told = max(told, RoutingTable.load(self.path).serial)
        return told + 1
