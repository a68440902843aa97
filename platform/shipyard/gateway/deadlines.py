"""Coarse timeouts for many calls at once: one periodic check instead of a timer per call.

A call through the gateway may need three timeouts in a row (connecting, waiting for the
answer, waiting between pieces of it); with uvloop each timer is a libuv handle to
allocate and close. Here a call only sets a deadline and a callback, and one task checks
all of them every ``resolution`` seconds while any is pending, so a timeout fires up to
that much late.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["Deadlines"]


class Deadlines:
    def __init__(self, loop: asyncio.AbstractEventLoop, resolution: float = 0.05) -> None:
        self.loop = loop
        self.resolution = resolution
        self._pending: dict[object, tuple[float, Callable[[], None]]] = {}
        self._waiting = asyncio.Event()

    def set(self, owner: object, delay: float, expired: Callable[[], None]) -> None:
        """Call ``expired`` after ``delay`` seconds, unless ``clear(owner)`` comes first;
        replaces ``owner``'s previous deadline."""
        if not self._pending:
            self._waiting.set()
        self._pending[owner] = (self.loop.time() + delay, expired)

    def clear(self, owner: object) -> None:
        self._pending.pop(owner, None)

    def __contains__(self, owner: object) -> bool:
        return owner in self._pending

    async def run(self) -> None:
        """Fire expired deadlines forever; cancel to stop."""
        while True:
            if not self._pending:
                # Nothing to watch: no wake-ups until something is.
                self._waiting.clear()
                await self._waiting.wait()
            await asyncio.sleep(self.resolution)
            self.fire(self.loop.time())

    def fire(self, now: float) -> None:
        expired = [(owner, callback) for owner, (deadline, callback) in self._pending.items()
                   if deadline <= now]
        for owner, callback in expired:
            # A callback may have cleared or replaced another's deadline meanwhile.
            current = self._pending.get(owner)
            if current is not None and current[1] is callback and current[0] <= now:
                del self._pending[owner]
                callback()
