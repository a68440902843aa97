"""``shipyard up --runner swarm`` on a single-node swarm on loopback, end to end: the
add-numbers example and the iris model service, three replicas each, every replica a Swarm
service of its own reached at the port it publishes, answering through the gateway; and
nothing of the installation left in the swarm once Shipyard stops. Its store is
PostgreSQL, as the control-plane nodes of several machines would share it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from shipyard_runners import SwarmRunner
from shipyard_runners.containers import installation_id, labels
from tests.conftest import REPO, RunningShipyard, start_shipyard
from tests.integration.swarm_engine import IN_THE_SWARM, require_swarm, swarm_registry
from tests.integration.test_deploy import wait_for

pytestmark = [pytest.mark.slow, IN_THE_SWARM,
              pytest.mark.parametrize("database", ["postgresql"], indirect=True)]

REPLICAS = 3
# Swarm reserves each replica's profile: six replicas of the stock small profile (1 cpu,
# 4 GiB) do not fit a 2-core machine, so the profile here is smaller.
ENVIRONMENTS = """\
profiles:
  small:
    description: A quarter of a core, for six replicas on a small machine
    cpu: 0.25
    memory: 1GiB
    gpu: 0
    max_replicas: 4
    base_image: shipyard/python:3.11-bookworm
default: small
"""


def swarm_services(runner: SwarmRunner) -> list[dict[str, Any]]:
    """The Swarm services of the runner's installation."""
    client = runner.engine.client()
    return list(client.api.services(filters=labels.installation_filter(runner.installation)))


@pytest.fixture(scope="module")
def registry(request: pytest.FixtureRequest) -> str:
    """The session's registry, on an engine in swarm mode (started before any test's own
    processes are counted)."""
    require_swarm(request.config)
    return swarm_registry(request.config)


@pytest.fixture
def shipyard(registry: str, tmp_path: Path, database_url: str
             ) -> Iterator[tuple[RunningShipyard, SwarmRunner]]:
    home = tmp_path / "home"
    environments = tmp_path / "environments.yaml"
    environments.write_text(ENVIRONMENTS)
    running = start_shipyard(home, "--runner", "swarm", "--swarm-registry", registry,
                             env={"SHIPYARD_ENVIRONMENTS_FILE": str(environments)},
                             database_url=database_url)
    runner = SwarmRunner(home / "swarm", installation=installation_id(home), registry=registry)
    try:
        yield running, runner
    finally:
        running.stop()
        left = [service["Spec"]["Name"] for service in swarm_services(runner)]
        runner.purge()
        assert left == [], ("Swarm services left behind by shipyard up:\n"
                            + (tmp_path / "home-up.log").read_text()[-4000:])


def status(shipyard: RunningShipyard, service: str) -> dict[str, Any]:
    return shipyard.http.get(f"{shipyard.url}/api/v1/services/{service}", timeout=10).json()


def healthy(shipyard: RunningShipyard, service: str) -> list[dict[str, Any]]:
    return [i for i in status(shipyard, service)["instances"] if i["state"] == "healthy"]


def invoke_url(shipyard: RunningShipyard, service: str, path: str) -> str:
    return f"{shipyard.url}/user-services/invoke/{service}/{path.lstrip('/')}"


def check_replicas(shipyard: RunningShipyard, runner: SwarmRunner, service: str) -> None:
    """The service runs REPLICAS healthy replicas, each the one task of a Swarm service of
    its own, at the port that service publishes, each answering its health route."""
    replicas = wait_for(lambda: len(h := healthy(shipyard, service)) == REPLICAS and h,
                        what=f"{REPLICAS} healthy replicas of {service}", timeout=300)
    addresses = {replica["address"] for replica in replicas}
    assert len(addresses) == REPLICAS
    published = set()
    for swarm_service in swarm_services(runner):
        spec = swarm_service["Spec"]
        if spec["Labels"].get(labels.SERVICE) != status(shipyard, service)["id"]:
            continue
        assert spec["Mode"] == {"Replicated": {"Replicas": 1}}
        assert spec["TaskTemplate"]["RestartPolicy"]["Condition"] == "none"
        (port,) = spec["EndpointSpec"]["Ports"]
        assert port["PublishMode"] == "host"
        published.add(f"127.0.0.1:{port['PublishedPort']}")
    assert published == addresses
    for address in addresses:
        answer = requests.get(f"http://{address}/_shipyard/health", timeout=10)
        assert answer.json() == {"status": "ok", "generation": "v1"}


def test_add_numbers_and_iris_run_three_replicas_each_on_the_swarm(
    shipyard: tuple[RunningShipyard, SwarmRunner], tmp_path: Path
) -> None:
    running, runner = shipyard
    pytest.importorskip("sklearn")
    # The iris example trains, uploads and deploys its model while add-numbers is pushed
    # and deployed: the two builds share the supervisor's build pool, as two users' would.
    iris = subprocess.Popen(
        [sys.executable, str(REPO / "examples" / "iris" / "train_and_deploy.py"),
         "--url", running.url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=running.env(),
    )
    try:
        shutil.copytree(REPO / "examples" / "add-numbers", tmp_path / "add-numbers")
        for args in (("push", "add-numbers"),
                     ("services", "update", "add-numbers", "--min-replicas", str(REPLICAS),
                      "--max-replicas", str(REPLICAS)),
                     ("enable", "add-numbers"), ("deploy", "add-numbers")):
            done = running.cli(*args, cwd=tmp_path)
            assert done.returncode == 0, done.stdout + done.stderr
        check_replicas(running, runner, "add-numbers")
        running.wait_for_gateway_routes()
        for num1 in range(12):
            answer = running.http.post(invoke_url(running, "add-numbers", "/add-numbers"),
                                       json={"num1": num1, "num2": 5}, timeout=10)
            assert answer.status_code == 200, answer.text
            assert answer.json() == num1 + 5
            assert answer.headers["X-Shipyard-Generation"] == "v1"
        stdout, stderr = iris.communicate(timeout=900)
    finally:
        iris.kill()
        iris.wait()
    assert iris.returncode == 0, stdout + stderr
    predictions = [line.rsplit("-> ", 1)[1] for line in stdout.splitlines()]
    assert len(predictions) == 3
    assert predictions[0] == "setosa"
    more = running.cli("services", "update", "iris", "--min-replicas", str(REPLICAS),
                       "--max-replicas", str(REPLICAS))
    assert more.returncode == 0, more.stdout + more.stderr
    check_replicas(running, runner, "iris")
    running.wait_for_gateway_routes()
    record = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    for _ in range(6):
        answer = running.http.post(invoke_url(running, "iris", "/api/v1.0/predict/"),
                                   json=[record, record], timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == ["setosa", "setosa"]
    assert len(swarm_services(runner)) == 2 * REPLICAS
