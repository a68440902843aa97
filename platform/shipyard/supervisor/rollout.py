"""How the traffic a service asks for becomes the traffic in force, for the supervisor.

A service asks for a mapping (generations and their shares) and maybe a challenger. The
generations they name are wanted (mounted) once built; the mapping is put in force only
when each of its generations has a healthy instance and has passed the promotion gates
(which the supervisor runs between its transactions); a generation that cannot serve
sends the service back to the mapping in force, and a challenger that cannot answer stops
being one. These functions decide; the supervisor starts and stops.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.domain.generation_refs import main_generation, mapping_of, tag_of
from shipyard.domain.states import BuildState, ServiceState, set_service_state
from shipyard.store import GenerationRow, ServiceRow, Store

__all__ = [
    "PromotionGate",
    "give_up_generation",
    "put_in_force",
    "shares",
    "wanted_generations",
]


class PromotionGate(Protocol):
    """A last check of a new generation, once healthy, before it takes traffic.

    Returns None to let it serve, or the problem that keeps it out: the generation is then
    given up and the generations serving now keep serving. Called outside any transaction
    (it may call the instance at ``address``, one of the generation's healthy instances),
    and again after a supervisor restart, so it must give the same answer twice.
    """

    def __call__(
        self, store: Store, service_id: str, generation_id: str, address: tuple[str, int]
    ) -> str | None: ...


def wanted_generations(session: Session, service: ServiceRow) -> list[str]:
    """The built generations that take, or are to take, traffic or copies of it."""
    if not service.deployed:
        return []
    candidates = [*shares(service.live_mapping), *shares(service.mapping)]
    if service.challenger_generation_id:
        candidates.append(service.challenger_generation_id)
    wanted: list[str] = []
    for generation_id in candidates:
        if generation_id in wanted:
            continue
        generation = session.get(GenerationRow, generation_id)
        if generation is not None and generation.build_state == BuildState.SUCCEEDED:
            wanted.append(generation_id)
    return wanted


def put_in_force(service: ServiceRow) -> None:
    """The mapping asked for becomes the one in force (the caller checked it may)."""
    service.live_mapping = service.mapping
    service.live_generation_id = main_generation(mapping_of(service.mapping))
    service.target_generation_id = service.live_generation_id
    set_service_state(service, ServiceState.RUNNING, "")


def give_up_generation(
    session: Session, service: ServiceRow, generation: GenerationRow, reason: str
) -> None:
    """A generation cannot serve: go back to the mapping in force, or fail; a
    challenger that cannot answer stops being one."""
    if generation.id == service.challenger_generation_id:
        service.challenger_generation_id = None
        if generation.id not in shares(service.mapping):
            set_service_state(service, ServiceState(service.state),
                              f"challenger {reason}; no challenger now")
            return
    if generation.id not in shares(service.mapping):
        return
    service.mapping = service.live_mapping
    service.target_generation_id = service.live_generation_id
    live = [
        tag_of(row.number) for row in session.scalars(
            select(GenerationRow).where(
                GenerationRow.id.in_(list(shares(service.live_mapping)))
            ).order_by(GenerationRow.number)
        )
    ] if service.live_mapping else []
    if live:
        serving = " and ".join(live)
        set_service_state(service, ServiceState.RUNNING, f"{reason}; {serving} still serving")
    else:
        set_service_state(service, ServiceState.FAILED, reason)


def shares(stored: list | None) -> dict[str, float]:
    """The generations with a share of traffic in a stored mapping, and their shares."""
    return {generation_id: proba for generation_id, proba in mapping_of(stored) if proba > 0}


