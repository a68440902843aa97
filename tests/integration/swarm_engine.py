"""What the swarm runner's tests need: the engine in swarm mode, and a registry.

Swarm mode: a test session that finds the engine outside a swarm makes it a single-node
swarm advertised on loopback (``docker swarm init --advertise-addr 127.0.0.1``, listening on
every address so that the second engine of ``second_engine`` can join) and leaves it again
at the end (removing the ``docker_gwbridge`` network init made, if it made it); an engine
already in a swarm is used as it is, and a worker's skips. The docker runner's tests on the
same engine keep working meanwhile: swarm mode changes nothing for plain containers.

The registry is Debian's ``docker-registry`` (the distribution registry), one per session,
on a free loopback port with its storage in a temporary folder and a configuration file of
its own, stopped at the end. Docker pushes to 127.0.0.0/8 over plain HTTP.

Both skip the calling test, with the reason, where they cannot be had.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import docker
import docker.errors
import pytest
import requests

from shipyard_runners.containers.engine import Engine
from tests.integration.docker_engine import require_docker

__all__ = ["IN_THE_SWARM", "REGISTRY_BINARY", "require_swarm", "swarm_registry"]

IN_THE_SWARM = pytest.mark.xdist_group("swarm")
"""Marks a module that drives the engine's swarm: such modules run on one pytest-xdist
worker, whose session made the swarm and leaves it at its end (``require_swarm``)."""
REGISTRY_BINARY = "docker-registry"
GATEWAY_BRIDGE = "docker_gwbridge"

_state: dict[str, str] = {}


def require_swarm(config: pytest.Config) -> None:
    """Skip unless the engine is a swarm manager, making it one (on loopback) if it is in
    no swarm; it leaves the swarm when the session ends."""
    require_docker()
    if "problem" not in _state:
        _state["problem"] = _swarm_problem(config)
    if _state["problem"]:
        pytest.skip(f"swarm runner tests need a Docker engine in swarm mode: {_state['problem']}")


def _swarm_problem(config: pytest.Config) -> str:
    client = Engine().client()
    swarm = client.info().get("Swarm") or {}
    state = swarm.get("LocalNodeState")
    if state == "active":
        return "" if swarm.get("ControlAvailable") else "the engine is a swarm worker"
    if state != "inactive":
        return f"the engine's swarm state is {state!r}"
    had_bridge = bool(client.networks.list(names=[GATEWAY_BRIDGE]))
    try:
        # Every address: a second engine in a network namespace joins it there.
        client.swarm.init(advertise_addr="127.0.0.1", listen_addr="0.0.0.0:2377")
    except docker.errors.APIError as exc:
        return f"`docker swarm init --advertise-addr 127.0.0.1` failed: {exc.explanation}"
    config.add_cleanup(lambda: _leave(client, had_bridge))
    return ""


def _leave(client: docker.DockerClient, had_bridge: bool) -> None:
    client.swarm.leave(force=True)
    if had_bridge:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the engine lets its endpoints go in its own time
        try:
            for network in client.networks.list(names=[GATEWAY_BRIDGE]):
                network.remove()
            return
        except docker.errors.APIError:
            time.sleep(0.5)


def swarm_registry(config: pytest.Config) -> str:
    """The address (``127.0.0.1:<port>``) of this session's registry, started on first
    use and stopped when the session ends."""
    if "registry" not in _state:
        _state["registry"] = _start_registry(config)
    if not _state["registry"]:
        pytest.skip(f"swarm runner tests need a registry: {_state['registry_problem']}")
    return _state["registry"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_registry(config: pytest.Config) -> str:
    binary = shutil.which(REGISTRY_BINARY)
    if binary is None:
        _state["registry_problem"] = (f"{REGISTRY_BINARY} is not installed (Debian's "
                                      "docker-registry package)")
        return ""
    folder = Path(tempfile.mkdtemp(prefix="shipyard-registry-"))
    address = f"127.0.0.1:{_free_port()}"
    (folder / "config.yml").write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {folder / 'storage'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: {address}\n"
    )
    output = (folder / "registry.log").open("wb")
    process = subprocess.Popen([binary, "serve", str(folder / "config.yml")],
                               stdout=output, stderr=subprocess.STDOUT)

    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.close()
        shutil.rmtree(folder, ignore_errors=True)

    config.add_cleanup(stop)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if requests.get(f"http://{address}/v2/", timeout=2).status_code == 200:
                return address
        except requests.exceptions.ConnectionError:
            pass
        time.sleep(0.1)
    _state["registry_problem"] = ("the registry did not answer at "
                                  f"{address}: {(folder / 'registry.log').read_text()[-500:]}")
    return ""
