"""The supervisor's health checks of its started instances: which are due a probe, the
probes themselves, made side by side, and what their answers mean for the routing table.

A probe that gets no answer waits for the runner's timeout (2 s). Made one after the
other, a single instance that hangs held up every tick of the supervisor by that much,
and with it every other service's starts, promotions and routes; made side by side, it
holds up its own probe only.

An instance answers its probe on the same threads as its calls, so one that is merely
busy (a slow challenger flooded with copies, a long batch of predictions) misses probes
too. A healthy instance therefore stays in the routing table until it has missed
``missed_allowed`` probes in a row; taking it out at the first one made a busy instance
flap in and out while it worked. One that exited is out at once.

Between two ticks the supervisor watches its starting instances, to start the next tick
as soon as one answers (``watch_starting``). Those probes are made side by side in the
background too: a starting instance whose socket accepts before gunicorn answers (its
model still loading) holds up only its own probe, never the supervisor's wake-ups or the
other instances' probes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from shipyard.errors import ShipyardError
from shipyard_runners import InstanceHandle, State

__all__ = ["HealthChecks"]

log = logging.getLogger(__name__)

_PROBES_AT_ONCE = 16


class HealthChecks:
    """``probe`` is the runner's ``health``. A healthy instance is probed every
    ``interval`` seconds, any other started one at every check."""

    def __init__(
        self, probe: Callable[[InstanceHandle], State], *, interval: float,
        missed_allowed: int,
    ) -> None:
        self.probe = probe
        self.interval = interval
        self.missed_allowed = missed_allowed
        self._last: dict[str, float] = {}
        # The probes each healthy instance has missed in a row (only those missing some).
        self._missed: dict[str, int] = {}
        self._pool = ThreadPoolExecutor(_PROBES_AT_ONCE, thread_name_prefix="probe")
        # The probe under way for each starting instance watched (``watch_starting``).
        self._starting: dict[str, Future[bool]] = {}

    def check(self, started: Iterable[tuple[str, str, Mapping[str, Any]]]) -> dict[str, State]:
        """The health of each of the ``started`` instances (id, stored state, handle) that
        is due a probe, where it is news for the routing table: a healthy instance that
        missed fewer probes in a row than allowed is left out (it stays as it is)."""
        now = time.monotonic()
        due: list[tuple[str, str, InstanceHandle]] = []
        for instance_id, state, handle in started:
            last = self._last.get(instance_id)
            if state == State.HEALTHY.value and last is not None and now - last < self.interval:
                continue
            self._last[instance_id] = now
            due.append((instance_id, state, InstanceHandle.from_dict(handle)))
        answers = self._pool.map(self.probe, [handle for _, _, handle in due])
        found: dict[str, State] = {}
        for (instance_id, state, _), health in zip(due, answers, strict=True):
            if state == State.HEALTHY.value and health == State.UNHEALTHY:
                missed = self._missed.get(instance_id, 0) + 1
                if missed < self.missed_allowed:
                    self._missed[instance_id] = missed
                    log.info("instance %s missed its health probe (%d in a row)",
                             instance_id, missed)
                    continue
                log.warning("instance %s missed %d health probes in a row: out of the "
                            "routing table until it answers", instance_id, missed)
            self._missed.pop(instance_id, None)
            found[instance_id] = health
        return found

    def watch_starting(self, starting: Mapping[str, InstanceHandle],
                       answered: Callable[[], None]) -> None:
        """Probe each of the ``starting`` instances that no probe is under way for, in the
        background; ``answered()`` is called from the probe's thread once one of them
        answers healthy. Called again, it probes again those whose probe has ended
        without an answer."""
        for instance_id, probe in list(self._starting.items()):
            if probe.done():
                del self._starting[instance_id]
        for instance_id, handle in starting.items():
            if instance_id in self._starting:
                continue
            probe = self._pool.submit(self._answers, handle)
            self._starting[instance_id] = probe
            probe.add_done_callback(
                lambda done: answered() if not done.cancelled() and done.result() else None)

    def _answers(self, handle: InstanceHandle) -> bool:
        """Whether a starting instance answers healthy (one whose runner cannot tell now
        is left to the tick, which records why)."""
        try:
            return self.probe(handle) == State.HEALTHY
        except ShipyardError:
            return False

    def forget(self, instance_id: str) -> None:
        """An instance is gone: its next probe, if it comes back under this id, is due."""
        self._last.pop(instance_id, None)
        self._missed.pop(instance_id, None)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
