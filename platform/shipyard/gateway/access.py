"""The access log: one line per call through the gateway, on the
``shipyard.gateway.access`` logger.

A line names the service (``api`` for the control plane, ``-`` when the request named
none that exists), the generation that served, the method, the path without its query
string, the status, the latency, the body bytes answered and the request id; never a
header or a query string, which may carry secrets. A call the client gave up on before
its answer ended is logged with status 499.

Logging a call must cost little next to forwarding it, so each line is an
``AccessRecord`` (a ``LogRecord`` that skips the caller, thread and process lookups), and
``BatchingHandler`` formats and writes the waiting records in one go, twice a
second, rather than one system call per line, with ``AccessFormatter``, which formats the
time once per second rather than once per line.
"""

from __future__ import annotations

import logging
import time
from typing import Any, TextIO

__all__ = [
    "CLIENT_GONE", "AccessFormatter", "AccessRecord", "BatchingHandler", "access_log",
    "log_call",
]

CLIENT_GONE = 499

access_log = logging.getLogger("shipyard.gateway.access")

_FORMAT = ("service=%s generation=%s method=%s path=%s status=%d latency_ms=%.2f bytes=%d "
           "request_id=%s")
_START = time.time()


class AccessRecord(logging.LogRecord):
    """A ``LogRecord`` with every standard attribute, built without the lookups a record
    for an arbitrary call site needs."""

    def __init__(self, args: tuple[Any, ...]) -> None:
        # Sets every attribute LogRecord.__init__ sets, without calling it.
        created = time.time()
        self.name = access_log.name
        self.msg = _FORMAT
        self.args = args
        self.levelname = "INFO"
        self.levelno = logging.INFO
        self.pathname = __file__
        self.filename = "access.py"
        self.module = "access"
        self.exc_info = None
        self.exc_text = None
        self.stack_info = None
        self.lineno = 0
        self.funcName = "log_call"
        self.created = created
        self.msecs = int((created - int(created)) * 1000) + 0.0
        self.relativeCreated = (created - _START) * 1000
        self.thread = None
        self.threadName = None
        self.processName = None
        self.process = None
        self.taskName = None


def log_call(
    service: str,
    generation: str | None,
    method: bytes,
    target: bytes,
    status: int,
    latency: float,
    sent: int,
    request_id: bytes,
) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    path = target.split(b"?", 1)[0].decode("latin-1")
    access_log.handle(AccessRecord((
        service, generation or "-", method.decode("latin-1"), path, status,
        latency * 1000.0, sent, request_id.decode("latin-1"),
    )))


class BatchingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Keeps records and formats and writes them together: when ``capacity`` are
    waiting, on ``flush()`` (which the gateway calls twice a second), and on
    ``close()``."""

    def __init__(self, stream: TextIO, capacity: int = 512) -> None:
        super().__init__(stream)
        self.capacity = capacity
        self._records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self._records.append(record)
        if len(self._records) >= self.capacity:
            self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if not self._records:
                return
            records, self._records = self._records, []
            lines = []
            for record in records:
                try:
                    lines.append(self.format(record))
                except Exception:
                    self.handleError(record)
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass


class AccessFormatter(logging.Formatter):
    """A ``Formatter`` that formats a second's time once (``formatTime`` is a third of the
    cost of a line, and the access log writes many lines a second); the milliseconds are
    added to each line as ``logging.Formatter`` does."""

    def __init__(self, fmt: str | None = None) -> None:
        super().__init__(fmt)
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        return self.default_msec_format % (self._stamp, record.msecs)
