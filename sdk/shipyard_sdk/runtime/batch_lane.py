"""A batch lane: a process of its own, forked from a worker once its app is loaded, that
scores the worker's batch calls at a lower CPU priority.

Threads of one process share one interpreter lock, so a chunk of a batch job scored in a
worker slows every live call that worker answers meanwhile, however the lock is shared.
Two processes do not: the lane scores the chunk while the worker's threads answer live
calls, and the kernel gives the CPU to them first (``LANE_NICENESS``). The lane is a copy
of the worker made by ``fork`` once the app is imported, before the worker starts a
thread: the model is loaded once, and its pages are shared until written.

Where the kernel groups processes by session (``autogroup``: on where processes sit in
the root CPU cgroup, as on a machine whose services were started by hand), a niceness
counts only against the other processes of its session, as the kernel shares the CPU
between sessions first. An instance is one session, so a lane at nice 19 would still take
its session's whole share against the gateway's and the callers' sessions. The lane
therefore starts a session of its own and gives that session's group the lowest priority
too (``/proc/self/autogroup``). Measured on 2 cores (``bench/batch.py``, 600,000 rows, two
runs alternating): a live caller's p99 during a job 7.8 / 7.5 ms against 8.8 / 8.2 ms
with the lane in its worker's session (5.0 ms with no job), the job as fast.

A worker sends a batch call's request (its CGI variables and body) to its lane over a
socket pair and answers with what the lane's copy of the app answered. A lane that is gone
(killed, out of memory) or that has not answered in ``LANE_ANSWER_TIMEOUT`` is ended and
not made again: its worker scores batch calls itself from then on. A lane ends when its
worker does (the worker's end of the pair closes).

A fork copies the process as it is, so a lane is made only where the copy answers as the
worker would (``lane_for``): where the supervisor allows it (``BATCH_LANE_VAR``: a model
service, whose code is Shipyard's template that imports libraries and loads the model,
nothing else; on a profile without a GPU, as CUDA does not work in a process forked after
it started), and where no thread is running yet (a copy would lack a thread that
refreshes a model or flushes metrics). A custom service's worker scores its batch calls
itself: its import may have opened connections that a copy would share.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterable, Mapping
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "AUTOGROUP_NICENESS", "BATCH_LANE_VAR", "LANE_ANSWER_TIMEOUT", "LANE_NICENESS",
    "BatchLane", "LaneGone", "lane_for",
]

LANE_NICENESS = 19
"""How much lower the lane's CPU priority is than its worker's: the lowest there is, as
the supervisor's threads that send a job's calls take too."""

AUTOGROUP_NICENESS = 19
"""The niceness of the lane's own session group: the lowest there is. It is absolute, as
a new session's group starts at 0 whatever its processes' niceness."""

LANE_ANSWER_TIMEOUT = 120.0
"""Seconds a worker waits for its lane's answer: twice the gateway's wait for an instance
(60 s), so the call is lost anyway by then. A lane stuck that long (in a library that does
not survive a fork: GNU OpenMP used before it) is ended."""

BATCH_LANE_VAR = "SHIPYARD_BATCH_LANE"
"""Set to "1" by the supervisor where a lane may be made (``lane_for``)."""

Answer = tuple[str, list[tuple[str, str]], bytes]

# Signals the worker handles itself; the lane leaves them to their defaults.
_WORKER_SIGNALS = ("SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2",
                   "SIGWINCH", "SIGCHLD", "SIGTTIN", "SIGTTOU", "SIGABRT")


class LaneGone(Exception):
    """The lane ended before it answered; the worker answers the call itself."""


def lane_for(app: WSGIApplication, environ: Mapping[str, str]) -> BatchLane | None:
    """A lane for this worker's ``app`` where a copy of the worker answers as it does
    (see the module's docstring); None otherwise."""
    if (environ.get(BATCH_LANE_VAR) != "1" or threading.active_count() > 1
            or not hasattr(os, "fork")):
        return None
    return BatchLane.fork(app)


class BatchLane:
    """The worker's end of a lane: ``call`` has the lane answer one request."""

    def __init__(self, connection: Connection, pid: int,
                 answer_timeout: float = LANE_ANSWER_TIMEOUT) -> None:
        self._connection = connection
        self.pid = pid
        self.answer_timeout = answer_timeout
        self._lock = threading.Lock()
        self.alive = True

    @classmethod
    def fork(cls, app: WSGIApplication,
             answer_timeout: float = LANE_ANSWER_TIMEOUT) -> BatchLane:
        """A lane answering with ``app``, forked from this process now."""
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            ours.close()
            _serve(app, Connection(theirs.detach()))
        theirs.close()
        return cls(Connection(ours.detach()), pid, answer_timeout)

    def call(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The lane's answer to this request (read whole: a batch call's is a chunk's).
        Raises ``LaneGone`` with the request as it came, its body readable again."""
        if not self.alive:
            raise LaneGone("the batch lane has ended")
        length = environ.get("CONTENT_LENGTH") or ""
        body = environ["wsgi.input"].read(int(length) if length.isdigit() else -1)
        request = {name: value for name, value in environ.items() if isinstance(value, str)}
        with self._lock:
            try:
                self._connection.send((request, body))
                if not self._connection.poll(self.answer_timeout):
                    raise TimeoutError(f"no answer in {self.answer_timeout:g} s")
                status, headers, answer = self._connection.recv()
            except (EOFError, OSError) as error:
                environ["wsgi.input"] = io.BytesIO(body)
                environ["CONTENT_LENGTH"] = str(len(body))
                self.end()
                raise LaneGone(f"the batch lane has ended: {error}") from error
        start_response(status, headers)
        return [answer]

    def end(self) -> None:
        """End the lane (it is not made again)."""
        self.alive = False
        with contextlib.suppress(OSError):
            self._connection.close()
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _serve(app: WSGIApplication, connection: Connection) -> None:
    """The lane's whole life: answer requests until its worker is gone, then exit."""
    code = 0
    try:
        for name in _WORKER_SIGNALS:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                signal.signal(getattr(signal, name), signal.SIG_DFL)
        os.nice(LANE_NICENESS)
        _lowest_session_priority()
        while True:
            try:
                request, body = connection.recv()
            except (EOFError, OSError):
                break
            connection.send(_answer(app, request, body))
    except BaseException:  # a lane never returns into the worker's code
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _lowest_session_priority() -> None:
    """Start a session of its own, whose group takes the lowest CPU priority where the
    kernel groups sessions (see the module's docstring). A kernel without such groups
    has no ``/proc/self/autogroup``; one with them turned off ignores the write."""
    with contextlib.suppress(OSError):
        os.setsid()
        with open("/proc/self/autogroup", "w") as group:
            group.write(str(AUTOGROUP_NICENESS))


def _answer(app: WSGIApplication, request: dict[str, str], body: bytes) -> Answer:
    environ: dict[str, Any] = {
        **{name: value for name, value in request.items()
           if name != "HTTP_TRANSFER_ENCODING"},
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Any:
        started[:] = [status, list(headers)]
        return lambda data: None

    try:
        result = app(environ, start_response)
        try:
            answer = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    except Exception as error:  # the app's failure is the call's answer
        print(f"batch lane: the app failed: {error!r}", file=sys.stderr, flush=True)
        return ("500 Internal Server Error", [("Content-Type", "text/plain")],
                b"the app failed on a batch call\n")
    if not started:
        return ("500 Internal Server Error", [("Content-Type", "text/plain")],
                b"the app answered without a status\n")
    return started[0], started[1], answer
