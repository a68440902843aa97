"""How many replicas each wanted generation runs, for the supervisor: a new generation
starts with what its service needs now (at least its minimum, and as many as the
generation it is to replace runs, so a switch does not shrink the capacity), and the
generations that take traffic are moved between the service's bounds by the autoscaler
(``supervisor.autoscaling``) about once a second. A live generation scaled to zero gets a
replica back as soon as a gateway holds a call for it (``gateway.activation``).

``ReplicaCounts`` is a part of ``Supervisor`` (``supervisor.loop``), as
``InstanceLifecycle`` is: the behaviour only, over the supervisor's store and autoscaler.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.contracts.run_paths import demand_dir
from shipyard.domain.generation_refs import main_generation, mapping_of, tag_of
from shipyard.domain.replicas import bounds_of, replica_count, replicas_to_run
from shipyard.store import GenerationRow, ServiceRow
from shipyard.supervisor.node_duties import asked_replicas
from shipyard.supervisor.rollout import shares

if TYPE_CHECKING:
    from shipyard.domain.control_plane import ControlPlane
    from shipyard.store import Store
    from shipyard.supervisor.autoscaling import Autoscaler

__all__ = ["ReplicaCounts"]

log = logging.getLogger(__name__)


class ReplicaCounts:
    """Replica counts of generations, set at start and by the autoscaler (see the module)."""

    store: Store
    plane: ControlPlane
    _autoscaler: Autoscaler

    def _answer_demand(self) -> None:
        """Give a replica to each service scaled to zero that a gateway holds a call for
        (``gateway.activation``): this node's gateway asks with a file named after the
        service, the other nodes' through the store (``node_duties``)."""
        folder = demand_dir(self.plane.settings.home)
        try:
            asks = [path for path in folder.iterdir() if path.is_file()]
        except OSError:
            asks = []
        asked = {path.name for path in asks} | set(asked_replicas(self.store))
        for path in asks:
            path.unlink(missing_ok=True)
        if not asked:
            return
        with self.store.writing() as session:
            for service_id in sorted(asked):
                service = session.get(ServiceRow, service_id)
                if service is None or not service.deployed or not service.live_generation_id:
                    continue
                generation = session.get(GenerationRow, service.live_generation_id)
                if generation is None or generation.replicas != 0:
                    continue
                reason = f"{replica_count(1)}: a call came while it ran none"
                log.info("%s %s: %s", service.name, tag_of(generation.number), reason)
                _record(generation, 1, reason)
                self._autoscaler.watch_again(generation.id)

    def _replicas_of(self, session: Session, service: ServiceRow, generation_id: str) -> int:
        """What ``generation_id`` runs now: its count, within the service's bounds as they
        stand (a change of them applies at once); set first when it has none yet."""
        generation = session.get_one(GenerationRow, generation_id)
        low, high = bounds_of(service, generation)
        if generation.replicas is None:
            count = _initial(session, service, generation)
            _record(generation, count, f"{replica_count(count)} to start with: min_replicas {low}, "
                    f"at least one, and what its live generation runs")
        elif not low <= generation.replicas <= high:
            count = min(high, max(low, generation.replicas))
            _record(generation, count, f"{replica_count(count)}: within min_replicas {low} and "
                    f"max_replicas {high}")
        return generation.replicas or 0

    def _autoscale(self) -> None:
        """Decide each live generation's replicas from its load; store what changed."""
        autoscaler = self._autoscaler
        autoscaler.meter.prune(time.time())
        changes: dict[str, tuple[int, str]] = {}
        watched: set[str] = set()
        with self.store.reading() as session:
            for service in session.scalars(select(ServiceRow).where(ServiceRow.deployed)):
                for generation_id in shares(service.live_mapping):
                    generation = session.get(GenerationRow, generation_id)
                    if generation is None or generation.replicas is None:
                        continue
                    watched.add(generation_id)
                    decision = autoscaler.decide(
                        generation_id, (service.id, tag_of(generation.number)),
                        generation.replicas, *bounds_of(service, generation),
                        service.target_concurrency,
                    )
                    if decision.replicas != generation.replicas:
                        log.info("%s %s: %s", service.name, tag_of(generation.number),
                                 decision.reason)
                        changes[generation_id] = (decision.replicas, decision.reason)
        autoscaler.forget(watched)
        if not changes:
            return
        with self.store.writing() as session:
            for generation_id, (count, reason) in changes.items():
                generation = session.get(GenerationRow, generation_id)
                if generation is not None:
                    _record(generation, count, reason)


def _initial(session: Session, service: ServiceRow, generation: GenerationRow) -> int:
    low, high = bounds_of(service, generation)
    count = replicas_to_run(low, high)
    live = main_generation(mapping_of(service.live_mapping))
    if live is not None and live != generation.id:
        running = session.get(GenerationRow, live)
        if running is not None and running.replicas:
            count = max(count, min(running.replicas, high))
    return count


def _record(generation: GenerationRow, count: int, reason: str) -> None:
    generation.replicas = count
    generation.scaled_at = datetime.now(UTC)
    generation.scaling_reason = reason
