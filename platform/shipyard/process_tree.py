"""``shipyard up``: start the control plane's processes, report when ready, stop cleanly.

The parent binds the listening sockets itself (so ``--port 0`` resolves to a real port
before anything starts): the gateway's on the public address (and on the Docker bridge's,
see ``container_gateway``), the API's on an internal loopback port. It hands them to those
processes, waits for ``/healthz``, prints one line with the URL, and on SIGTERM or Ctrl-C
stops its children gracefully.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from shipyard.container_gateway import container_gateway_host
from shipyard.errors import RunnerError
from shipyard.gateway.routes import write_routing_table
from shipyard.home import prepare_home
from shipyard.iam.access_control import AccessControl
from shipyard.runfile import clear_run_file, write_run_file
from shipyard.settings import RESOLVED_SETTINGS_VAR, Settings
from shipyard.store import Store
from shipyard.supervisor_paths import query_spool_dir, routes_file

__all__ = ["ProcessTree"]

log = logging.getLogger(__name__)

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)


def _url_of(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class ProcessTree:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = ""
        self.credentials_file: Path | None = None
        self._children: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()

    def start(self) -> str:
        """Start every process and return the URL once the API answers."""
        home = self.settings.home
        prepare_home(home)
        store = Store(self.settings.effective_database_url)
        try:
            store.migrate(lock_dir=home)
            access = AccessControl.build(self.settings, store)
            self.credentials_file = access.ensure_administrator(self.settings)
            container_host = container_gateway_host(self.settings, store)
        finally:
            store.dispose()
        # Routes of an earlier run name instances that are gone: start from none, and let
        # the supervisor publish what it starts or adopts.
        write_routing_table(routes_file(home), {"version": 1, "services": {}})
        # The gateway is the front door on the public address; the API listens on an
        # internal loopback port behind it.
        public = _listen(self.settings.host, self.settings.port)
        internal = _listen("127.0.0.1", 0)
        port = public.getsockname()[1]
        front_doors = [public, *self._container_door(container_host, port)]
        try:
            self.url = _url_of(self.settings.host, port)
            resolved = dataclasses.replace(
                self.settings, port=port, public_url=self.settings.public_url or self.url
            )
            env = {**os.environ, RESOLVED_SETTINGS_VAR: resolved.to_json()}
            self._spawn(
                [sys.executable, "-m", "shipyard.api_server", "--fd", str(internal.fileno())],
                env=env,
                pass_fds=(internal.fileno(),),
            )
            self._spawn([sys.executable, "-m", "shipyard.supervisor"], env=env)
            self._spawn(
                [
                    sys.executable, "-m", "shipyard.gateway",
                    *(f"--fd={door.fileno()}" for door in front_doors),
                    "--routes", str(routes_file(home)),
                    "--api-upstream", f"127.0.0.1:{internal.getsockname()[1]}",
                    "--workers", str(self.settings.gateway_workers),
                    "--query-spool", str(query_spool_dir(home)),
                ],
                env=env,
                pass_fds=tuple(door.fileno() for door in front_doors),
            )
        finally:
            for door in front_doors:
                door.close()
            internal.close()
        self._wait_ready()
        write_run_file(home, self.url)
        return self.url

    @staticmethod
    def _container_door(host: str | None, port: int) -> list[socket.socket]:
        """The gateway's listening socket for Docker instances, if they need one."""
        if host is None:
            return []
        try:
            return [_listen(host, port)]
        except OSError as exc:
            log.warning("Docker instances will not reach other services: cannot listen on "
                        "%s:%d: %s", host, port, exc.strerror)
            return []

    def wait(self) -> int:
        """Block until asked to stop or until a child dies; returns the exit status."""
        while not self._stopping.is_set():
            for child in self._children:
                if child.poll() is not None:
                    log.error("process %s exited with %s", child.args, child.returncode)
                    self.stop()
                    return 1
            self._stopping.wait(0.5)
        return 0

    def stop(self) -> None:
        self._stopping.set()
        for child in self._children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in self._children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        clear_run_file(self.settings.home)

    def install_signal_handlers(self) -> None:
        def _handler(_signum: int, _frame: object) -> None:
            self._stopping.set()

        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)

    def _spawn(self, args: list[str], **kwargs: object) -> None:
        # Own session: a Ctrl-C reaches only the parent, which then stops children in order.
        child = subprocess.Popen(args, start_new_session=True, **kwargs)  # type: ignore[call-overload]
        self._children.append(child)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            for child in self._children:
                if child.poll() is not None:
                    self.stop()
                    raise RunnerError(f"the api process exited with {child.returncode}")
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RunnerError(f"the control plane did not answer at {self.url} in {READY_TIMEOUT}s")

