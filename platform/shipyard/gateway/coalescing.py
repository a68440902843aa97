"""Writes that leave together: what the gateway sends while its loop handles one batch of
events goes out in one burst at the end of that batch, except the batch's first write,
which goes at once.

Under load the loop wakes up to tens of ready connections at a time. Written as each event
is handled, every write lands while its reader (the caller's client, an instance) has gone
back to sleep since the previous one, and the kernel wakes it again: on a 2-core machine
that wake-up was 15 % of the gateway's CPU (``perf``: ``sock_def_readable`` under the
gateway's ``write``). Written in a burst, a reader woken by the first of its sockets finds
the others ready. The first write of a batch is not held: a lone call (one connection)
waits for nothing.

Each transport's writes keep their order: all but the first wait in one list, written in
order. Whoever closes a transport or ends its writing (``write_eof``) calls ``flush``
first, so that nothing held is lost; a transport that closed meanwhile (aborted, or lost)
gets nothing more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["WriteCoalescer"]


class WriteCoalescer:
    """``call_soon`` is the loop's: it runs ``flush`` once the batch of events is handled
    (a benchmark that never lets the loop turn passes one that does nothing, and flushes
    by hand)."""

    def __init__(self, call_soon: Callable[[Callable[[], None]], Any]) -> None:
        self._call_soon = call_soon
        self._batch_open = False
        self._held: list[tuple[asyncio.WriteTransport, bytes]] = []

    def write(self, transport: asyncio.WriteTransport, data: bytes) -> None:
        if self._batch_open:
            self._held.append((transport, data))
            return
        # The first write since the loop last ran its ready callbacks: the batch's end is
        # when it runs them again.
        self._batch_open = True
        self._call_soon(self.flush)
        transport.write(data)

    def flush(self) -> None:
        """Write what is held, in order, now."""
        self._batch_open = False
        if not self._held:
            return
        held, self._held = self._held, []
        for transport, data in held:
            if not transport.is_closing():
                transport.write(data)
