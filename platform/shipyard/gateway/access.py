"""The access log: one line per call through the gateway, on the
``shipyard.gateway.access`` logger.

A line names the service (``api`` for the control plane, ``-`` when the request named
none that exists), the generation that served, the method, the path without its query
string, the status, the latency, the body bytes answered and the request id; never a
header or a query string, which may carry secrets. A call the client gave up on before
its answer ended is logged with status 499.

Logging a call must cost little next to forwarding it. ``BatchingHandler`` formats and
writes the waiting lines in one go, twice a second, rather than one system call per line,
and ``AccessFormatter`` formats a second's time once rather than once per line. While that
handler, so formatted, is the logger's only one (as the gateway's process sets it up,
``log_to``), a call is handed to it as its bare fields, without a ``LogRecord`` or the
logger's dispatch, and written as the formatter would write its record; a logger set up
otherwise gets an ``AccessRecord`` per call (a ``LogRecord`` that skips the caller, thread
and process lookups).
"""

from __future__ import annotations

import logging
import time
from typing import Any, TextIO, cast

__all__ = [
    "CLIENT_GONE", "AccessFormatter", "AccessRecord", "BatchingHandler", "access_log",
    "log_call", "log_to",
]

CLIENT_GONE = 499

access_log = logging.getLogger("shipyard.gateway.access")

_FORMAT = ("service=%s generation=%s method=%s path=%s status=%d latency_ms=%.2f bytes=%d "
           "request_id=%s")
_LINE_FORMAT = "%(asctime)s %(name)s %(message)s"
_START = time.time()
# A call's bare fields: when it ended, and the arguments of _FORMAT.
Call = tuple[float, tuple[Any, ...]]


class AccessRecord(logging.LogRecord):
    """A ``LogRecord`` with every standard attribute, built without the lookups a record
    for an arbitrary call site needs."""

    def __init__(self, args: tuple[Any, ...], created: float | None = None) -> None:
        # Sets every attribute LogRecord.__init__ sets, without calling it.
        if created is None:
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
    args = (service, generation or "-", method.decode("latin-1"), path, status,
            latency * 1000.0, sent, request_id.decode("latin-1"))
    direct = _direct
    handlers = access_log.handlers
    if (direct is not None and len(handlers) == 1 and handlers[0] is direct
            and not access_log.filters and not direct.filters):
        direct.keep((time.time(), args))
    else:
        access_log.handle(AccessRecord(args))


_direct: BatchingHandler | None = None


def log_to(stream: TextIO) -> BatchingHandler:
    """Send the access log, batched, to ``stream`` alone (the gateway's process)."""
    global _direct
    handler = BatchingHandler(stream)
    handler.setFormatter(AccessFormatter())
    for old in list(access_log.handlers):
        access_log.removeHandler(old)
    access_log.addHandler(handler)
    access_log.propagate = False
    _direct = handler
    return handler


class BatchingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Keeps records (and calls handed to it bare, ``keep``) and formats and writes them
    together: when ``capacity`` are waiting, on ``flush()`` (which the gateway calls
    twice a second), and on ``close()``."""

    def __init__(self, stream: TextIO, capacity: int = 512) -> None:
        super().__init__(stream)
        self.capacity = capacity
        self._waiting: list[logging.LogRecord | Call] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.keep(record)

    def keep(self, entry: logging.LogRecord | Call) -> None:
        self._waiting.append(entry)
        if len(self._waiting) >= self.capacity:
            self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if not self._waiting:
                return
            waiting, self._waiting = self._waiting, []
            formatter = self.formatter
            fast = formatter if isinstance(formatter, AccessFormatter) else None
            lines = []
            for entry in waiting:
                record = entry if isinstance(entry, logging.LogRecord) else None
                try:
                    if record is not None:
                        lines.append(self.format(record))
                    elif fast is not None:
                        lines.append(fast.format_call(*cast(Call, entry)))
                    else:
                        created, args = cast(Call, entry)
                        record = AccessRecord(args, created)
                        lines.append(self.format(record))
                except Exception:
                    self.handleError(record or AccessRecord(cast(Call, entry)[1]))
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass


class AccessFormatter(logging.Formatter):
    """``%(asctime)s %(name)s %(message)s``, with a second's time formatted once (it is a
    third of the cost of a line, and the access log writes many lines a second); the
    milliseconds are added to each line as ``logging.Formatter`` does."""

    def __init__(self) -> None:
        super().__init__(_LINE_FORMAT)
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return self._time(record.created, record.msecs)

    def format_call(self, created: float, args: tuple[Any, ...]) -> str:
        """The line ``format`` would write for ``AccessRecord(args, created)``."""
        msecs = int((created - int(created)) * 1000) + 0.0
        return f"{self._time(created, msecs)} {access_log.name} {_FORMAT % args}"

    def _time(self, created: float, msecs: float) -> str:
        second = int(created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        return self.default_msec_format % (self._stamp, msecs)
