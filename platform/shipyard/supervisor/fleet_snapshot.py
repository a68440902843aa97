"""Publishing the fleet snapshot (``shipyard.contracts.fleet_snapshot``): every instance
with its state and usage, every build with its state and duration, written for the
gateway's ``/metrics`` each time the supervisor records the instances' usage."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.contracts.fleet_snapshot import (
    BuildFigures,
    FleetSnapshot,
    InstanceFigures,
    write_fleet_snapshot,
)
from shipyard.contracts.run_paths import fleet_file
from shipyard.domain.generation_refs import tag_of
from shipyard.domain.states import BUILD_DONE
from shipyard.store import GenerationRow, InstanceRow, ServiceRow

__all__ = ["fleet_snapshot", "publish_fleet_snapshot"]

log = logging.getLogger(__name__)


def fleet_snapshot(
    session: Session, now: float | None = None, lines_set_aside: int = 0
) -> FleetSnapshot:
    """The instances and builds ``session`` sees, named by service name and tag."""
    names: dict[str, str] = {row.id: row.name for row in session.execute(
        select(ServiceRow.id, ServiceRow.name))}
    tags: dict[str, str] = {}
    builds = []
    # Only the columns needed: a generation row also holds its code.
    for row in session.execute(select(
        GenerationRow.id, GenerationRow.service_id, GenerationRow.number,
        GenerationRow.build_state, GenerationRow.build_started_at,
        GenerationRow.build_finished_at,
    ).order_by(GenerationRow.service_id, GenerationRow.number)):
        tag = tags[row.id] = tag_of(row.number)
        seconds = None
        if (row.build_state in BUILD_DONE and row.build_started_at is not None
                and row.build_finished_at is not None):
            seconds = max(0.0, (row.build_finished_at - row.build_started_at).total_seconds())
        builds.append(BuildFigures(names.get(row.service_id, row.service_id), tag,
                                   row.build_state, seconds))
    instances = [
        InstanceFigures(
            instance_id=row.id, service=names.get(row.service_id, row.service_id),
            generation=tags.get(row.generation_id, "-"), state=row.state,
            running=row.running, cpu_percent=max(0.0, row.cpu_percent),
            memory_bytes=max(0, row.memory_bytes),
        )
        for row in session.execute(select(
            InstanceRow.id, InstanceRow.service_id, InstanceRow.generation_id,
            InstanceRow.state, InstanceRow.handle.is_not(None).label("running"),
            InstanceRow.cpu_percent, InstanceRow.memory_bytes,
        ).order_by(InstanceRow.id))
    ]
    return FleetSnapshot(time.time() if now is None else now, tuple(instances), tuple(builds),
                         lines_set_aside)


def publish_fleet_snapshot(session: Session, home: Path, lines_set_aside: int = 0) -> None:
    """Write the snapshot ``session`` sees into ``home``'s run folder. A snapshot that
    cannot be written is logged and skipped: the next one comes a few seconds later."""
    snapshot = fleet_snapshot(session, lines_set_aside=lines_set_aside)
    try:
        write_fleet_snapshot(fleet_file(home), snapshot)
    except OSError as exc:
        log.warning("cannot write the fleet snapshot for /metrics: %s", exc)
