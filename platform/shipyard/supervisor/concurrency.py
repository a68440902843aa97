"""How many calls each generation of each service had in flight, on average, over the last
seconds: the load the autoscaler scales on.

It is read from the query log's rows as they are stored, whichever node ingested them
(``query_log_follower``), by Little's law: the time calls spent in flight within a window,
divided by the window's length, is the average number in flight. A call counts once it
has ended, its gateway has flushed its spool and its node ingested it (a second or two);
a call still running does not count yet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["ConcurrencyMeter"]

Key = tuple[str, str]
"""(service id, generation tag)"""


class ConcurrencyMeter:
    def __init__(self, horizon: float = 180.0) -> None:
        self.horizon = horizon
        self._busy: dict[Key, dict[int, float]] = {}
        """Per generation: seconds spent in flight by its calls within each second."""

    def observe(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Count ingested ``query_log`` rows (``at`` a datetime, ``latency_ms``); calls
        that reached no generation are not load on one."""
        for row in rows:
            generation = row.get("generation")
            if generation is None:
                continue
            start = row["at"].timestamp()
            self.add((row["service_id"], generation), start, row["latency_ms"] / 1000.0)

    def add(self, key: Key, start: float, duration: float) -> None:
        """A call of ``key`` in flight from ``start`` for ``duration`` seconds."""
        seconds = self._busy.setdefault(key, {})
        end = start + max(duration, 0.0)
        second = math.floor(start)
        while second < end:
            overlap = min(end, second + 1) - max(start, second)
            seconds[second] = seconds.get(second, 0.0) + overlap
            second += 1

    def average(self, key: Key, window: float, now: float) -> float:
        """The average number of calls of ``key`` in flight over the ``window`` seconds
        before ``now``."""
        seconds = self._busy.get(key)
        if not seconds or window <= 0:
            return 0.0
        first = math.floor(now - window)
        last = math.floor(now)
        total = sum(busy for second, busy in seconds.items() if first <= second < last)
        return total / window

    def prune(self, now: float) -> None:
        """Forget what is older than the horizon (and the generations with nothing left)."""
        oldest = math.floor(now - self.horizon)
        for key in list(self._busy):
            seconds = self._busy[key]
            for second in [second for second in seconds if second < oldest]:
                del seconds[second]
            if not seconds:
                del self._busy[key]
