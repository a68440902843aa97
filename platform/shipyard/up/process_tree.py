"""``shipyard up``: start the control plane's processes, report when ready, stop cleanly.

The parent binds the listening sockets itself (so ``--port 0`` resolves to a real port
before anything starts): the gateway's on the public address (and on the Docker bridge's,
see ``container_gateway``), the API's on an internal loopback port. It hands them to those
processes, waits for ``/healthz``, prints one line with the URL, and on SIGTERM or Ctrl-C
stops its children gracefully.

The tree heals: a child that dies is started again (after 0.5 s, doubling up to 30 s
while it keeps dying, logged each time) while the others go on serving; the parent keeps
the listening sockets, so a new gateway or API answers on the same ones. Only the
parent's own stop stops everything. Children get SIGTERM when the parent dies, however it
dies, and hold the home's lock (``home.lock_home``) until they have exited, so a second
``shipyard up`` on the same home refuses while any of the tree still runs.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

from shipyard.contracts.routing_table import RoutingTable, write_routing_table
from shipyard.contracts.run_paths import (
    clear_run_file,
    demand_dir,
    fleet_file,
    metrics_dir,
    query_spool_dir,
    routes_file,
    supervisor_wakeups_file,
    write_run_file,
)
from shipyard.errors import RunnerError
from shipyard.gateway.settings import ENV_PREFIX as GATEWAY_ENV_PREFIX
from shipyard.home import lock_home, prepare_home
from shipyard.iam.access_control import AccessControl
from shipyard.settings import RESOLVED_SETTINGS_VAR, Settings
from shipyard.store import Store
from shipyard.up.container_gateway import container_gateway_host
from shipyard_runners.listeners import set_no_delay

__all__ = ["ProcessTree"]

log = logging.getLogger(__name__)

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
RESTART_FIRST = 0.5
RESTART_MAX = 30.0
STEADY = 60.0
"""A child that ran this long without dying starts its backoff over."""
_PR_SET_PDEATHSIG = 1


@dataclasses.dataclass
class _Child:
    """One process of the tree, and how it is started again."""

    name: str
    args: list[str]
    pass_fds: tuple[int, ...]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    restart_at: float | None = None


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host, port), family=family, backlog=2048)
    set_no_delay(listener)
    return listener


class ProcessTree:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = ""
        self.credentials_file: Path | None = None
        self._children: list[_Child] = []
        self._sockets: list[socket.socket] = []
        self._env: dict[str, str] = {}
        self._home_lock: int | None = None
        self._stopping = threading.Event()

    def start(self) -> str:
        """Start every process and return the URL once the API answers."""
        home = self.settings.home
        prepare_home(home)
        self._home_lock = lock = lock_home(home)
        store = Store(self.settings.effective_database_url)
        try:
            store.migrate(lock_dir=home)
            access = AccessControl.build(self.settings, store)
            access.access_keys.check_server_key()
            self.credentials_file = access.ensure_administrator(self.settings)
            container_host = container_gateway_host(self.settings, store)
        finally:
            store.dispose()
        # Routes of an earlier run name instances that are gone: start from none, and let
        # the supervisor publish what it starts or adopts.
        write_routing_table(routes_file(home), RoutingTable())
        fleet_file(home).unlink(missing_ok=True)  # likewise its instances and builds
        # The gateway is the front door on the public address; the API listens on an
        # internal loopback port behind it.
        public = _listen(self.settings.host, self.settings.port)
        internal = _listen("127.0.0.1", 0)  # with TCP_NODELAY: see ``set_no_delay``
        port = public.getsockname()[1]
        front_doors = [public, *self._container_door(container_host, port)]
        # Kept open for the tree's life: a restarted child serves on the same sockets.
        self._sockets = [*front_doors, internal]
        self.url = dataclasses.replace(self.settings, port=port).local_url
        resolved = dataclasses.replace(
            self.settings, port=port, public_url=self.settings.public_url or self.url
        )
        self._env = {**os.environ, RESOLVED_SETTINGS_VAR: resolved.to_json()}
        if self.settings.metrics_token:
            # The gateway reads its settings from SHIPYARD_GATEWAY_* variables.
            self._env[f"{GATEWAY_ENV_PREFIX}METRICS_TOKEN"] = self.settings.metrics_token
        self._children = [
            _Child("api", [sys.executable, "-m", "shipyard.api.process",
                           "--fd", str(internal.fileno())], (internal.fileno(), lock)),
            _Child("supervisor", [sys.executable, "-m", "shipyard.supervisor"], (lock,)),
            _Child("gateway", [
                sys.executable, "-m", "shipyard.gateway",
                *(f"--fd={door.fileno()}" for door in front_doors),
                "--routes", str(routes_file(home)),
                "--api-upstream", f"127.0.0.1:{internal.getsockname()[1]}",
                "--workers", str(self.settings.gateway_workers),
                "--query-spool", str(query_spool_dir(home)),
                "--metrics-dir", str(metrics_dir(home)),
                "--fleet", str(fleet_file(home)),
                "--demand", str(demand_dir(home)),
                "--wake", str(supervisor_wakeups_file(home)),
            ], (*(door.fileno() for door in front_doors), lock)),
        ]
        for child in self._children:
            self._launch(child)
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
        """Keep the children running until asked to stop; returns the exit status."""
        while not self._stopping.is_set():
            now = time.monotonic()
            for child in self._children:
                self._tend(child, now)
            self._stopping.wait(0.1)
        return 0

    def _tend(self, child: _Child, now: float) -> None:
        """Start ``child`` again when it is due, or notice that it died."""
        if child.restart_at is not None:
            if now >= child.restart_at:
                log.info("starting the %s process again (restart %d)", child.name,
                         child.restarts)
                self._launch(child)
            return
        assert child.process is not None
        status = child.process.poll()
        if status is None:
            if child.restarts and now - child.started_at >= STEADY:
                child.restarts = 0
            return
        child.restarts += 1
        delay = min(RESTART_MAX, RESTART_FIRST * 2 ** (child.restarts - 1))
        child.restart_at = now + delay
        log.error("the %s process (pid %d) exited with %s; starting it again in %gs",
                  child.name, child.process.pid, status, delay)

    def stop(self) -> None:
        self._stopping.set()
        running = [c for c in self._children
                   if c.process is not None and c.process.poll() is None]
        for child in running:
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
        supervisor = next((c for c in self._children if c.name == "supervisor"), None)
        if supervisor is not None and (supervisor.process is None
                                       or supervisor.process.returncode != 0):
            # It died (and was maybe waiting to be started again) rather than stopping
            # the instances it started: a one-off supervisor stops them.
            self._stop_instances(supervisor, deadline)
        for sock in self._sockets:
            sock.close()
        self._sockets = []
        clear_run_file(self.settings.home)
        if self._home_lock is not None:
            os.close(self._home_lock)
            self._home_lock = None

    def _stop_instances(self, supervisor: _Child, deadline: float) -> None:
        log.warning("the supervisor did not stop cleanly: stopping the instances it started")
        try:
            subprocess.run([*supervisor.args, "--stop-instances"], env=self._env,
                           pass_fds=supervisor.pass_fds, check=False,
                           timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("the instances were not all stopped within %gs", STOP_TIMEOUT)

    def install_signal_handlers(self) -> None:
        def _handler(_signum: int, _frame: object) -> None:
            self._stopping.set()

        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)

    def _launch(self, child: _Child) -> None:
        # Own session: a Ctrl-C reaches only the parent, which then stops children in order.
        child.process = subprocess.Popen(
            child.args, start_new_session=True, env=self._env, pass_fds=child.pass_fds,
            preexec_fn=_die_with(os.getpid()),
        )
        child.started_at = time.monotonic()
        child.restart_at = None

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            for child in self._children:
                assert child.process is not None
                if child.process.poll() is not None:
                    self.stop()
                    raise RunnerError(
                        f"the {child.name} process exited with {child.process.returncode} "
                        "before the control plane answered"
                    )
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RunnerError(f"the control plane did not answer at {self.url} in {READY_TIMEOUT}s")



def _die_with(parent: int) -> Callable[[], None]:
    """What a child runs before it executes: ask the kernel for SIGTERM when its parent
    dies (Linux's PR_SET_PDEATHSIG), and go at once if the parent is already gone."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def _in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return _in_child
