"""The connection to a Docker engine, and the one place its errors become ours.

One ``Engine`` per address and process (``engine_at``): runners come and go (the API
makes one per request), their engine's connection pool stays. The client is made on
first use, so a control plane whose engine is down starts, and each
build or start that needs the engine says so. Failures of the Docker SDK (the engine's
HTTP errors, a socket nobody listens on) leave this module as ``RunnerError`` or, during a
build, ``BuildFailed``, with a one-line message that names what was being done.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator

import docker
import docker.errors
import requests

from shipyard_sdk.errors import BuildFailed, RunnerError

__all__ = ["Engine", "engine_at", "engine_errors"]

READ_TIMEOUT = 30 * 60.0
"""Seconds the client waits for the engine's next byte: a quiet ``pip install`` of a large
package can print nothing for minutes."""


DEFAULT_SOCKET = "/var/run/docker.sock"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, docker.errors.APIError):
        return str(exc.explanation or exc).strip()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).strip() or type(exc).__name__


@contextlib.contextmanager
def engine_errors(what: str, error: type[RunnerError] | type[BuildFailed] = RunnerError
                  ) -> Iterator[None]:
    """Turn the Docker SDK's errors inside the block into ``error``, naming ``what``."""
    try:
        yield
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise error(f"{what} failed: {_reason(exc)}") from exc


def _probe_socket(base_url: str) -> None:
    """Connect to a Unix socket engine once, raising ``OSError`` if nobody listens.

    The Docker SDK leaks the socket of a connection that fails (a ``ResourceWarning``), so
    an engine that is not there is found out here first."""
    if base_url and not base_url.startswith(("unix://", "/")):
        return
    path = base_url.removeprefix("unix://") or DEFAULT_SOCKET
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(5)
        try:
            probe.connect(path)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot connect to {path}: {exc.strerror}") from exc


class Engine:
    """A Docker engine at ``base_url`` (``DOCKER_HOST`` or the local socket when None)."""

    def __init__(self, base_url: str | None = None) -> None:
        self.base_url = base_url
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        return self.base_url or "the default socket (DOCKER_HOST or /var/run/docker.sock)"

    def client(self, error: type[RunnerError] | type[BuildFailed] = RunnerError
               ) -> docker.DockerClient:
        """The connected client; raises ``error`` when no engine answers."""
        with self._lock:
            if self._client is None:
                try:
                    _probe_socket(self.base_url or os.environ.get("DOCKER_HOST") or "")
                    if self.base_url:
                        client = docker.DockerClient(
                            base_url=self.base_url, version="auto", timeout=int(READ_TIMEOUT)
                        )
                    else:
                        client = docker.from_env(timeout=int(READ_TIMEOUT))
                    client.ping()
                except (docker.errors.DockerException, OSError,
                        requests.exceptions.RequestException) as exc:
                    raise error(
                        f"no Docker engine reachable at {self.where}: {_reason(exc)}"
                    ) from exc
                self._client = client
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


_engines: dict[str | None, Engine] = {}
_engines_lock = threading.Lock()


def engine_at(base_url: str | None = None) -> Engine:
    """This process's one ``Engine`` for ``base_url``."""
    with _engines_lock:
        if base_url not in _engines:
            _engines[base_url] = Engine(base_url)
        return _engines[base_url]
