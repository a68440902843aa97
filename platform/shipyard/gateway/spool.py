"""``QuerySpool``: the gateway's side of the query log, batched off the hot path.

``submit`` runs on the gateway's event loop for every call, once its answer has left. A
call that keeps no body (most calls) has its short line made there and then
(``query_entries.plain_line``, a few microseconds); any other call's record waits as it is.
A thread of the spool's own wakes every ``flush_interval`` seconds, makes the waiting
records' lines (``query_entries.spool_line``: bodies, base64, association ids) and writes
every waiting line as one new file: ``<pid>-<token>-<seq>.jsonl.part``, written in a few
large writes, fsynced, then renamed to ``.jsonl``. A ``.jsonl`` file is therefore always
complete, and the ingester (``ingest_spool``, run by the supervisor) never sees one half
written.

Why the plain lines are not made in the thread: the loop and the thread share one
interpreter lock, and a thread that wants it back after each write while the loop is busy
makes them hand it over thousands of times a second (one or two futex calls a call at
15,000 calls/s). That cost the gateway 23 us of CPU a call at 32 connections on 2 cores,
four times what making the line costs the loop (``bench/gateway.py``).

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

from shipyard.contracts.query_entries import needs_bodies, plain_line, spool_line
from shipyard.contracts.query_record import QueryRecord

__all__ = ["PART_SUFFIX", "SPOOL_SUFFIX", "QuerySpool"]

log = logging.getLogger(__name__)

SPOOL_SUFFIX = ".jsonl"
PART_SUFFIX = ".jsonl.part"
MAX_RETAINED = 100_000
"""Records kept in memory while writes fail, before the oldest are dropped."""
LINES_PER_WRITE = 512


class QuerySpool:
    def __init__(self, directory: Path, *, flush_interval: float = 1.0) -> None:
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.flush_interval = flush_interval
        self._pending: deque[bytes | QueryRecord] = deque()
        self._prefix = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._seq = 0
        self._writing = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="query-spool", daemon=True)
        self._thread.start()

    def submit(self, record: QueryRecord) -> None:
        """Queue ``record``'s line, or the record when its line costs more (see the module)."""
        if needs_bodies(record):
            self._pending.append(record)
            return
        try:
            line = plain_line(record).encode("ascii")
        except (TypeError, ValueError):  # the thread drops it, and logs why
            self._pending.append(record)
        else:
            self._pending.append(line)

    def flush(self) -> int:
        """Write the waiting records now, as one file; how many were written."""
        with self._writing:
            count = len(self._pending)
            if not count:
                return 0
            # popleft and append are atomic, so submit needs no lock against this.
            waiting = [self._pending.popleft() for _ in range(count)]
            lines, written = [], []
            for item in waiting:
                if type(item) is bytes:
                    lines.append(item)
                    written.append(item)
                    continue
                try:
                    lines.append(spool_line(item).encode("ascii"))
                except (TypeError, ValueError):
                    log.exception("dropped a query record that is not serializable: %r", item)
                else:
                    written.append(item)
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

    def _write(self, lines: list[bytes]) -> None:
        if not lines:
            return
        self._seq += 1
        name = f"{self._prefix}-{self._seq:08d}"
        part = self.directory / (name + PART_SUFFIX)
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            with part.open("wb") as sink:
                # Each write takes the interpreter back from the loop once: a few large
                # ones, not one per buffer's worth, nor one join that holds it for long.
                for start in range(0, len(lines), LINES_PER_WRITE):
                    sink.write(b"".join(lines[start:start + LINES_PER_WRITE]))
                sink.flush()
                os.fsync(sink.fileno())
            part.replace(self.directory / (name + SPOOL_SUFFIX))
        except OSError:
            # Its records are kept for the next flush: a half-written copy must not stay.
            with contextlib.suppress(OSError):
                part.unlink()
            raise
        _sync_directory(self.directory)

    def _retain(self, waiting: list[bytes | QueryRecord]) -> None:
        self._pending.extendleft(reversed(waiting))
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
