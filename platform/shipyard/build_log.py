"""Build log lines, stored as they come so that followers see them live."""

from __future__ import annotations

import threading
import time

from shipyard.store import BuildLogRow, Store

__all__ = ["BuildLogWriter"]

FLUSH_INTERVAL = 0.1
MAX_LINE = 8192


class BuildLogWriter:
    """Collects a build's lines and stores them in batches, one transaction at most every
    ``FLUSH_INTERVAL`` seconds, numbered from 1. Use it as a context manager: leaving it
    stores whatever is left."""

    def __init__(self, store: Store, generation_id: str, *, start_seq: int = 0) -> None:
        self.store = store
        self.generation_id = generation_id
        self._seq = start_seq
        self._pending: list[BuildLogRow] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._flusher = threading.Thread(target=self._flush_periodically, daemon=True)

    def __enter__(self) -> BuildLogWriter:
        self._flusher.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._closed.set()
        self._flusher.join()
        self.flush()

    def __call__(self, line: str) -> None:
        with self._lock:
            self._seq += 1
            self._pending.append(BuildLogRow(
                generation_id=self.generation_id, seq=self._seq, at=time.time(),
                line=line.rstrip("\n")[:MAX_LINE],
            ))

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            with self.store.writing() as session:
                session.add_all(batch)

    def _flush_periodically(self) -> None:
        while not self._closed.wait(FLUSH_INTERVAL):
            self.flush()
