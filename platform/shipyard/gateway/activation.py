"""Calls held for a service scaled to zero, until a replica of it serves.

A service with ``min_replicas`` 0 runs no replica after a while without calls; its route
says so (``scaled_to_zero``). A call to it is then held, not refused: the gateway asks the
supervisor for a replica (it writes a file named after the service in the demand folder,
at most twice a second per service, and wakes the supervisor), and each time the routing
table changes it tries the held calls again; a call that finds a replica goes on as any
other. One still held after the upstream timeout is answered 503, saying why.

The demand folder is on this machine (``run/demand``), as the supervisor's wake-up FIFO is.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.contracts.supervisor_wakeups import wake_supervisor

if TYPE_CHECKING:
    from shipyard.gateway.exchange import Exchange

__all__ = ["ASK_INTERVAL", "ReplicaDemand"]

log = logging.getLogger(__name__)

ASK_INTERVAL = 0.5
"""The least time between two asks for the same service."""
_FILE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ReplicaDemand:
    def __init__(self, folder: Path, wake_fifo: Path | None = None) -> None:
        self.folder = folder
        self.wake_fifo = wake_fifo
        self._held: dict[str, list[Exchange]] = {}
        self._asked: dict[str, float] = {}

    def hold(self, service_id: str, exchange: Exchange) -> None:
        """Keep ``exchange`` until its service has a replica; ask for one."""
        self._held.setdefault(service_id, []).append(exchange)
        self._ask(service_id)

    def table_changed(self) -> None:
        """Try every held call again; ask again for those still without a replica."""
        for service_id, exchanges in list(self._held.items()):
            waiting = [exchange for exchange in exchanges if not exchange.resume()]
            if waiting:
                self._held[service_id] = waiting
                self._ask(service_id)
            else:
                del self._held[service_id]

    def _ask(self, service_id: str) -> None:
        now = time.monotonic()
        if now - self._asked.get(service_id, -ASK_INTERVAL) < ASK_INTERVAL:
            return
        self._asked[service_id] = now
        if not _FILE_NAME.match(service_id):  # ids are the supervisor's: never a path
            log.warning("cannot ask for a replica of %r: not a service id", service_id)
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            demand = self.folder / service_id
            demand.write_text(f"{time.time():.3f}\n")
        except OSError as exc:
            log.warning("cannot ask for a replica of %s: %s", service_id, exc)
            return
        if self.wake_fifo is not None:
            with contextlib.suppress(OSError):
                wake_supervisor(self.wake_fifo)
