"""Deploying on ``shipyard up --runner docker``: a failed ``pip install`` and a generation
that never becomes healthy are told in the service's status and build log, and leave the
previous generation serving."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard_runners import DockerRunner
from shipyard_runners.containers import installation_id, labels
from shipyard_sdk.errors import BuildFailed, RunnerError
from tests.conftest import RunningShipyard, start_shipyard
from tests.integration.docker_engine import ON_THE_ENGINE, require_docker
from tests.integration.test_deploy import wait_for

pytestmark = [pytest.mark.slow, ON_THE_ENGINE]

HELLO = """\
import os
import signal
import time

from flask import Flask

app = Flask(__name__)

if os.environ.get("HANG_WHEN_SERVING") and os.environ.get("SHIPYARD_INSTANCE_ID"):
    # Imports at build time, never answers once started, stops at once when told.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    time.sleep(3600)


@app.get("/hello")
def hello():
    return {"hello": "world"}
"""


@pytest.fixture
def shipyard(tmp_path: Path, database_url: str) -> Iterator[RunningShipyard]:
    require_docker()
    home = tmp_path / "home"
    running = start_shipyard(home, "--runner", "docker", env={"SHIPYARD_START_TIMEOUT": "8"},
                             database_url=database_url)
    try:
        yield running
    finally:
        running.stop()
        runner = DockerRunner(home / "docker", installation=installation_id(home))
        runner.purge()
        client = runner.engine.client()
        assert client.containers.list(
            all=True, filters=labels.installation_filter(runner.installation)
        ) == []


def hello(shipyard: RunningShipyard) -> tuple[int, str, dict[str, object]]:
    answer = shipyard.http.get(
        f"{shipyard.url}/user-services/invoke/hello/hello", timeout=10
    )
    return answer.status_code, answer.headers.get("X-Shipyard-Generation", ""), answer.json()


def test_failed_builds_and_unhealthy_generations_leave_the_old_one_serving(
    shipyard: RunningShipyard,
) -> None:
    with shipyard.sdk() as sdk:
        sdk.services.create({"name": "hello"})
        sdk.services.write_file("hello", "app.py", HELLO.encode())
        sdk.services.enable("hello")
        sdk.services.wait_until_serving("hello", sdk.services.deploy("hello")["tag"])
        assert hello(shipyard) == (200, "v1", {"hello": "world"})
        v1_packages = sdk.services.get("hello")["packages"]

        sdk.services.update("hello", {"packages": ["shipyard-no-such-package-xyz==1.0"]})
        with pytest.raises(BuildFailed, match="installing packages failed"):
            sdk.services.wait_until_serving("hello", sdk.services.deploy("hello")["tag"])
        status = sdk.services.get("hello")
        assert "shipyard-no-such-package-xyz" in status["status_message"]
        assert "v1 still serving" in status["status_message"]
        log = "\n".join(sdk.services.build_log("hello", 2))
        assert "No matching distribution found for shipyard-no-such-package-xyz" in log
        assert hello(shipyard) == (200, "v1", {"hello": "world"})

        sdk.services.update("hello", {"packages": v1_packages})
        # The control plane passes its own environment to no container: this generation
        # sets the variable in its code.
        sdk.services.write_file(
            "hello", "app.py",
            ("import os\nos.environ['HANG_WHEN_SERVING'] = '1'\n" + HELLO).encode(),
        )
        with pytest.raises(RunnerError):
            sdk.services.wait_until_serving("hello", sdk.services.deploy("hello")["tag"])
        # The service's status and its target are read apart: the status may lag a little.
        deadline = time.monotonic() + 10
        status = sdk.services.get("hello")
        while "never became healthy" not in status["status_message"]:
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
            status = sdk.services.get("hello")
        assert "v3 never became healthy in 8s" in status["status_message"]
        assert "v1 still serving" in status["status_message"]
        assert hello(shipyard) == (200, "v1", {"hello": "world"})


def test_a_service_that_names_the_docker_runner_runs_in_a_container_on_a_local_installation(
    tmp_path: Path, database_url: str
) -> None:
    require_docker()
    home = tmp_path / "home"
    shipyard = start_shipyard(home, database_url=database_url)
    try:
        with shipyard.sdk() as sdk:
            sdk.services.create({"name": "hello", "runner": "docker"})
            sdk.services.write_file("hello", "app.py", HELLO.encode())
            sdk.services.enable("hello")
            sdk.services.wait_until_serving("hello", sdk.services.deploy("hello")["tag"])
            assert hello(shipyard) == (200, "v1", {"hello": "world"})
            assert "Starting gunicorn" in sdk.services.runtime_logs("hello")
        runner = DockerRunner(home / "docker", installation=installation_id(home))
        [container] = runner.engine.client().containers.list(
            filters=labels.installation_filter(runner.installation, {labels.KIND: "instance"})
        )
        assert container.labels[labels.GENERATION] == "v1"
    finally:
        shipyard.stop()
        DockerRunner(home / "docker", installation=installation_id(home)).purge()


@pytest.mark.timeout(900)  # two image builds on a shared machine
def test_deleting_a_generation_and_then_its_service_removes_their_images(
    shipyard: RunningShipyard,
) -> None:
    runner = DockerRunner(shipyard.home / "docker", installation=installation_id(shipyard.home))
    engine = runner.engine.client()

    def images(**more: str) -> list[object]:
        # Intermediate images of the builds too: they carry the labels of their image. The
        # raw listing: docker-py's model layer reads each listed image again, and one the
        # supervisor removes in between would fail that read.
        return engine.api.images(
            all=True, filters=labels.installation_filter(runner.installation, more)
        )

    with shipyard.sdk() as sdk:
        sdk.services.create({"name": "hello"})
        sdk.services.write_file("hello", "app.py", HELLO.encode())
        sdk.services.enable("hello")
        sdk.services.wait_until_serving("hello", sdk.services.deploy("hello")["tag"])
        service_id = sdk.services.get("hello")["id"]
        sdk.services.write_file("hello", "note.txt", b"a code change\n")
        sdk.services.wait_until_serving("hello", sdk.services.deploy("hello")["tag"])
        [v1] = engine.images.list(filters=labels.installation_filter(
            runner.installation, {labels.SERVICE: service_id, labels.GENERATION: "v1"}))
        env_key = v1.labels[labels.ENV_KEY]
        assert images(**{labels.KIND: "environment", labels.ENV_KEY: env_key})

        wait_for(lambda: {i["generation"] for i in sdk.services.get("hello")["instances"]}
                 == {"v2"}, what="v1's container to stop")
        sdk.generations.delete("hello", "v1")
        wait_for(lambda: not images(**{labels.SERVICE: service_id, labels.GENERATION: "v1"}),
                 what="v1's image to go")
        # v2 is built on the same environment image, which stays.
        assert images(**{labels.SERVICE: service_id, labels.GENERATION: "v2"})
        assert images(**{labels.KIND: "environment", labels.ENV_KEY: env_key})
        assert hello(shipyard) == (200, "v2", {"hello": "world"})

        sdk.services.undeploy("hello")
        wait_for(lambda: sdk.services.get("hello")["state"] == "stopped",
                 what="hello to stop")
        sdk.services.delete("hello")
        wait_for(lambda: not images(**{labels.SERVICE: service_id}),
                 what="no image of the service to be left")
        wait_for(lambda: not images(**{labels.KIND: "environment", labels.ENV_KEY: env_key}),
                 what="its environment image to go")


SECRET_APP = """\
import hashlib
import os

from flask import Flask

app = Flask(__name__)
TOKEN = os.environ["API_TOKEN"]  # at import: the build's check needs it too


@app.get("/token")
def token():
    path = "/run/secrets/API_TOKEN"
    try:
        open(path, "a").close()
        writable = True
    except OSError:
        writable = False
    with open(path) as handle:
        from_file = handle.read()
    return {"sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
            "file_matches": from_file == TOKEN, "file_writable": writable,
            "greeting": os.environ["GREETING"]}
"""


def test_a_secret_is_a_read_only_file_and_a_variable_in_the_container_and_nowhere_else(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    """The import check and the instance both get the secret; the engine's description
    of the container, the build log and the home never hold its value; its folder in
    memory goes with the instance."""
    value = f"tok-{uuid.uuid4().hex}"
    folder = tmp_path / "vault"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text("name: vault\nenv: {GREETING: hi}\n")
    (folder / "app.py").write_text(SECRET_APP)
    assert shipyard.cli("push", str(folder)).returncode == 0
    with shipyard.sdk() as sdk:
        sdk.services.set_secret("vault", "API_TOKEN", value)
        deployed = shipyard.cli("deploy", str(folder))
        assert deployed.returncode == 0, deployed.stderr
        answer = shipyard.http.get(f"{shipyard.url}/user-services/invoke/vault/token",
                                   timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"sha256": hashlib.sha256(value.encode()).hexdigest(),
                                 "file_matches": True, "file_writable": False,
                                 "greeting": "hi"}
        build_log = "\n".join(sdk.services.build_log("vault", 1))
        assert "with secret(s) API_TOKEN as files in /run/secrets" in build_log
        runner = DockerRunner(shipyard.home / "docker",
                              installation=installation_id(shipyard.home))
        [container] = runner.engine.client().containers.list(
            filters=labels.installation_filter(runner.installation, {labels.KIND: "instance"})
        )
        described = json.dumps(container.attrs)
        assert value not in described and "GREETING=hi" in described
        [mount] = container.attrs["Mounts"]
        assert mount["Destination"] == "/run/secrets" and mount["RW"] is False
        assert Path(mount["Source"]).parent == runner.secret_folders.root
        assert value not in build_log and value not in deployed.stdout + deployed.stderr
        assert [path for path in shipyard.home.rglob("*") if path.is_file()
                and value.encode() in path.read_bytes()] == []

        # v2's instance has a folder of its own; v1's goes with v1's instance.
        sdk.services.wait_until_serving("vault", sdk.services.deploy("vault")["tag"])
        deadline = time.monotonic() + 60
        while Path(mount["Source"]).exists():
            assert time.monotonic() < deadline, "the secret folder outlived its instance"
            time.sleep(0.2)
        assert len(list(runner.secret_folders.root.iterdir())) == 1
