"""Integration fixtures: no test may leave a child process alive.

Instances run in sessions of their own but stay children of the test process, so
``psutil.Process().children(recursive=True)`` finds what a test forgot to stop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import psutil
import pytest


def live_descendants() -> list[psutil.Process]:
    """This process's descendants that are still running (zombies are reaped, not counted)."""
    alive = []
    for process in psutil.Process().children(recursive=True):
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                with contextlib.suppress(psutil.Error):
                    process.wait(timeout=0)
                continue
        except psutil.NoSuchProcess:
            continue
        alive.append(process)
    return alive


@contextlib.contextmanager
def no_leaked_processes() -> Iterator[None]:
    """Fail, after killing them, if processes started inside the block outlive it."""
    before = {process.pid for process in live_descendants()}
    yield
    leaked = [process for process in live_descendants() if process.pid not in before]
    if not leaked:
        return
    described = []
    for process in leaked:
        with contextlib.suppress(psutil.Error):
            described.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(leaked, timeout=5)
    pytest.fail("left child processes alive:\n  " + "\n  ".join(described), pytrace=False)


@pytest.fixture(autouse=True)
def _fail_on_leaked_processes() -> Iterator[None]:
    with no_leaked_processes():
        yield


@pytest.fixture
def leak_guard() -> Callable[[], contextlib.AbstractContextManager[None]]:
    """The leak check itself, for the test that checks it."""
    return no_leaked_processes
