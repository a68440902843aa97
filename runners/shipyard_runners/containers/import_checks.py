"""A generation's import check, run in a container of its image once the image is built.

The check imports the app as an instance does (as the service user, with the profile's
limits, the generation's variables in its environment and its secrets mounted as files)
and lists its routes (``shipyard_sdk.runtime.check --routes``). It is not a build step:
a build step can be given neither secrets (build arguments stay in the image's history)
nor mounts (the classic builder has none), and code that reads a secret as it is imported
must be checked with it. Its output streams into the build log as it comes; an app that
does not import fails the build with the last line of its traceback, as on the local
runner.
"""

from __future__ import annotations

import contextlib
import threading

import docker.errors
from docker.models.containers import Container

from shipyard_runners.commands import describe
from shipyard_runners.containers.builds import OutputLines
from shipyard_runners.containers.dockerfiles import VENV
from shipyard_runners.containers.engine import engine_errors
from shipyard_runners.containers.route_lists import copy_route_list
from shipyard_runners.protocol import LogSink
from shipyard_sdk.errors import BuildFailed

__all__ = ["CHECK_COMMAND", "run_import_check"]

ROUTE_LIST = "/tmp/shipyard-routes.json"
CHECK_COMMAND = (f"{VENV}/bin/python", "-m", "shipyard_sdk.runtime.check", "--routes",
                 ROUTE_LIST)
WHAT = "importing the app"


def run_import_check(container: Container, log: LogSink, *, shown: dict[str, str],
                     timeout: float, memory_bytes: int) -> bytes:
    """Start the created check ``container``, stream its output to ``log`` and return the
    route list it wrote; ``BuildFailed`` when the app does not import. ``shown`` is what
    the log may say of its environment. The caller removes the container."""
    log("$ " + describe(list(CHECK_COMMAND), shown))
    lines = OutputLines(log)
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        with contextlib.suppress(docker.errors.APIError):
            container.kill()

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    with engine_errors(WHAT, BuildFailed):
        container.start()
        timer.start()
        try:
            for piece in container.logs(stream=True, follow=True):
                lines.feed(piece.decode("utf-8", "replace"))
            lines.flush()
            code = int(container.wait().get("StatusCode", -1))
        finally:
            timer.cancel()
        container.reload()
    if timed_out.is_set():
        raise BuildFailed(f"{WHAT} timed out after {timeout:g} s")
    if container.attrs["State"].get("OOMKilled"):
        raise BuildFailed(
            f"{WHAT} failed (exit code {code}): it took more than the profile's "
            f"{memory_bytes / 1024**2:g} MiB of memory and was killed"
        )
    if code != 0:
        reason = f"{WHAT} failed (exit code {code})"
        raise BuildFailed(f"{reason}: {lines.last[-1].strip()}" if lines.last else reason)
    return copy_route_list(container, ROUTE_LIST)
