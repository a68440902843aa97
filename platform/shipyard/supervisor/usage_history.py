"""``UsageHistory``: one round of the instances' usage, and of the replicas each generation
runs, kept in the stats (the per-minute rollups of each generation), so that usage and
replicas are charts over time and not only the latest reading."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.domain.generation_refs import tag_of
from shipyard.domain.states import InstanceState
from shipyard.stats.folding import ALL_GENERATIONS, ReplicaSample, UsageSample, fold_usage
from shipyard.store import GenerationRow, InstanceRow, ServiceRow
from shipyard.supervisor.rollout import shares
from shipyard_runners import Usage

__all__ = ["UsageHistory"]


class UsageHistory:
    def __init__(self, at: float) -> None:
        self.at = at
        self.samples: list[UsageSample] = []
        self.replicas: list[ReplicaSample] = []

    def sample(self, session: Session, instance: InstanceRow, usage: Usage) -> None:
        generation = session.get(GenerationRow, instance.generation_id)
        service = session.get(ServiceRow, instance.service_id)
        if generation is None or service is None:
            return
        role = ("challenger" if service.challenger_generation_id == instance.generation_id
                else "main")
        self.samples.append(UsageSample(
            service_id=instance.service_id, generation=tag_of(generation.number), role=role,
            at=self.at, cpu_percent=usage.cpu_percent, memory_bytes=usage.memory_bytes,
            gpu_memory_bytes=usage.gpu_memory_bytes,
        ))

    def count_replicas(self, session: Session) -> None:
        """The replicas each generation taking traffic (or copies of it) runs now, none
        included (a generation scaled to zero)."""
        running = Counter(session.scalars(
            select(InstanceRow.generation_id).where(
                InstanceRow.handle.is_not(None), InstanceRow.state != InstanceState.DRAINING)
        ))
        for service in session.scalars(select(ServiceRow).where(ServiceRow.deployed)):
            roles = {generation_id: "main" for generation_id in shares(service.live_mapping)}
            if service.challenger_generation_id:
                roles[service.challenger_generation_id] = "challenger"
            serving = 0
            for generation_id, role in roles.items():
                generation = session.get(GenerationRow, generation_id)
                if generation is not None:
                    self.replicas.append(ReplicaSample(
                        service_id=service.id, generation=tag_of(generation.number),
                        role=role, at=self.at, replicas=running[generation_id]))
                    if role == "main":
                        serving += running[generation_id]
            # The service as a whole: the replicas of its live generations together.
            self.replicas.append(ReplicaSample(
                service_id=service.id, generation=ALL_GENERATIONS, role="main", at=self.at,
                replicas=serving))

    def fold(self, session: Session) -> None:
        fold_usage(session, self.samples, self.replicas)
