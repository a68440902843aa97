"""Build log lines, stored as they come so that followers see them live."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shipyard.errors import ShipyardError
from shipyard.store import BuildLogRow, Store

__all__ = ["BuildLogWriter", "append_line"]

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.1
MAX_LINE = 8192


class BuildLogWriter:
    """Collects a build's lines and stores them in batches, one transaction at most every
    ``FLUSH_INTERVAL`` seconds, numbered on from the generation's last stored line (a
    build started again after a crash appends to what its first attempt logged). Use it
    as a context manager: leaving it stores whatever is left. A batch the database
    refuses (locked, full) is kept and tried again, never lost to a dead thread."""

    def __init__(self, store: Store, generation_id: str) -> None:
        self.store = store
        self.generation_id = generation_id
        with store.reading() as session:
            self._seq = _last_seq(session, generation_id)
        self._first_seq = self._seq
        self._pending: list[BuildLogRow] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._flusher = threading.Thread(target=self._flush_periodically, daemon=True)

    @property
    def resumed(self) -> bool:
        """Whether lines of an earlier attempt of this build were stored already."""
        return self._first_seq > 0

    def __enter__(self) -> BuildLogWriter:
        self._flusher.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._closed.set()
        self._flusher.join()
        try:
            self.flush()
        except Exception:
            log.exception("the last lines of the build log of %s are lost", self.generation_id)

    def __call__(self, line: str) -> None:
        with self._lock:
            self._seq += 1
            self._pending.append(BuildLogRow(
                generation_id=self.generation_id, seq=self._seq, at=time.time(),
                line=line.rstrip("\n")[:MAX_LINE],
            ))

    def flush(self) -> None:
        """Store the lines collected so far; when the database is unavailable they stay
        for the next flush (raising ``Unavailable``)."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            with self.store.writing() as session:
                session.add_all(batch)
        except ShipyardError:
            with self._lock:
                self._pending[:0] = [_copy(row) for row in batch]
            raise

    def _flush_periodically(self) -> None:
        while not self._closed.wait(FLUSH_INTERVAL):
            try:
                self.flush()
            except ShipyardError as exc:
                log.warning("build log of %s not stored yet (%s); trying again",
                            self.generation_id, exc.message)
            except Exception:
                log.exception("lines of the build log of %s are lost", self.generation_id)


def append_line(session: Session, generation_id: str, line: str) -> None:
    """Add one line to a generation's build log, in ``session`` (no build writes it)."""
    session.add(BuildLogRow(generation_id=generation_id, seq=_last_seq(session, generation_id) + 1,
                            at=time.time(), line=line[:MAX_LINE]))


def _last_seq(session: Session, generation_id: str) -> int:
    return session.scalar(
        select(func.coalesce(func.max(BuildLogRow.seq), 0))
        .where(BuildLogRow.generation_id == generation_id)
    ) or 0


def _copy(row: BuildLogRow) -> BuildLogRow:
    """A fresh row with ``row``'s values (a row a failed session had is not reusable)."""
    return BuildLogRow(generation_id=row.generation_id, seq=row.seq, at=row.at, line=row.line)
