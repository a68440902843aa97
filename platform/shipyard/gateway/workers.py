"""Several gateway processes on one listening socket.

The parent forks the workers after the socket exists, so they all accept from it; it
forwards SIGTERM and SIGINT to them, starts a new worker when one dies unexpectedly, and
returns once all of them have stopped. Workers that keep dying right after they start
(``CRASH_LOOP`` times in a row) make it stop the others and fail, so that whoever started
the gateway sees it. With one worker, no process is forked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from types import FrameType

__all__ = ["run_workers"]

log = logging.getLogger(__name__)

RESTART_DELAY = 0.5
CRASH_LOOP = 5
# A worker that ran at least this long was not crash-looping.
HEALTHY_AFTER = 10.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run_workers(
    count: int,
    work: Callable[[], int],
    on_stop: Callable[[], None] | None = None,
    on_exit: Callable[[int], None] | None = None,
) -> int:
    """Run ``work`` in ``count`` processes until told to stop; returns the exit status.

    ``on_stop`` runs in the parent when the stop signal arrives (to close its copy of the
    listening socket, so that new connections are refused rather than left waiting);
    ``on_exit(pid)`` once each worker has exited (to forget its live metrics).
    """
    if count <= 1:
        return work()
    started: dict[int, float] = {}
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping and on_stop is not None:
            on_stop()
        stopping = True
        for pid in started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    for signum in _STOP_SIGNALS:
        signal.signal(signum, forward)
    for _ in range(count):
        started[_spawn(work)] = time.monotonic()
    status = 0
    quick_deaths = 0
    while started:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            break
        began = started.pop(pid, None)
        if began is None:
            continue
        if on_exit is not None:
            on_exit(pid)
        code = os.waitstatus_to_exitcode(wait_status)
        if stopping:
            if code != 0:
                status = 1
            continue
        quick_deaths = quick_deaths + 1 if time.monotonic() - began < HEALTHY_AFTER else 0
        if quick_deaths >= CRASH_LOOP:
            log.error("gateway workers keep exiting (last: %d with %d); stopping", pid, code)
            forward(signal.SIGTERM, None)
            status = 1
            continue
        log.error("gateway worker %d exited with %d; starting another", pid, code)
        time.sleep(RESTART_DELAY)
        if not stopping:
            started[_spawn(work)] = time.monotonic()
    return status


def _spawn(work: Callable[[], int]) -> int:
    # Signals are blocked across the fork, so that a child never runs the parent's handler.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for signum in _STOP_SIGNALS:
                    signal.signal(signum, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
                code = work()
            except BaseException:
                log.exception("gateway worker failed")
            finally:
                os._exit(code)
        return pid
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
