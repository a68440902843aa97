"""What only the docker runner promises: its images, limits, labels and errors, checked
against a real engine (skipped with the reason when none answers)."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import pytest

from shipyard_runners import Artifact, BuildSpec, DockerRunner, InstanceHandle, Profile, State
from shipyard_runners.containers import labels
from shipyard_runners.containers.host_address import interface_addresses
from shipyard_runners.gpus import engine_gpus
from shipyard_sdk.errors import BuildFailed, RunnerError
from tests.integration.docker_engine import (
    BASE_IMAGE,
    ON_THE_ENGINE,
    require_docker,
    test_installation,
)

pytestmark = [pytest.mark.slow, ON_THE_ENGINE]

SERVICE = """\
import os
import time

from flask import Flask, request

app = Flask(__name__)


@app.get("/env")
def env():
    return {"env": dict(os.environ), "uid": os.getuid()}


@app.get("/sleep")
def sleep():
    time.sleep(float(request.args["seconds"]))
    return {"slept": True}


@app.get("/allocate/<int:mebibytes>")
def allocate(mebibytes):
    block = bytearray(mebibytes * 1024 * 1024)
    return {"allocated": len(block)}
"""

# Modules the control plane needs and a service must not get.
CONTROL_PLANE_ONLY = ("sqlalchemy", "alembic", "psutil", "yaml", "docker", "uvloop")


def profile(cpu: float = 1, memory_mib: int = 1024, gpu: int = 0,
            base_image: str = BASE_IMAGE) -> Profile:
    return Profile(name="test", cpu=cpu, memory_bytes=memory_mib * 1024**2, gpu=gpu,
                   base_image=base_image)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerRunner]:
    require_docker()
    runner = DockerRunner(tmp_path_factory.mktemp("docker"), installation=test_installation())
    yield runner
    runner.purge()


@pytest.fixture(scope="module")
def engine(runner: DockerRunner) -> docker.DockerClient:
    return runner.engine.client()


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("service")
    (directory / "app.py").write_text(SERVICE)
    return directory


def spec(code: Path, packages: tuple[str, ...] = (), base_image: str = BASE_IMAGE
         ) -> BuildSpec:
    return BuildSpec(
        service_id="svc-docker", service_name="docker", generation="v1", code_dir=code,
        packages=packages, profile=profile(base_image=base_image),
    )


@pytest.fixture(scope="module")
def artifact(runner: DockerRunner, code: Path) -> Artifact:
    return runner.build(spec(code), lambda line: None)


def healthy(runner: DockerRunner, handle: InstanceHandle) -> None:
    deadline = time.monotonic() + 30
    while runner.health(handle) != State.HEALTHY:
        assert time.monotonic() < deadline, runner.logs(handle, tail=30)
        time.sleep(0.05)


def get(handle: InstanceHandle, path: str) -> tuple[int, dict[str, Any]]:
    url = f"http://{handle.host}:{handle.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {}


def run_in_image(engine: docker.DockerClient, image: str, script: str) -> str:
    output: bytes = engine.containers.run(
        image, ["python", "-c", script], remove=True, stderr=True,
        labels={labels.MANAGED: "true", labels.INSTALLATION: "test-probe"},
    )
    return output.decode()


def test_the_image_holds_the_runtime_compiled_and_none_of_the_control_plane(
    engine: docker.DockerClient, artifact: Artifact
) -> None:
    probe = f"CONTROL_PLANE_ONLY = {CONTROL_PLANE_ONLY!r}\n" + """
import importlib.util, json, pathlib, sys
import flask, gunicorn, requests, shipyard_sdk.runtime.wsgi
site = pathlib.Path(flask.__file__).parents[1]
print(json.dumps({
    "missing": [m for m in CONTROL_PLANE_ONLY if importlib.util.find_spec(m) is not None],
    "flask_pyc": len(list((site / "flask" / "__pycache__").glob("*.pyc"))),
    "sdk_pyc": len(list((site / "shipyard_sdk" / "runtime" / "__pycache__").glob("*.pyc"))),
    "app_pyc": len(list(pathlib.Path("__pycache__").glob("app.*.pyc"))),
    "python": sys.version_info[:2],
}))
"""
    found = json.loads(run_in_image(engine, artifact.path, probe).strip().splitlines()[-1])
    assert found["missing"] == []
    assert found["flask_pyc"] > 0 and found["sdk_pyc"] > 0 and found["app_pyc"] == 1
    assert found["python"] == [3, 11]
    image = engine.images.get(artifact.path)
    assert image.attrs["Config"]["User"] == "shipyard"
    assert image.labels[labels.INSTALLATION] != ""
    assert image.labels[labels.KIND] == "generation"


def test_an_instance_runs_as_a_user_with_its_limits_on_loopback(
    runner: DockerRunner, engine: docker.DockerClient, artifact: Artifact
) -> None:
    handle = runner.start(artifact, profile(cpu=0.5, memory_mib=300), {"GREETING": "hi"})
    try:
        healthy(runner, handle)
        status, answer = get(handle, "/env")
        assert status == 200
        assert answer["uid"] != 0
        assert answer["env"]["GREETING"] == "hi"
        assert answer["env"]["SHIPYARD_GENERATION"] == "v1"
        assert answer["env"]["SHIPYARD_INSTANCE_ID"] == handle.instance_id

        container = engine.containers.get(f"shipyard-{runner.installation}-{handle.instance_id}")
        host_config = container.attrs["HostConfig"]
        assert host_config["NanoCpus"] == 500_000_000
        assert host_config["Memory"] == 300 * 1024**2
        assert host_config["MemorySwap"] == 300 * 1024**2
        assert not host_config.get("DeviceRequests")
        assert host_config["PortBindings"] == {"8000/tcp": [{"HostIp": "127.0.0.1",
                                                             "HostPort": ""}]}
        assert container.labels[labels.INSTANCE] == handle.instance_id
        assert container.labels[labels.INSTALLATION] == runner.installation
        usage = runner.usage(handle)
        assert 0 < usage.memory_bytes < 300 * 1024**2
    finally:
        runner.stop(handle, grace=10)
    # Its output outlives the container.
    assert "Starting gunicorn" in runner.logs(handle)


def test_a_container_over_its_memory_limit_is_killed_and_reported_as_such(
    runner: DockerRunner, artifact: Artifact
) -> None:
    handle = runner.start(artifact, profile(memory_mib=160), {})
    try:
        healthy(runner, handle)
        assert get(handle, "/allocate/16") == (200, {"allocated": 16 * 1024**2})
        with pytest.raises((OSError, urllib.error.URLError)):
            get(handle, "/allocate/400")
        deadline = time.monotonic() + 30
        while runner.health(handle) != State.EXITED:
            assert time.monotonic() < deadline, runner.logs(handle, tail=20)
            time.sleep(0.1)
        assert "killed: out of memory (it used more than its limit of 160 MiB)" in runner.logs(
            handle, tail=1
        )
        assert not runner.adopt(handle)
    finally:
        runner.stop(handle, grace=5)
    assert "out of memory" in runner.logs(handle)


def test_an_instance_reaches_this_machine_on_the_engines_bridge(
    runner: DockerRunner, engine: docker.DockerClient, artifact: Artifact
) -> None:
    """On any engine, one started with default flags included (its ``bridge`` network
    names a subnet and no gateway), containers get a ``SHIPYARD_URL`` on this machine's
    address on that network, and this machine really has that address."""
    bridge = engine.networks.get("bridge").attrs
    interface = bridge["Options"]["com.docker.network.bridge.name"]
    address = runner.host_address()
    assert address in interface_addresses().get(interface, [address])
    handle = runner.start(artifact, profile(), {"SHIPYARD_URL": "http://127.0.0.1:8080"})
    try:
        healthy(runner, handle)
        _, answer = get(handle, "/env")
        assert answer["env"]["SHIPYARD_URL"] == f"http://{address}:8080"
        assert handle.notes == ()
    finally:
        runner.stop(handle, grace=0)


def test_a_gpu_profile_gets_the_engines_gpus_or_runs_on_cpu_only_where_it_may(
    runner: DockerRunner, artifact: Artifact
) -> None:
    gpu = profile(cpu=1, memory_mib=512, gpu=1)
    if engine_gpus(runner.engine.client().info()):
        described = runner.create(artifact, gpu, {})
        requests = described["HostConfig"]["DeviceRequests"]
        assert [(r["Driver"], r["Count"], r["Capabilities"]) for r in requests] == [
            ("nvidia", 1, [["gpu"]])
        ]
        pytest.skip("this engine offers GPUs: nothing to refuse or fall back from")
    with pytest.raises(RunnerError, match=re.escape(
        "profile 'test' asks for 1 GPU(s) and no GPU was found on the Docker engine; "
        "set allow_cpu_fallback: true"
    )):
        runner.start(artifact, gpu, {})
    leftovers = runner.engine.client().containers.list(
        all=True, filters=labels.installation_filter(runner.installation)
    )
    assert leftovers == []
    on_cpu = dataclasses.replace(gpu, allow_cpu_fallback=True)
    described = runner.create(artifact, on_cpu, {})
    assert not described["HostConfig"].get("DeviceRequests")
    assert described["HostConfig"]["Memory"] == 512 * 1024**2
    handle = runner.start(artifact, on_cpu, {})
    try:
        assert handle.notes == (
            "profile 'test' asks for 1 GPU(s) and no GPU was found on the Docker engine: "
            "it runs on CPU (allow_cpu_fallback)",
        )
        assert "it runs on CPU (allow_cpu_fallback)" in runner.logs(handle)
    finally:
        runner.stop(handle, grace=0)


def test_a_code_only_change_reuses_the_environment_image(
    runner: DockerRunner, artifact: Artifact, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(SERVICE + "\nVERSION = 2\n")
    lines: list[str] = []
    second = runner.build(spec(tmp_path), lines.append)
    assert second.env_key == artifact.env_key
    assert second.path != artifact.path
    assert any("reusing image" in line for line in lines)
    assert not [line for line in lines if "pip install" in line]
    runner.remove(second)
    assert not runner.exists(second)
    assert runner.exists(artifact)


def test_the_build_steps_have_the_profiles_memory_limit(
    runner: DockerRunner, artifact: Artifact, tmp_path: Path
) -> None:
    """The import check runs in a build step: an app that takes more memory at import than
    its profile grants fails the build there, as its instance would fail to start."""
    (tmp_path / "app.py").write_text(SERVICE + "\nhoard = bytearray(512 * 1024 * 1024)\n")
    hoarding = dataclasses.replace(spec(tmp_path), profile=profile(memory_mib=256))
    with pytest.raises(BuildFailed, match="importing the app failed"):
        runner.build(hoarding, lambda line: None)


def test_what_a_build_cut_short_left_is_discarded_and_built_images_stay(
    runner: DockerRunner, artifact: Artifact, engine: docker.DockerClient
) -> None:
    """A build cut short leaves an untagged image of this installation; a new supervisor
    removes it, never a tagged one (nor another installation's)."""
    dockerfile = (f"FROM {BASE_IMAGE}\nLABEL {labels.MANAGED}=true "
                  f"{labels.INSTALLATION}={runner.installation}\nRUN echo cut short\n")
    left = engine.api.build(fileobj=io.BytesIO(dockerfile.encode()), rm=True, decode=True)
    image_id = next(m["aux"]["ID"] for m in left if isinstance(m.get("aux"), dict))
    assert engine.images.get(image_id).tags == []
    runner.discard_unfinished()
    with pytest.raises(docker.errors.ImageNotFound):
        engine.images.get(image_id)
    assert runner.exists(artifact)


def test_a_missing_base_image_fails_the_build_saying_how_to_make_it(
    runner: DockerRunner, code: Path
) -> None:
    with pytest.raises(BuildFailed, match="shipyard images build-base") as failure:
        runner.build(spec(code, base_image="shipyard/no-such-base:1"), lambda line: None)
    assert "shipyard/no-such-base:1" in failure.value.message


def test_a_failed_pip_install_fails_the_build_with_pips_reason(
    runner: DockerRunner, code: Path
) -> None:
    lines: list[str] = []
    with pytest.raises(BuildFailed) as failure:
        runner.build(spec(code, packages=("shipyard-no-such-package-xyz==1.0",)), lines.append)
    assert failure.value.message.startswith("installing packages failed")
    assert "shipyard-no-such-package-xyz" in failure.value.message
    assert any("No matching distribution" in line for line in lines)


def test_no_engine_is_a_clear_build_and_start_error_and_health_falls_back_to_the_probe(
    tmp_path: Path, code: Path, runner: DockerRunner, artifact: Artifact
) -> None:
    nowhere = DockerRunner(
        tmp_path, installation=runner.installation,
        base_url=f"unix://{tmp_path}/no-docker.sock",
    )
    with pytest.raises(BuildFailed, match="no Docker engine reachable"):
        nowhere.build(spec(code), lambda line: None)
    with pytest.raises(RunnerError, match="no Docker engine reachable"):
        nowhere.start(artifact, profile(), {})
    handle = runner.start(artifact, profile(), {})
    try:
        healthy(runner, handle)
        assert nowhere.health(handle) == State.HEALTHY
        assert not nowhere.adopt(handle)
    finally:
        runner.stop(handle, grace=5)


def test_stop_lets_an_in_flight_request_finish(runner: DockerRunner, artifact: Artifact) -> None:
    handle = runner.start(artifact, profile(), {})
    with ThreadPoolExecutor(1) as pool:
        try:
            healthy(runner, handle)
            slow = pool.submit(get, handle, "/sleep?seconds=2")
            time.sleep(0.5)
        finally:
            runner.stop(handle, grace=10)
        assert slow.result() == (200, {"slept": True})
    assert runner.health(handle) == State.EXITED


def test_purge_removes_this_installations_objects_and_nobody_elses(
    tmp_path: Path, code: Path, runner: DockerRunner, artifact: Artifact
) -> None:
    other = DockerRunner(tmp_path, installation=test_installation())
    built = other.build(spec(code), lambda line: None)
    handle = other.start(built, profile(), {})
    client = other.engine.client()
    mine = labels.installation_filter(other.installation)
    assert client.containers.list(all=True, filters=mine)
    containers, images = other.purge()
    assert containers == 1 and images >= 2  # the instance; the generation and its environment
    assert client.containers.list(all=True, filters=mine) == []
    assert client.images.list(all=True, filters=mine) == []
    assert other.health(handle) == State.EXITED
    assert runner.exists(artifact)


NEEDS_SECRET = """\
import os

from flask import Flask

app = Flask(__name__)
TOKEN = os.environ["API_TOKEN"]  # read at import: the build's check must have it
MODE = os.environ["MODE"]


@app.get("/token")
def token():
    \"\"\"The token's length and where it came from.\"\"\"
    with open(os.environ["SHIPYARD_SECRETS_DIR"] + "/API_TOKEN") as handle:
        return {"length": len(TOKEN), "file_matches": handle.read() == TOKEN, "mode": MODE}
"""


def test_the_import_check_and_the_instance_get_secrets_as_read_only_files_never_shown(
    runner: DockerRunner, engine: docker.DockerClient, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(NEEDS_SECRET)
    secret = "s3cr3t-" + "x" * 20
    needing = dataclasses.replace(spec(tmp_path), variables={"MODE": "strict"})
    with pytest.raises(BuildFailed, match=r"importing the app failed \(exit code 1\): "
                                          r"KeyError: 'API_TOKEN'"):
        runner.build(needing, lambda line: None)
    assert engine.containers.list(all=True, filters=labels.installation_filter(
        runner.installation, {labels.KIND: "check"})) == []

    lines: list[str] = []
    built = runner.build(dataclasses.replace(needing, secrets={"API_TOKEN": secret}),
                         lines.append)
    assert not [line for line in lines if secret in line]
    assert any("MODE=strict" in line for line in lines)
    routes = runner.routes(built, lambda line: None)
    assert [(route.rule, route.docstring) for route in routes.routes] == [
        ("/token", "The token's length and where it came from.")]
    assert list(runner.secret_folders.root.iterdir()) == []  # the check's folder went

    handle = runner.start(built, profile(), {"MODE": "strict"}, {"API_TOKEN": secret})
    folder = runner.secret_folders.root / handle.instance_id
    try:
        healthy(runner, handle)
        assert get(handle, "/token") == (200, {"length": len(secret), "file_matches": True,
                                               "mode": "strict"})
        container = engine.containers.get(f"shipyard-{runner.installation}-{handle.instance_id}")
        assert secret not in json.dumps(container.attrs)
        assert [(mount["Destination"], mount["RW"]) for mount in container.attrs["Mounts"]] \
            == [("/run/secrets", False)]
        assert (folder / "API_TOKEN").read_text() == secret
    finally:
        runner.stop(handle, grace=5)
    assert not folder.exists()
    runner.remove(built)


def test_discard_unfinished_removes_check_containers_and_orphan_secret_folders(
    runner: DockerRunner, artifact: Artifact
) -> None:
    handle = runner.start(artifact, profile(), {}, {"API_TOKEN": "t"})
    orphan = "e" * 32
    runner.secret_folders.make(orphan, {"API_TOKEN": "left by a crash"})
    try:
        runner.discard_unfinished()
        assert (runner.secret_folders.root / handle.instance_id).exists()
        assert not (runner.secret_folders.root / orphan).exists()
    finally:
        runner.stop(handle, grace=5)
