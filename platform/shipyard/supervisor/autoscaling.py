"""How many replicas each generation that takes traffic should run, from the load the
gateways see (Knative's model).

The load is a generation's calls in flight, on average (``supervisor.concurrency``), and
the aim is ``target_concurrency`` of them per replica:

- **Stable mode**: the replicas wanted are the average over the stable window (60 s)
  divided by the target, rounded up.
- **Panic mode**, for bursts: when the average over the panic window (6 s) wants at least
  twice the replicas running, the panic window's figure rules, and no replica is dropped,
  until a whole stable window has passed without such a burst.
- **Scale-down delay**: fewer replicas only once fewer were wanted for the whole delay
  (30 s): the most wanted within it is kept.
- A generation it has watched for less than a stable window does not shrink: its window
  is not full yet (after a deploy, or when the supervisor has just started or taken over).
- The result is bounded by the service's ``min_replicas`` and ``max_replicas``; zero only
  when ``min_replicas`` is 0 and no call came for the whole stable window.

Every decision says why in one line, which the supervisor logs and keeps on the generation
(``services get`` shows it).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from shipyard.domain.replicas import replica_count
from shipyard.supervisor.concurrency import ConcurrencyMeter, Key

__all__ = ["Autoscaler", "Decision", "ScalingPolicy"]


@dataclass(frozen=True)
class ScalingPolicy:
    stable_window: float = 60.0
    panic_window: float = 6.0
    panic_threshold: float = 2.0
    """Panic when the panic window wants this many times the replicas running."""
    scale_down_delay: float = 30.0


@dataclass(frozen=True)
class Decision:
    replicas: int
    reason: str


class Autoscaler:
    def __init__(self, meter: ConcurrencyMeter, policy: ScalingPolicy | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.meter = meter
        self.policy = policy or ScalingPolicy()
        self._clock = clock
        self._watched_since: dict[str, float] = {}
        self._panic_until: dict[str, float] = {}
        self._wanted: dict[str, deque[tuple[float, int]]] = {}

    def decide(self, generation_id: str, load: Key, running: int, low: int, high: int,
               target: float) -> Decision:
        """The replicas generation ``generation_id`` (whose calls are counted under
        ``load``) should run, now that it runs ``running``, within ``[low, high]``."""
        policy = self.policy
        now = self._clock()
        since = self._watched_since.setdefault(generation_id, now)
        stable = self.meter.average(load, policy.stable_window, now)
        burst = self.meter.average(load, policy.panic_window, now)
        for_stable = _needed(stable, target)
        for_burst = _needed(burst, target)
        if for_burst > running and for_burst >= policy.panic_threshold * max(running, 1):
            self._panic_until[generation_id] = now + policy.stable_window
        if now < self._panic_until.get(generation_id, 0.0):
            wanted = max(for_burst, running)
            why = (f"panic: {burst:.2f} calls in flight on average over the last "
                   f"{policy.panic_window:g}s")
        else:
            self._panic_until.pop(generation_id, None)
            wanted = for_stable
            why = (f"{stable:.2f} calls in flight on average over the last "
                   f"{policy.stable_window:g}s")
        why += f", {target:g} per replica wanted"
        if now - since < policy.stable_window and wanted < running:
            wanted = running
            why += f"; keeps {running} until it has watched a whole window"
        history = self._wanted.setdefault(generation_id, deque())
        history.append((now, wanted))
        # The first entry left is the want in force when the delay began.
        while len(history) > 1 and history[1][0] <= now - policy.scale_down_delay:
            history.popleft()
        held = max(count for _, count in history)
        if held > wanted:
            why += f"; keeps {held} for the {policy.scale_down_delay:g}s scale-down delay"
        bounded = min(high, max(low, held))
        if bounded != held:
            why += f"; within min_replicas {low} and max_replicas {high}"
        return Decision(bounded, f"{replica_count(bounded)}: {why}")

    def watch_again(self, generation_id: str) -> None:
        """Start over with ``generation_id`` (woken from zero): it keeps what it is given
        for a whole window, whatever its past."""
        for kept in (self._watched_since, self._panic_until, self._wanted):
            kept.pop(generation_id, None)

    def forget(self, generation_ids: set[str]) -> None:
        """Drop what it keeps about the generations not in ``generation_ids``."""
        for kept in (self._watched_since, self._panic_until, self._wanted):
            for generation_id in [g for g in kept if g not in generation_ids]:
                del kept[generation_id]


def _needed(in_flight: float, target: float) -> int:
    # A hair under a whole number of replicas' worth is that number, not one more.
    return math.ceil(in_flight / target - 1e-9)
