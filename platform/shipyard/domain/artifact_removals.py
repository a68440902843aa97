"""Removing the artifacts of deleted generations from their runners, and nothing in use.

Deleting a generation, or a service with its generations, is one transaction: the rows go
and each artifact they held is queued here (``queue_removal``). The supervisor removes
what is queued (``ArtifactRemovals.run``) and forgets an entry only once its runner has
removed it, so a crash between the two steps leaves the entry for the next supervisor, and
removing twice is harmless (a runner's ``remove`` is idempotent).

Nothing in use is removed. A generation is deleted only when it has no share of traffic,
is not the challenger, is not building and has no instance (``traffic``, ``services``).
The queue waits while a build runs, because a build may be about to use an environment
that a removal would find unused, and while the supervisor is still stopping instances
(their calls in flight run from their artifact). A runner removes an artifact's
environment only when no other artifact of its own uses it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.domain.generation_refs import tag_of
from shipyard.domain.states import BUILD_UNDER_WAY
from shipyard.errors import ShipyardError
from shipyard.store import ArtifactRemovalRow, GenerationRow, Store
from shipyard_runners import Artifact, Runner

__all__ = ["ArtifactRemovals", "queue_removal"]

log = logging.getLogger(__name__)


def queue_removal(session: Session, generation: GenerationRow, service_name: str) -> None:
    """Queue the removal of ``generation``'s artifact, in the transaction deleting it."""
    if generation.artifact:
        session.add(ArtifactRemovalRow(
            artifact=generation.artifact,
            generation=f"{service_name} {tag_of(generation.number)}",
            requested_at=datetime.now(UTC), last_error="",
        ))


@dataclass
class ArtifactRemovals:
    """The supervisor's side: remove what is queued, when nothing could be using it."""

    store: Store
    runner: Runner
    interval: float = 1.0
    """How often the queue is looked at."""
    retry_interval: float = 30.0
    """How long a removal that failed (an engine that is down) waits for its next try."""
    _next_run: float = 0.0
    _retry_at: dict[int, float] = field(default_factory=dict)

    def run(self) -> int:
        """Remove the queued artifacts, unless a build runs; how many went."""
        now = time.monotonic()
        if now < self._next_run:
            return 0
        self._next_run = now + self.interval
        with self.store.reading() as session:
            queued = session.execute(
                select(ArtifactRemovalRow.id, ArtifactRemovalRow.artifact,
                       ArtifactRemovalRow.generation).order_by(ArtifactRemovalRow.id)
            ).all()
            if not queued or session.scalar(
                select(GenerationRow.id).where(
                    GenerationRow.build_state.in_(BUILD_UNDER_WAY)
                ).limit(1)
            ) is not None:
                return 0
        removed = 0
        for removal_id, artifact, generation in queued:
            if self._retry_at.get(removal_id, 0.0) > now:
                continue
            try:
                self.runner.remove(Artifact.from_dict(artifact))
            except ShipyardError as exc:
                self._retry_at[removal_id] = now + self.retry_interval
                log.warning("could not remove the artifact of %s (trying again in %gs): %s",
                            generation, self.retry_interval, exc.message)
                with self.store.writing() as session:
                    row = session.get(ArtifactRemovalRow, removal_id)
                    if row is not None:
                        row.last_error = exc.message
                continue
            with self.store.writing() as session:
                row = session.get(ArtifactRemovalRow, removal_id)
                if row is not None:
                    session.delete(row)
            self._retry_at.pop(removal_id, None)
            removed += 1
            log.info("removed the artifact of %s, which was deleted", generation)
        return removed
