"""The promotion gates, asked off the supervisor's loop.

A gate may call the new generation's instance and wait for it (a model's predict route,
up to its timeout), so the gates run in threads of their own: the loop keeps restarting
instances and publishing routes for every other service meanwhile, and picks the verdict
up in a later tick. Verdicts live in memory until their mapping goes in force; after a
supervisor restart the gates are asked again, and answer the same (see ``PromotionGate``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from shipyard.store import InstanceRow, ServiceRow, Store
from shipyard.supervisor.rollout import PromotionGate, shares
from shipyard_runners import State

__all__ = ["Gatekeeper"]

log = logging.getLogger(__name__)


class Gatekeeper:
    def __init__(
        self, store: Store, gates: Sequence[PromotionGate], workers: int = 2,
        answered: Callable[[], None] = lambda: None,
    ) -> None:
        """``answered`` is called (from a gate's thread) each time a verdict is in."""
        self.store = store
        self.gates = tuple(gates)
        self._on_answer = answered
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="gate")
        self._lock = threading.Lock()
        self._verdicts: dict[str, str | None] = {}
        self._asking: set[str] = set()

    def ask_due(self) -> None:
        """Ask the gates about each new generation of a mapping that waits for them, once
        one of its instances is healthy, unless they are being asked or have answered."""
        if not self.gates:
            return
        with self._lock:
            known = self._asking | set(self._verdicts)
        due: list[tuple[str, str, tuple[str, int]]] = []
        with self.store.reading() as session:
            for service in session.scalars(select(ServiceRow).where(ServiceRow.deployed)):
                if service.mapping == service.live_mapping:
                    continue
                live = shares(service.live_mapping)
                for generation_id in shares(service.mapping):
                    if generation_id in live or generation_id in known:
                        continue
                    handle = session.scalars(
                        select(InstanceRow.handle).where(
                            InstanceRow.generation_id == generation_id,
                            InstanceRow.state == State.HEALTHY.value,
                        )
                    ).first()
                    if handle:
                        due.append((service.id, generation_id, (handle["host"], handle["port"])))
        for service_id, generation_id, address in due:
            with self._lock:
                self._asking.add(generation_id)
            self._pool.submit(self._ask, service_id, generation_id, address)

    def answered(self, generation_ids: Sequence[str]) -> bool:
        """Whether every gate has answered for each of ``generation_ids``."""
        if not self.gates:
            return True
        with self._lock:
            return all(generation_id in self._verdicts for generation_id in generation_ids)

    def take(self, generation_id: str) -> str | None:
        """The problem a gate found with ``generation_id`` (None: let it serve), forgotten
        once taken."""
        with self._lock:
            return self._verdicts.pop(generation_id, None)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _ask(self, service_id: str, generation_id: str, address: tuple[str, int]) -> None:
        try:
            problem = None
            for gate in self.gates:
                problem = gate(self.store, service_id, generation_id, address)
                if problem is not None:
                    break
        except Exception:
            # Asked again on the next tick, as a gate must answer the same twice.
            log.exception("promotion gate of generation %s failed; asking again", generation_id)
            with self._lock:
                self._asking.discard(generation_id)
            return
        with self._lock:
            self._verdicts[generation_id] = problem
            self._asking.discard(generation_id)
        self._on_answer()
