"""``UsageHistory``: one round of the instances' usage, kept in the stats (the per-minute
rollups of each generation), so that usage is a chart over time and not only the latest
reading on the instance."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shipyard.domain.generation_refs import tag_of
from shipyard.stats.folding import UsageSample, fold_usage
from shipyard.store import GenerationRow, InstanceRow, ServiceRow
from shipyard_runners import Usage

__all__ = ["UsageHistory"]


class UsageHistory:
    def __init__(self, at: float) -> None:
        self.at = at
        self.samples: list[UsageSample] = []

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

    def fold(self, session: Session) -> None:
        fold_usage(session, self.samples)
