"""The swarm runner on two nodes: this engine (the manager) and a second engine in a
network namespace of its own joined as a worker (see ``second_engine``). Swarm spreads the
replicas over both; each is reached at its own node's address, pulled from the registry
there, and stopped there."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shipyard_runners import Artifact, BuildSpec, InstanceHandle, Profile, State, SwarmRunner
from shipyard_runners.containers.engine import Engine
from shipyard_sdk.errors import RunnerError
from tests.integration.docker_engine import BASE_IMAGE, test_installation
from tests.integration.second_engine import (
    SecondEngine,
    second_engine_problem,
    start_second_engine,
)
from tests.integration.swarm_engine import IN_THE_SWARM, require_swarm, swarm_registry

pytestmark = [pytest.mark.slow, IN_THE_SWARM]

PROFILE = Profile(name="small", cpu=0.25, memory_bytes=256 * 1024**2, base_image=BASE_IMAGE)
REPLICAS = 4
WHERE = """\
import socket

from flask import Flask

app = Flask(__name__)


@app.get("/where")
def where():
    return {"host": socket.gethostname()}
"""


@pytest.fixture(scope="module")
def registry(request: pytest.FixtureRequest) -> str:
    require_swarm(request.config)
    return swarm_registry(request.config)


@pytest.fixture(scope="module")
def second(registry: str) -> Iterator[SecondEngine]:
    problem = second_engine_problem()
    if problem:
        pytest.skip(f"a second engine cannot run here: {problem}")
    manager = Engine().client()
    engine = start_second_engine(manager, registry)
    try:
        yield engine
    finally:
        engine.stop(manager)


@pytest.fixture(scope="module")
def runner(registry: str, second: SecondEngine, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[SwarmRunner]:
    made = SwarmRunner(tmp_path_factory.mktemp("swarm-two-nodes"),
                       installation=test_installation(), registry=registry)
    yield made
    made.purge()


def wait_healthy(runner: SwarmRunner, handle: InstanceHandle, within: float = 180.0) -> None:
    """A replica on the second node first pulls its image there."""
    deadline = time.monotonic() + within
    while (seen := runner.health(handle)) != State.HEALTHY:
        assert time.monotonic() < deadline, f"{handle.host}:{handle.port} still {seen}"
        time.sleep(0.2)


def eventually(check: Callable[[], bool], what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def refused(handle: InstanceHandle) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((handle.host, handle.port)) != 0


def test_a_workers_engine_is_refused_saying_the_runner_needs_a_manager(
    registry: str, second: SecondEngine, tmp_path: Path
) -> None:
    where = f"unix://{second.folder / 'docker.sock'}"
    on_worker = SwarmRunner(tmp_path, installation=test_installation(), registry=registry,
                            base_url=where)
    artifact = Artifact(key="k", env_key="e", path=f"{registry}/x:y@sha256:0", runner="swarm")
    with pytest.raises(RunnerError) as refused:
        on_worker.start(artifact, PROFILE, {})
    assert refused.value.message.startswith(
        f"the Docker engine at {where} is a swarm worker; the swarm runner needs a manager's "
        "engine")
    on_worker.engine.close()


def test_replicas_spread_over_both_nodes_and_are_reached_at_each_nodes_address(
    runner: SwarmRunner, second: SecondEngine, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(WHERE)
    artifact: Artifact = runner.build(
        BuildSpec(service_id="svc-where", service_name="where", generation="v1",
                  code_dir=tmp_path, packages=(), profile=PROFILE), lambda _line: None)
    handles = [runner.start(artifact, PROFILE, {}) for _ in range(REPLICAS)]
    try:
        assert {handle.host for handle in handles} == {"127.0.0.1", second.address}
        hosts = set()
        for handle in handles:
            wait_healthy(runner, handle)
            url = f"http://{handle.host}:{handle.port}/where"
            with urllib.request.urlopen(url, timeout=10) as answer:
                hosts.add(json.loads(answer.read())["host"])
            # Swarm gathers a task's output from another node once it calls it running.
            eventually(lambda h=handle: "Starting gunicorn" in runner.logs(h),
                       f"the output of {handle.host}:{handle.port}")
        assert len(hosts) == REPLICAS  # four containers
        on_worker = [handle for handle in handles if handle.host == second.address]
        assert all(handle.pid is None for handle in on_worker)  # a pid of another machine
        assert all(handle.pid is not None for handle in handles if handle not in on_worker)
        with pytest.raises(RunnerError, match="it runs on another node of the swarm"):
            runner.usage(on_worker[0])
        # A runner made after a restart adopts them wherever they run.
        again = SwarmRunner(runner.root, installation=runner.installation,
                            registry=runner.registry.address)
        assert all(again.adopt(handle) for handle in handles)
    finally:
        for handle in handles:
            runner.stop(handle, grace=5)
    assert all(refused(handle) for handle in handles)
    assert all(runner.health(handle) == State.EXITED for handle in handles)
    assert "Starting gunicorn" in runner.logs(on_worker[0])  # kept when it stopped
    eventually(lambda: second.client.containers.list(all=True) == [],
               "the worker to remove its containers")
