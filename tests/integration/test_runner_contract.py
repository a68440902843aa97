"""The contract every runner keeps, run against each backend.

One module-scoped runner per backend, so the tests share its environment: the first build
creates it, the others reuse it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from shipyard_runners import (
    Artifact,
    BuildSpec,
    DockerRunner,
    InstanceHandle,
    LocalRunner,
    Profile,
    Runner,
    State,
    SwarmRunner,
)
from shipyard_sdk.errors import BuildFailed
from tests.integration.docker_engine import BASE_IMAGE, require_docker, test_installation
from tests.integration.swarm_engine import IN_THE_SWARM, require_swarm, swarm_registry

pytestmark = [pytest.mark.slow, IN_THE_SWARM]

RunnerFactory = Callable[[], Runner]

PROFILE = Profile(name="small", cpu=1, memory_bytes=2 * 1024**3, base_image=BASE_IMAGE)

HELLO = """\
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return {"hello": "world", "greeting": GREETING}


GREETING = "%s"
"""

BROKEN = """\
from flask import Flask

app = Flask(__name__)
raise RuntimeError("this service does not import: the reason is here")
"""


@pytest.fixture(scope="module", params=["local", "docker", "swarm"])
def make_runner(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                ) -> RunnerFactory:
    """Makes runners of one backend that share their state, as a restarted control plane's
    new runner would. The swarm runner's runs on the engine in swarm mode (made a
    single-node swarm on loopback if it is in none) with a registry of the session's."""
    if request.param == "local":
        root = tmp_path_factory.mktemp("local-runner")
        return lambda: LocalRunner(root)
    if request.param == "docker":
        require_docker()
        root = tmp_path_factory.mktemp("docker-runner")
        installation = test_installation()
        request.addfinalizer(lambda: DockerRunner(root, installation=installation).purge())
        return lambda: DockerRunner(root, installation=installation)
    if request.param == "swarm":
        require_swarm(request.config)
        registry = swarm_registry(request.config)
        root = tmp_path_factory.mktemp("swarm-runner")
        installation = test_installation()
        request.addfinalizer(
            lambda: SwarmRunner(root, installation=installation, registry=registry).purge())
        return lambda: SwarmRunner(root, installation=installation, registry=registry)
    raise AssertionError(request.param)


@pytest.fixture(scope="module")
def runner(make_runner: RunnerFactory) -> Runner:
    return make_runner()


def write_service(directory: Path, source: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "app.py").write_text(source)
    return directory


def spec(code_dir: Path, generation: str = "v1", packages: tuple[str, ...] = ()) -> BuildSpec:
    return BuildSpec(
        service_id="svc-hello",
        service_name="hello",
        generation=generation,
        code_dir=code_dir,
        packages=packages,
        profile=PROFILE,
    )


def build(runner: Runner, build_spec: BuildSpec) -> tuple[Artifact, list[str]]:
    lines: list[str] = []
    artifact = runner.build(build_spec, lines.append)
    return artifact, lines


def wait_for(runner: Runner, handle: InstanceHandle, state: State, within: float = 30.0
             ) -> None:
    deadline = time.monotonic() + within
    seen = runner.health(handle)
    while seen != state:
        assert time.monotonic() < deadline, f"still {seen} after {within} s, not {state}"
        time.sleep(0.05)
        seen = runner.health(handle)


def get(handle: InstanceHandle, path: str) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(f"http://{handle.host}:{handle.port}{path}", timeout=10) as r:
        return r.status, json.loads(r.read())


def port_open(handle: InstanceHandle) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((handle.host, handle.port)) == 0


def process_running(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def children() -> set[int]:
    return {child.pid for child in psutil.Process().children()}


def left_behind(before: set[int], within: float = 10.0) -> set[int]:
    """Children of this process started since ``before`` that are still there, running or
    ended and never waited for, once they have had ``within`` seconds to go."""
    deadline = time.monotonic() + within
    while True:
        left = children() - before
        running = {pid for pid in left if process_running(pid)}
        if not running or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


@pytest.fixture(scope="module")
def hello(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    code = write_service(tmp_path_factory.mktemp("hello"), HELLO % "hi")
    artifact, _ = build(runner, spec(code))
    return artifact


def test_runner_implements_the_protocol(runner: Runner) -> None:
    assert isinstance(runner, Runner)


def test_build_start_serve_stop(runner: Runner, hello: Artifact) -> None:
    assert hello.runner == runner.name
    assert runner.exists(hello)
    assert Artifact.from_dict(json.loads(json.dumps(hello.to_dict()))) == hello

    handle = runner.start(hello, PROFILE, {})
    try:
        wait_for(runner, handle, State.HEALTHY)
        assert get(handle, "/") == (200, {"hello": "world", "greeting": "hi"})
        assert get(handle, "/_shipyard/health") == (200, {"status": "ok", "generation": "v1"})
        assert "Starting gunicorn" in runner.logs(handle)
        assert runner.logs(handle, tail=1).count("\n") == 1
        assert runner.usage(handle).memory_bytes > 0
    finally:
        runner.stop(handle, grace=10)

    assert not port_open(handle)
    assert not process_running(handle.pid)
    assert runner.health(handle) == State.EXITED
    assert runner.usage(handle).memory_bytes == 0
    runner.stop(handle)  # idempotent


def test_code_that_does_not_import_fails_the_build_with_its_traceback(
    runner: Runner, tmp_path: Path
) -> None:
    lines: list[str] = []
    with pytest.raises(BuildFailed) as failure:
        runner.build(spec(write_service(tmp_path / "broken", BROKEN)), lines.append)
    assert "\n" not in failure.value.message
    assert "the reason is here" in failure.value.message
    log = "\n".join(lines)
    assert "Traceback (most recent call last)" in log
    assert 'raise RuntimeError("this service does not import: the reason is here")' in log


def test_code_only_change_reuses_the_environment(
    runner: Runner, hello: Artifact, tmp_path: Path
) -> None:
    code = write_service(tmp_path / "v2", HELLO % "hello again")
    artifact, lines = build(runner, spec(code, generation="v2"))
    assert artifact.env_key == hello.env_key
    assert artifact.key != hello.key
    commands = [line for line in lines if line.startswith("$ ")]
    assert not [command for command in commands if "install" in command or " venv" in command]

    handle = runner.start(artifact, PROFILE, {})
    try:
        wait_for(runner, handle, State.HEALTHY)
        assert get(handle, "/")[1]["greeting"] == "hello again"
        assert get(handle, "/_shipyard/health")[1]["generation"] == "v2"
    finally:
        runner.stop(handle, grace=10)


def test_a_new_runner_adopts_a_live_instance_and_stops_it(
    make_runner: RunnerFactory, runner: Runner, hello: Artifact
) -> None:
    before = children()
    handle = runner.start(hello, PROFILE, {})
    try:
        wait_for(runner, handle, State.HEALTHY)
        stored = json.loads(json.dumps(handle.to_dict()))
        restarted = make_runner()
        adopted = InstanceHandle.from_dict(stored)
        assert adopted == handle
        assert restarted.adopt(adopted)
        assert restarted.health(adopted) == State.HEALTHY
        assert restarted.usage(adopted).memory_bytes > 0
        assert "Starting gunicorn" in restarted.logs(adopted)
        restarted.stop(adopted, grace=10)
        assert not restarted.adopt(adopted)
        assert runner.health(handle) == State.EXITED
        assert not port_open(handle)
    finally:
        runner.stop(handle, grace=10)
    # The runner that started it still reaps what it started (the bwrap around the master).
    assert not left_behind(before)


def test_adopt_refuses_a_pid_that_is_not_the_instance(runner: Runner, hello: Artifact) -> None:
    handle = runner.start(hello, PROFILE, {})
    try:
        wait_for(runner, handle, State.HEALTHY)
        stranger = InstanceHandle.from_dict({**handle.to_dict(), "pid": os.getpid()})
        assert not runner.adopt(stranger)
        runner.stop(stranger, grace=1)  # must not signal this test process
        assert runner.health(handle) == State.HEALTHY
    finally:
        runner.stop(handle, grace=10)


def test_a_killed_instance_reports_exited(runner: Runner, hello: Artifact) -> None:
    before = children()
    handle = runner.start(hello, PROFILE, {})
    try:
        wait_for(runner, handle, State.HEALTHY)
        assert handle.pid is not None
        os.kill(handle.pid, signal.SIGKILL)
        wait_for(runner, handle, State.EXITED, within=10)
    finally:
        # Also kills the workers the dead master left behind, which still hold the port.
        runner.stop(handle, grace=10)
    assert not port_open(handle)
    assert not left_behind(before)


def test_remove_makes_an_artifact_unstartable(runner: Runner, tmp_path: Path) -> None:
    artifact, _ = build(runner, spec(write_service(tmp_path / "gone", HELLO % "bye")))
    assert runner.exists(artifact)
    runner.remove(artifact)
    assert not runner.exists(artifact)
    runner.remove(artifact)  # idempotent
