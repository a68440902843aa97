"""Which replica of a generation takes a call: the one with the fewest calls in flight
from this gateway worker (least outstanding requests), taking turns among equals, and not
one found dead a moment ago.

A replica counts as dead for ``DOWN_SECONDS`` after a connection to it was refused (its
process is gone: the supervisor takes it out of the routing table at its next health
check, and its calls go to the others meanwhile). When every replica is down, the least
loaded is chosen all the same: refusing the call would not help it.

Each gateway worker counts its own calls: with several workers, each balances its share.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from shipyard.contracts.routing_table import Upstream

__all__ = ["DOWN_SECONDS", "Balancer"]

DOWN_SECONDS = 5.0

Address = tuple[str, int]


class Balancer:
    __slots__ = ("_clock", "_down", "_outstanding", "_turn")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._outstanding: dict[Address, int] = {}
        self._down: dict[Address, float] = {}
        self._turn = 0

    def choose(self, upstreams: tuple[Upstream, ...], avoid: Address | None = None
               ) -> Upstream | None:
        """The replica to call among ``upstreams`` (not empty); None only when ``avoid``
        is the one there is."""
        count = len(upstreams)
        if count == 1:
            only = upstreams[0]
            return None if only.address == avoid else only
        outstanding, down = self._outstanding, self._down
        now = self._clock() if down else 0.0
        self._turn = start = (self._turn + 1) % count
        best: Upstream | None = None
        best_load = 0
        fallback: Upstream | None = None
        fallback_load = 0
        for offset in range(count):
            upstream = upstreams[(start + offset) % count]
            address = upstream.address
            if address == avoid:
                continue
            load = outstanding.get(address, 0)
            if down and down.get(address, 0.0) > now:
                if fallback is None or load < fallback_load:
                    fallback, fallback_load = upstream, load
                continue
            if best is None or load < best_load:
                best, best_load = upstream, load
                if not load:
                    break
        return best if best is not None else fallback

    def started(self, address: Address) -> None:
        self._outstanding[address] = self._outstanding.get(address, 0) + 1

    def ended(self, address: Address) -> None:
        left = self._outstanding.get(address, 0) - 1
        if left > 0:
            self._outstanding[address] = left
        else:
            self._outstanding.pop(address, None)

    def outstanding(self, address: Address) -> int:
        return self._outstanding.get(address, 0)

    def mark_down(self, address: Address, seconds: float = DOWN_SECONDS) -> None:
        self._down[address] = self._clock() + seconds

    def is_down(self, address: Address) -> bool:
        return self._down.get(address, 0.0) > self._clock()

    def keep_only(self, addresses: Iterable[Address]) -> None:
        """Forget the replicas a new routing table no longer lists (their calls in flight
        still end)."""
        live = set(addresses)
        for address in [address for address in self._down if address not in live]:
            del self._down[address]
