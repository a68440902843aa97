"""``QuerySpool``: the gateway's side of the query log, batched off the hot path.

``submit`` runs on the gateway's event loop for every call and only appends the record to
a deque. A thread of the spool's own wakes every ``flush_interval`` seconds, turns the
waiting records into JSON lines (``entries.spool_line``) and writes them as one new file:
``<pid>-<token>-<seq>.jsonl.part``, flushed and fsynced, then renamed to ``.jsonl``. A
``.jsonl`` file is therefore always complete, and the ingester (``ingest_spool``, run by
the supervisor) never sees one half written.

What a stop or a crash loses:

- ``close()`` (a clean stop) writes everything submitted before it: nothing is lost.
- A crash of the process loses the records submitted since the last flush, so at most the
  last ``flush_interval`` seconds of calls (one second by default), plus a batch whose
  write the crash interrupted (its ``.part`` file, which the ingester salvages later).
- A failed write (a full disk) keeps its records for the next flush, up to
  ``MAX_RETAINED`` of them; past that, the oldest are dropped with a logged error.

A spool belongs to one process: make it in the process that submits (after a fork, not
before), since its thread does not survive a fork.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from collections import deque
from pathlib import Path

from shipyard.contracts.query_entries import spool_line
from shipyard.contracts.query_record import QueryRecord

__all__ = ["PART_SUFFIX", "SPOOL_SUFFIX", "QuerySpool"]

log = logging.getLogger(__name__)

SPOOL_SUFFIX = ".jsonl"
PART_SUFFIX = ".jsonl.part"
MAX_RETAINED = 100_000
"""Records kept in memory while writes fail, before the oldest are dropped."""


class QuerySpool:
    def __init__(self, directory: Path, *, flush_interval: float = 1.0) -> None:
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.flush_interval = flush_interval
        self._pending: deque[QueryRecord] = deque()
        self._prefix = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._seq = 0
        self._writing = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="query-spool", daemon=True)
        self._thread.start()

    def submit(self, record: QueryRecord) -> None:
        """Queue ``record``; called on the gateway's event loop, so it does nothing else."""
        self._pending.append(record)

    def flush(self) -> int:
        """Write the waiting records now, as one file; how many were written."""
        with self._writing:
            count = len(self._pending)
            if not count:
                return 0
            # popleft and append are atomic, so submit needs no lock against this.
            records = [self._pending.popleft() for _ in range(count)]
            lines, written = [], []
            for record in records:
                try:
                    lines.append(spool_line(record))
                except (TypeError, ValueError):
                    log.exception("dropped a query record that is not serializable: %r", record)
                else:
                    written.append(record)
            try:
                self._write(lines)
            except OSError:
                log.exception("could not write %d query records; keeping them", len(lines))
                self._retain(written)  # not those just dropped
                return 0
            return len(lines)

    def close(self) -> None:
        """Stop the thread and write what is left (a clean stop loses nothing)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()

    def __enter__(self) -> QuerySpool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush()
            except Exception:  # the thread must outlive any one bad batch
                log.exception("query spool flush failed")

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        self._seq += 1
        name = f"{self._prefix}-{self._seq:08d}"
        part = self.directory / (name + PART_SUFFIX)
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            with part.open("w", encoding="ascii") as sink:
                sink.writelines(lines)
                sink.flush()
                os.fsync(sink.fileno())
            part.replace(self.directory / (name + SPOOL_SUFFIX))
        except OSError:
            # Its records are kept for the next flush: a half-written copy must not stay.
            with contextlib.suppress(OSError):
                part.unlink()
            raise
        _sync_directory(self.directory)

    def _retain(self, records: list[QueryRecord]) -> None:
        self._pending.extendleft(reversed(records))
        excess = len(self._pending) - MAX_RETAINED
        if excess > 0:
            for _ in range(excess):
                self._pending.popleft()
            log.error("dropped the %d oldest query records: their writes keep failing", excess)


def _sync_directory(directory: Path) -> None:
    """Make a rename survive a power cut as well as a crash (where the OS allows it)."""
    with contextlib.suppress(OSError):
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
