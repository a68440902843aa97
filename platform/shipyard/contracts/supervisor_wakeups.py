"""Waking the supervisor between its ticks.

The API, after it records a change the supervisor acts on (a deploy, a mapping, a switch,
a service's settings), and the supervisor's own threads (a build or a promotion gate that
ended) write a byte into a channel that the supervisor's loop waits on: the change is
acted on at once instead of at the next tick. The ticks still come; a wake-up only brings
the next one forward, and wake-ups that come while one is pending are one.

Between processes the channel is a FIFO in the run folder: its path may be as long as the
home's (a Unix socket's is capped at 107 bytes), and it is the home's, which only
Shipyard's user may enter (service code runs as another). Waking never blocks: with no
supervisor reading (ENXIO) or a FIFO already full of unread wake-ups (EAGAIN) there is
nothing more to do.

On a PostgreSQL store the API also sends ``NOTIFY shipyard_supervisor``, which a supervisor
on any machine hears (``DatabaseWakeups`` listens, and wakes the channel).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, text

__all__ = ["NOTIFY_CHANNEL", "DatabaseWakeups", "WakeupChannel", "notify_supervisor",
           "wake_supervisor"]

log = logging.getLogger(__name__)

_WAKE = b"!"
NOTIFY_CHANNEL = "shipyard_supervisor"
_RECONNECT_PAUSE = 1.0


def wake_supervisor(fifo: Path) -> None:
    """Wake the supervisor that reads ``fifo``, if one does."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return  # no supervisor reads it (now): its next start ticks anyway
    try:
        with contextlib.suppress(BlockingIOError):
            os.write(fd, _WAKE)
    finally:
        os.close(fd)


class WakeupChannel:
    """The supervisor's end: ``wait`` until woken or a timeout, ``wake`` from any thread.

    With a ``fifo`` path, other processes wake it too (``wake_supervisor``); without,
    it is a pipe of this process's own.
    """

    def __init__(self, fifo: Path | None = None) -> None:
        self.fifo = fifo
        if fifo is None:
            self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            return
        fifo.unlink(missing_ok=True)  # one a supervisor before this one made
        os.mkfifo(fifo, 0o600)
        self._read = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        # Held open by the reader itself, so that the FIFO never reads as closed (and
        # ready, forever) between two writers.
        self._write = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)

    def wake(self) -> None:
        if self._write < 0:
            return  # closed: the supervisor stopped
        with contextlib.suppress(BlockingIOError):
            os.write(self._write, _WAKE)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a wake-up; whether one came (every wake-up
        pending is taken)."""
        ready, _, _ = select.select([self._read], [], [], max(timeout, 0.0))
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 4096):
                pass
        return True

    def close(self) -> None:
        if self._read < 0:
            return
        os.close(self._read)
        os.close(self._write)
        self._read = self._write = -1
        if self.fifo is not None:
            self.fifo.unlink(missing_ok=True)


def notify_supervisor(engine: Engine) -> None:
    """Wake the supervisors of a PostgreSQL store, wherever they run (nothing for another
    store: its supervisor is on this machine, woken through the FIFO)."""
    if engine.dialect.name != "postgresql":
        return
    try:
        with engine.connect() as connection:
            connection.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
            connection.commit()
    except Exception as exc:  # the tick comes all the same
        log.warning("could not notify the supervisor: %s", exc)


class DatabaseWakeups:
    """Listens to ``NOTIFY_CHANNEL`` on a PostgreSQL store in a thread of its own, on a
    connection of its own (opened again after a break), and calls ``wake`` on each
    notification."""

    def __init__(self, engine: Engine, wake: Callable[[], None], poll: float = 0.5) -> None:
        self._url = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False)
        self._wake = wake
        self._poll = poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="notify", daemon=True)

    @classmethod
    def start_for(cls, engine: Engine, wake: Callable[[], None]) -> DatabaseWakeups | None:
        """Listening, on a PostgreSQL store; None on another."""
        if engine.dialect.name != "postgresql":
            return None
        listener = cls(engine, wake)
        listener._thread.start()
        return listener

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._poll * 4)

    def _listen(self) -> None:
        import psycopg  # only on a PostgreSQL store, whose driver it is

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self._wake()  # what was notified while it was not listening
                    while not self._stop.is_set():
                        for _ in connection.notifies(timeout=self._poll):
                            self._wake()
            except psycopg.Error as exc:
                log.warning("listening for the API's notifications failed (%s); again "
                            "in %g s, meanwhile the supervisor ticks as usual", exc,
                            _RECONNECT_PAUSE)
                self._stop.wait(_RECONNECT_PAUSE)
