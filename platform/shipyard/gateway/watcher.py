"""Following the routing table file: reloaded when its inode, size or mtime changes.

The supervisor replaces the file atomically, so every change brings a new inode. The file
is checked every ``interval`` seconds; it is read and parsed in a worker thread, so no
request ever waits on it. A file that cannot be used is logged and the previous table
kept; so is a file that disappears.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from shipyard.contracts.routing_table import RoutingTable, RoutingTableError

__all__ = ["TableWatcher"]

log = logging.getLogger(__name__)

_FileKey = tuple[int, int, int]


class TableWatcher:
    def __init__(
        self, path: Path, interval: float, apply: Callable[[RoutingTable], None]
    ) -> None:
        self.path = path
        self.interval = interval
        self.apply = apply
        self._key: _FileKey | None = None
        self._missing_logged = False

    def load_now(self) -> None:
        """Load the table once, synchronously (at start, before serving)."""
        key = self._file_key()
        if key is None:
            self._log_missing()
            return
        self._key = key
        try:
            table = RoutingTable.load(self.path)
        except RoutingTableError as exc:
            log.error("routing table not loaded: %s", exc)
            return
        self.apply(table)

    async def run(self) -> None:
        """Check the file forever; cancel to stop."""
        while True:
            await asyncio.sleep(self.interval)
            key = self._file_key()
            if key is None:
                self._log_missing()
                continue
            self._missing_logged = False
            if key == self._key:
                continue
            self._key = key
            try:
                table = await asyncio.to_thread(RoutingTable.load, self.path)
            except RoutingTableError as exc:
                log.error("routing table not reloaded, the previous one stays: %s", exc)
                continue
            self.apply(table)
            log.info("routing table reloaded: %d services", len(table.services))

    def _file_key(self) -> _FileKey | None:
        try:
            found = os.stat(self.path)
        except OSError:
            return None
        return (found.st_ino, found.st_size, found.st_mtime_ns)

    def _log_missing(self) -> None:
        if not self._missing_logged:
            self._missing_logged = True
            log.warning("routing table %s does not exist (yet); the last one read stays",
                        self.path)
