"""The swarm runner beyond the contract every runner keeps: a registry it cannot reach, a
replica no node can hold, GPUs, secrets as Swarm secrets, why a task ended, and purge."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from shipyard_runners import Artifact, BuildSpec, InstanceHandle, Profile, State, SwarmRunner
from shipyard_runners.containers import labels
from shipyard_sdk.errors import BuildFailed, RunnerError
from tests.integration.docker_engine import BASE_IMAGE, test_installation
from tests.integration.swarm_engine import IN_THE_SWARM, require_swarm, swarm_registry

pytestmark = [pytest.mark.slow, IN_THE_SWARM]

PROFILE = Profile(name="small", cpu=0.5, memory_bytes=512 * 1024**2, base_image=BASE_IMAGE)
SECRETS = """\
import os
from pathlib import Path

from flask import Flask

app = Flask(__name__)


@app.get("/secret")
def secret():
    folder = Path(os.environ["SHIPYARD_SECRETS_DIR"])
    return {"variable": os.environ.get("API_TOKEN"),
            "file": (folder / "API_TOKEN").read_text(),
            "mode": oct((folder / "API_TOKEN").stat().st_mode & 0o777)}
"""


@pytest.fixture(scope="module")
def registry(request: pytest.FixtureRequest) -> str:
    require_swarm(request.config)
    return swarm_registry(request.config)


@pytest.fixture(scope="module")
def runner(registry: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwarmRunner]:
    made = SwarmRunner(tmp_path_factory.mktemp("swarm-runner"),
                       installation=test_installation(), registry=registry)
    yield made
    made.purge()


@pytest.fixture(scope="module")
def secrets_app(runner: SwarmRunner, tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    code = tmp_path_factory.mktemp("secrets-app")
    (code / "app.py").write_text(SECRETS)
    return runner.build(BuildSpec(service_id="svc-secrets", service_name="secrets",
                                  generation="v1", code_dir=code, packages=(),
                                  profile=PROFILE, secrets={"API_TOKEN": "hunter2"}),
                        lambda _line: None)


def services_of(runner: SwarmRunner) -> list[dict[str, object]]:
    return list(runner.engine.client().api.services(
        filters=labels.installation_filter(runner.installation)))


def secrets_of(runner: SwarmRunner) -> list[object]:
    return list(runner.engine.client().secrets.list(
        filters=labels.installation_filter(runner.installation)))


def wait_for(runner: SwarmRunner, handle: InstanceHandle, state: State,
             within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while (seen := runner.health(handle)) != state:
        assert time.monotonic() < deadline, f"still {seen} after {within} s, not {state}"
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_registry_the_engine_cannot_reach_fails_the_build_before_it_starts(
    registry: str, tmp_path: Path
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    runner = SwarmRunner(tmp_path / "root", installation=test_installation(), registry=nowhere)
    (tmp_path / "app.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    lines: list[str] = []
    with pytest.raises(BuildFailed) as failure:
        runner.build(BuildSpec(service_id="svc-x", service_name="x", generation="v1",
                               code_dir=tmp_path, packages=(), profile=PROFILE), lines.append)
    assert failure.value.message.startswith(
        f"the registry {nowhere} (swarm_registry) cannot be reached from the Docker engine:")
    assert "connection refused" in failure.value.message
    assert not any("Step " in line for line in lines)  # nothing was built


def test_secrets_are_swarm_secrets_the_service_reads_and_nobody_sees(
    runner: SwarmRunner, secrets_app: Artifact
) -> None:
    handle = runner.start(secrets_app, PROFILE, {}, {"API_TOKEN": "hunter2"})
    try:
        wait_for(runner, handle, State.HEALTHY)
        url = f"http://{handle.host}:{handle.port}/secret"
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert json.loads(answer.read()) == {
                "variable": "hunter2", "file": "hunter2", "mode": "0o400"}
        assert len(secrets_of(runner)) == 1
        (service,) = [s for s in services_of(runner)
                      if s["Spec"]["Labels"][labels.INSTANCE] == handle.instance_id]
        assert "hunter2" not in json.dumps(service)
    finally:
        runner.stop(handle, grace=5)
    assert secrets_of(runner) == []


def test_a_replica_no_node_can_hold_is_refused_and_leaves_nothing(
    runner: SwarmRunner, secrets_app: Artifact
) -> None:
    huge = replace(PROFILE, name="huge", memory_bytes=64 * 1024**4)
    with pytest.raises(RunnerError) as refused:
        runner.start(secrets_app, huge, {}, {"API_TOKEN": "x"})
    assert "Swarm placed no instance of profile 'huge'" in refused.value.message
    assert "no suitable node (insufficient resources on 1 node)" in refused.value.message
    assert services_of(runner) == []
    assert secrets_of(runner) == []


def test_gpus_are_refused_without_them_or_run_on_cpu_when_allowed(
    runner: SwarmRunner, secrets_app: Artifact
) -> None:
    gpu = replace(PROFILE, name="gpu", gpu=1)
    with pytest.raises(RunnerError, match="asks for 1 GPU\\(s\\) and no GPU was found on the "
                                          "swarm; set allow_cpu_fallback"):
        runner.start(secrets_app, gpu, {})
    assert services_of(runner) == []
    handle = runner.start(secrets_app, replace(gpu, allow_cpu_fallback=True), {},
                          {"API_TOKEN": "x"})
    try:
        assert any("runs on CPU" in note for note in handle.notes)
        (service,) = services_of(runner)
        reservations = service["Spec"]["TaskTemplate"]["Resources"]["Reservations"]
        assert "GenericResources" not in reservations
        assert reservations["MemoryBytes"] == PROFILE.memory_bytes
    finally:
        runner.stop(handle, grace=5)


def test_why_a_task_ended_is_in_the_instance_log(
    runner: SwarmRunner, secrets_app: Artifact
) -> None:
    handle = runner.start(secrets_app, PROFILE, {"SHIPYARD_URL": "http://127.0.0.1:8080"},
                          {"API_TOKEN": "x"})
    try:
        assert any("a loopback address no task reaches" in note for note in handle.notes)
        wait_for(runner, handle, State.HEALTHY)
        assert handle.pid is not None
        os.kill(handle.pid, signal.SIGKILL)
        wait_for(runner, handle, State.EXITED, within=20)
        assert "its Swarm task is failed (exit code 137)" in runner.logs(handle)
    finally:
        runner.stop(handle, grace=5)
    assert "its Swarm task is failed (exit code 137)" in runner.logs(handle)
    assert services_of(runner) == []


def test_purge_removes_the_installations_services_secrets_and_registry_images(
    registry: str, secrets_app: Artifact, tmp_path: Path
) -> None:
    runner = SwarmRunner(tmp_path / "root", installation=test_installation(),
                         registry=registry)
    (tmp_path / "app.py").write_text(SECRETS)
    artifact = runner.build(BuildSpec(service_id="svc-p", service_name="p", generation="v1",
                                      code_dir=tmp_path, packages=(), profile=PROFILE,
                                      secrets={"API_TOKEN": "x"}), lambda _line: None)
    runner.start(artifact, PROFILE, {}, {"API_TOKEN": "x"})
    repository = runner.builder.images.repository("generations")
    tags = f"http://{registry}/v2/{repository}/tags/list"
    assert requests.get(tags, timeout=10).json()["tags"]
    assert (len(services_of(runner)), len(secrets_of(runner))) == (1, 1)
    services, images = runner.purge()
    assert services == 1 and images >= 2  # its environment and generation images at least
    assert (services_of(runner), secrets_of(runner)) == ([], [])
    assert not requests.get(tags, timeout=10).json().get("tags")
    assert not runner.exists(artifact)
    assert runner.purge() == (0, 0)
