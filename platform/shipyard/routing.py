"""The routing table: what the gateway may forward to, as the supervisor sees it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.deployments import tag_of
from shipyard.store import GenerationRow, InstanceRow, ServiceRow
from shipyard.traffic import mapping_of
from shipyard_runners import State

__all__ = ["routing_table"]


def routing_table(session: Session) -> dict[str, Any]:
    """Each service with its live mapping and its healthy instances, by generation."""
    tags = dict(session.execute(select(GenerationRow.id, GenerationRow.number)).all())
    healthy: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in session.scalars(
        select(InstanceRow).where(InstanceRow.state == State.HEALTHY.value)
    ):
        handle = row.handle or {}
        healthy.setdefault(row.service_id, {}).setdefault(
            tag_of(tags[row.generation_id]), []
        ).append({"instance_id": row.id, "host": handle["host"], "port": handle["port"]})
    services: dict[str, Any] = {}
    for service in session.scalars(select(ServiceRow)):
        challenger = service.challenger_generation_id
        services[service.id] = {
            "id": service.id, "name": service.name, "enabled": service.enabled,
            "deployed": service.deployed, "state": service.state,
            "message": service.status_message,
            "access_level": service.access_level, "project_id": service.project_id,
            "mapping": [
                {"generation": tag_of(tags[generation_id]), "proba": proba}
                for generation_id, proba in mapping_of(service.live_mapping)
                if generation_id in tags
            ],
            "challenger": tag_of(tags[challenger]) if challenger in tags else None,
            "collect_prediction_data": service.collect_prediction_data,
            "association_id_field": service.association_id_field,
            "instances": healthy.get(service.id, {}),
        }
    return {"version": 1, "services": services}
