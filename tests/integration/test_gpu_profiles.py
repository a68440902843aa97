"""A GPU profile on a machine (and a Docker engine) without a GPU, on each runner: without
``allow_cpu_fallback`` a new generation cannot start, is given up within the start timeout
with the reason, and leaves the old one serving; with it, the generation serves on CPU and
its build log and status say so."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard_runners import DockerRunner
from shipyard_runners.containers import installation_id
from shipyard_runners.gpus import engine_gpus, gpus_on_this_machine
from shipyard_sdk import Client
from shipyard_sdk.errors import RunnerError
from tests.conftest import RunningShipyard, start_shipyard
from tests.integration.docker_engine import BASE_IMAGE, ON_THE_ENGINE, require_docker

pytestmark = [pytest.mark.slow, ON_THE_ENGINE]

START_TIMEOUT = 6
ENVIRONMENTS = f"""\
profiles:
  small:
    cpu: 1
    memory: 1GiB
    base_image: {BASE_IMAGE}
  gpu:
    cpu: 1
    memory: 1GiB
    gpu: 1
    base_image: {BASE_IMAGE}
  gpu-or-cpu:
    cpu: 1
    memory: 1GiB
    gpu: 1
    allow_cpu_fallback: true
    base_image: {BASE_IMAGE}
default: small
"""
HELLO = """\
from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello():
    return {"hello": "world"}
"""


@pytest.fixture(params=["local", "docker"])
def shipyard(request: pytest.FixtureRequest, tmp_path: Path, database_url: str
             ) -> Iterator[RunningShipyard]:
    runner = request.param
    if runner == "docker":
        require_docker()
        if engine_gpus(DockerRunner(tmp_path / "probe", installation="probe")
                       .engine.client().info()):
            pytest.skip("this Docker engine offers GPUs")
    elif gpus_on_this_machine():
        pytest.skip("this machine has a GPU")
    home = tmp_path / "home"
    environments = tmp_path / "environments.yaml"
    environments.write_text(ENVIRONMENTS)
    running = start_shipyard(home, "--runner", runner, env={
        "SHIPYARD_ENVIRONMENTS_FILE": str(environments),
        "SHIPYARD_START_TIMEOUT": str(START_TIMEOUT),
    }, database_url=database_url)
    try:
        yield running
    finally:
        running.stop()
        if runner == "docker":
            DockerRunner(home / "docker", installation=installation_id(home)).purge()


def hello(shipyard: RunningShipyard) -> tuple[int, str]:
    answer = shipyard.http.get(f"{shipyard.url}/user-services/invoke/hello/hello", timeout=10)
    return answer.status_code, answer.headers.get("X-Shipyard-Generation", "")


def redeploy_on(sdk: Client, environment: str) -> str:
    sdk.services.update("hello", {"environment": environment})
    return str(sdk.services.deploy("hello")["tag"])


def instance_of(status: dict[str, Any], tag: str) -> dict[str, Any]:
    [instance] = [i for i in status["instances"] if i["generation"] == tag]
    return instance


def test_a_gpu_profile_without_a_gpu_does_not_start_unless_it_may_fall_back_to_cpu(
    shipyard: RunningShipyard,
) -> None:
    with shipyard.sdk() as sdk:
        sdk.services.create({"name": "hello"})
        sdk.services.write_file("hello", "app.py", HELLO.encode())
        sdk.services.enable("hello")
        sdk.services.wait_until_serving("hello", sdk.services.deploy("hello")["tag"])
        assert hello(shipyard) == (200, "v1")

        # Given up once its start timeout is over, not retried for ever.
        with pytest.raises(RunnerError, match="v2 did not start"):
            sdk.services.wait_until_serving("hello", redeploy_on(sdk, "gpu"), timeout=120)
        # The service's status and its target are read apart: the status may lag a little.
        deadline = time.monotonic() + 10
        status = sdk.services.get("hello")
        while "could not start" not in status["status_message"]:
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
            status = sdk.services.get("hello")
        message = status["status_message"]
        assert f"v2 could not start in {START_TIMEOUT}s" in message, message
        assert "profile 'gpu' asks for 1 GPU(s) and no GPU was found" in message
        assert "allow_cpu_fallback: true" in message
        assert "v1 still serving" in message
        assert (status["live_generation"], status["state"]) == ("v1", "running")
        assert [i["generation"] for i in status["instances"]] == ["v1"]
        assert hello(shipyard) == (200, "v1")
        log = "\n".join(sdk.services.build_log("hello", 2))
        assert "no GPU was found" in log and "its instances will not start" in log

        sdk.services.wait_until_serving("hello", redeploy_on(sdk, "gpu-or-cpu"), timeout=120)
        assert hello(shipyard) == (200, "v3")
        log = "\n".join(sdk.services.build_log("hello", 3))
        assert "no GPU was found" in log and "it runs on CPU (allow_cpu_fallback)" in log
        status = sdk.services.get("hello")
        assert "it runs on CPU" in instance_of(status, "v3")["last_error"]
        assert "it runs on CPU" in sdk.services.runtime_logs("hello")
