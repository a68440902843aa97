"""Following the routing table file: reloaded when its inode, size or mtime changes.

The supervisor replaces the file atomically, so every change brings a new inode. The file
is checked as soon as something is moved into its folder (Linux's inotify, where the
kernel offers it), and every ``interval`` seconds whatever happens (the only way on a
file system that sends no events); it is read and parsed in a worker thread, so no
request ever waits on it. A file that cannot be used is logged and the previous table
kept; so is a file that disappears.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
from collections.abc import Callable
from pathlib import Path

from shipyard.contracts.routing_table import RoutingTable, RoutingTableError

__all__ = ["FolderEvents", "TableWatcher"]

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
        loop = asyncio.get_running_loop()
        moved_in = asyncio.Event()
        events = FolderEvents.open(self.path.parent)
        if events is not None:
            loop.add_reader(events.fd, lambda: (events.drain(), moved_in.set()))
        try:
            while True:
                # Not asyncio.wait_for, which in Python 3.11 can swallow the cancellation
                # that stops the gateway when its timeout or the event comes at that moment.
                timer = loop.call_later(self.interval, moved_in.set)
                try:
                    await moved_in.wait()
                finally:
                    timer.cancel()
                moved_in.clear()
                await self._check()
        finally:
            if events is not None:
                loop.remove_reader(events.fd)
                events.close()

    async def _check(self) -> None:
        key = self._file_key()
        if key is None:
            self._log_missing()
            return
        self._missing_logged = False
        if key == self._key:
            return
        self._key = key
        try:
            table = await asyncio.to_thread(RoutingTable.load, self.path)
        except RoutingTableError as exc:
            log.error("routing table not reloaded, the previous one stays: %s", exc)
            return
        self.apply(table)
        log.info("routing table reloaded: %d services (serial %d)", len(table.services),
                 table.serial)

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


# <sys/inotify.h>
_IN_CLOSE_WRITE = 0x008
_IN_MOVED_TO = 0x080
_IN_CREATE = 0x100


class FolderEvents:
    """A descriptor that turns readable when a file in one folder is created, written or
    moved in (Linux's inotify, through the C library: no package wraps it in the
    standard library)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def open(cls, folder: Path) -> FolderEvents | None:
        """Events of ``folder``, or None where the kernel or C library has no inotify."""
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            init, add_watch = libc.inotify_init1, libc.inotify_add_watch
        except (OSError, AttributeError):
            return None
        fd = init(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            log.warning("no inotify (%s): the routing table is looked at every interval",
                        os.strerror(ctypes.get_errno()))
            return None
        if add_watch(fd, os.fsencode(folder), _IN_CLOSE_WRITE | _IN_MOVED_TO | _IN_CREATE) < 0:
            log.warning("cannot watch %s (%s): the routing table is looked at every "
                        "interval", folder, os.strerror(ctypes.get_errno()))
            os.close(fd)
            return None
        return cls(fd)

    def drain(self) -> None:
        """Read the pending events (which file they were about does not matter)."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self.fd, 65536):
                pass

    def close(self) -> None:
        os.close(self.fd)
