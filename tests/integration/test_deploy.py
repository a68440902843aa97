"""Deploy on the embedded default: real control plane, real uv virtualenvs, real gunicorn
instances called on their loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from tests.conftest import RunningShipyard, start_shipyard

pytestmark = pytest.mark.slow

BROKEN_AT_IMPORT = "import flask\nraise RuntimeError('this service is broken on purpose')\n"
# Imports fine in the build's check, fails in gunicorn's workers: exit status 3 makes the
# gunicorn master give up (its "worker failed to boot"), 1 makes it retry forever.
FAILS_IN_GUNICORN = (
    "import sys\nfrom flask import Flask\napp = Flask(__name__)\n"
    "if 'gunicorn' in sys.argv[0]:\n    print('refusing to serve')\n    raise SystemExit({code})\n"
)


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def status(shipyard: RunningShipyard, name: str = "add-numbers") -> dict[str, Any]:
    return shipyard.http.get(f"{shipyard.url}/api/v1/services/{name}", timeout=10).json()


def add(address: str) -> requests.Response:
    return requests.post(f"http://{address}/add-numbers", json={"num1": 2, "num2": 5}, timeout=10)


def scaffold_and_push(shipyard: RunningShipyard, tmp_path: Path, *, enable: bool = True) -> Path:
    assert shipyard.cli("new", "custom", "add-numbers", cwd=tmp_path).returncode == 0
    pushed = shipyard.cli("push", "add-numbers", cwd=tmp_path)
    assert pushed.returncode == 0, pushed.stderr
    if enable:
        assert shipyard.cli("enable", "add-numbers").returncode == 0
    return tmp_path / "add-numbers"


def deploy(shipyard: RunningShipyard) -> str:
    """Deploy through the CLI and return the live instance's address."""
    result = shipyard.cli("deploy", "add-numbers")
    assert result.returncode == 0, result.stdout + result.stderr
    (instance,) = [i for i in status(shipyard)["instances"] if i["state"] == "healthy"]
    return instance["address"]


def put_file(shipyard: RunningShipyard, path: str, content: str) -> None:
    answer = shipyard.http.put(
        f"{shipyard.url}/api/v1/services/add-numbers/files/{path}", data=content, timeout=10
    )
    assert answer.status_code == 200, answer.text


def port_closed(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


def master_pid(address: str) -> int:
    """The gunicorn master serving ``address`` (the socket may be listed under a worker)."""
    port = int(address.rsplit(":", 1)[1])
    holders = {
        c.pid for c in psutil.net_connections(kind="tcp")
        if c.laddr and c.laddr.port == port and c.status == "LISTEN" and c.pid
    }
    assert holders, f"nothing listens on {address}"
    process = psutil.Process(holders.pop())
    while (parent := process.parent()) and "gunicorn" in " ".join(parent.cmdline()):
        process = parent
    return process.pid


def test_deploy_serves_streams_its_log_and_undeploys(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    scaffold_and_push(shipyard, tmp_path)
    result = shipyard.cli("deploy", "add-numbers")
    assert result.returncode == 0, result.stderr
    assert "building add-numbers v1" in result.stdout
    assert "the app app:app imports" in result.stdout
    assert "add-numbers v1 is serving" in result.stderr

    service = status(shipyard)
    assert (service["state"], service["live_generation"], service["deployed"]) == (
        "running", "v1", True
    )
    (instance,) = service["instances"]
    assert add(instance["address"]).json() == 7

    # A master and one Flask worker hold tens of MiB once the worker has booted.
    wait_for(
        lambda: status(shipyard)["instances"][0]["memory_bytes"] > 20 * 1024 * 1024,
        what="usage to be reported",
    )

    logs = shipyard.cli("logs", "add-numbers")
    assert "built v1" in logs.stdout
    runtime = shipyard.cli("logs", "add-numbers", "--runtime")
    assert "Listening at" in runtime.stdout or "Booting worker" in runtime.stdout

    builds_url = f"{shipyard.url}/api/v1/services/add-numbers/builds"
    builds = shipyard.http.get(builds_url, timeout=10).json()
    assert [(b["tag"], b["build_state"]) for b in builds["builds"]] == [("v1", "succeeded")]

    pid = master_pid(instance["address"])
    undeployed = shipyard.cli("undeploy", "add-numbers")
    assert undeployed.returncode == 0, undeployed.stderr
    service = status(shipyard)
    assert (service["state"], service["deployed"], service["instances"]) == ("stopped", False, [])
    # The instance drains and stops in the background: the gateway's idle keep-alive
    # connection to it is closed within a second of it leaving the routing table.
    wait_for(lambda: port_closed(instance["address"]), what="the instance's port to close")
    wait_for(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
        what="the instance's master to exit",
    )


def test_deploying_a_disabled_service_is_refused(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    scaffold_and_push(shipyard, tmp_path, enable=False)
    result = shipyard.cli("deploy", "add-numbers")
    assert result.returncode == 1
    assert "Error: service 'add-numbers' is disabled; enable it before deploying" in result.stderr
    assert status(shipyard)["deployed"] is False


def test_a_broken_redeploy_keeps_the_old_generation_serving(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    scaffold_and_push(shipyard, tmp_path)
    address = deploy(shipyard)
    put_file(shipyard, "app.py", BROKEN_AT_IMPORT)

    result = shipyard.cli("deploy", "add-numbers")
    assert result.returncode == 1
    assert "Error: build of add-numbers v2 failed" in result.stderr
    assert "RuntimeError: this service is broken on purpose" in result.stdout  # the traceback

    service = status(shipyard)
    assert service["live_generation"] == "v1"
    assert service["state"] == "running"
    assert "build of v2 failed" in service["status_message"]
    assert "v1 still serving" in service["status_message"]
    assert add(address).json() == 7


def test_a_generation_that_keeps_exiting_leaves_the_old_serving(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    scaffold_and_push(shipyard, tmp_path)
    address = deploy(shipyard)
    put_file(shipyard, "app.py", FAILS_IN_GUNICORN.format(code=3))

    result = shipyard.cli("deploy", "add-numbers")
    assert result.returncode == 1
    assert "did not start" in result.stderr
    service = status(shipyard)
    assert service["live_generation"] == "v1"
    assert "v2 exited 3 times before it became healthy" in service["status_message"]
    assert "refusing to serve" in service["status_message"]
    assert add(address).json() == 7
    assert [i["generation"] for i in service["instances"]] == ["v1"]


def test_a_generation_that_never_answers_leaves_the_old_serving(
    tmp_path: Path, database_url: str
) -> None:
    shipyard = start_shipyard(tmp_path / "home", env={"SHIPYARD_START_TIMEOUT": "5"},
                              database_url=database_url)
    try:
        scaffold_and_push(shipyard, tmp_path)
        address = deploy(shipyard)
        put_file(shipyard, "app.py", FAILS_IN_GUNICORN.format(code=1))
        result = shipyard.cli("deploy", "add-numbers")
        assert result.returncode == 1
        service = status(shipyard)
        assert service["live_generation"] == "v1"
        assert "v2 never became healthy in 5s" in service["status_message"]
        assert add(address).json() == 7
        wait_for(lambda: len(status(shipyard)["instances"]) == 1, what="v2 to be stopped")
    finally:
        shipyard.stop()


def test_a_killed_instance_comes_back(shipyard: RunningShipyard, tmp_path: Path) -> None:
    scaffold_and_push(shipyard, tmp_path)
    address = deploy(shipyard)
    os.kill(master_pid(address), signal.SIGKILL)

    def restarted() -> dict[str, Any] | None:
        instances = status(shipyard)["instances"]
        ok = instances and instances[0]["restarts"] >= 1 and instances[0]["state"] == "healthy"
        return instances[0] if ok else None

    instance = wait_for(restarted, what="the instance to restart")
    assert add(instance["address"]).json() == 7


def test_an_instance_that_stops_answering_leaves_the_routing_table_until_it_answers(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    """A healthy instance that misses a probe stays routed (it may only be busy); one that
    misses several in a row leaves the routing table, and comes back once it answers."""
    scaffold_and_push(shipyard, tmp_path)
    address = deploy(shipyard)
    master = psutil.Process(master_pid(address))
    frozen = [master, *master.children(recursive=True)]
    for process in frozen:
        process.suspend()
    try:
        wait_for(lambda: status(shipyard)["instances"][0]["state"] == "unhealthy",
                 what="the frozen instance to be unhealthy")
        answer = shipyard.http.post(
            f"{shipyard.url}/user-services/invoke/add-numbers/add-numbers",
            json={"num1": 2, "num2": 5}, timeout=10,
        )
        assert answer.status_code == 503, answer.text
    finally:
        for process in frozen:
            process.resume()
    log = (shipyard.home.parent / f"{shipyard.home.name}-up.log").read_text()
    assert "missed its health probe (1 in a row)" in log
    assert "missed its health probe (2 in a row)" in log
    assert "missed 3 health probes in a row" in log
    wait_for(lambda: status(shipyard)["instances"][0]["state"] == "healthy",
             what="the thawed instance to be healthy again")
    assert add(address).json() == 7
    assert status(shipyard)["instances"][0]["restarts"] == 0


def test_a_restarted_control_plane_serves_again_without_rebuilding(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    scaffold_and_push(shipyard, tmp_path)
    deploy(shipyard)
    log_before = shipyard.http.get(f"{shipyard.url}/api/v1/services/add-numbers/builds/1/log").text
    assert shipyard.stop() == 0

    again = start_shipyard(shipyard.home, database_url=shipyard.database_url)
    try:
        def serving() -> str | None:
            service = status(again)
            healthy = [i for i in service["instances"] if i["state"] == "healthy"]
            return healthy[0]["address"] if service["state"] == "running" and healthy else None

        address = wait_for(serving, what="the service to serve again")
        assert add(address).json() == 7
        builds = again.http.get(f"{again.url}/api/v1/services/add-numbers/builds").json()["builds"]
        assert [b["tag"] for b in builds] == ["v1"]
        log_after = again.http.get(f"{again.url}/api/v1/services/add-numbers/builds/1/log").text
        assert log_after == log_before
    finally:
        again.stop()


def test_build_log_follow_streams_until_the_build_ends(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    scaffold_and_push(shipyard, tmp_path)
    started = shipyard.http.post(f"{shipyard.url}/api/v1/services/add-numbers/deploy", timeout=10)
    assert started.status_code == 202
    number = started.json()["build"]
    with shipyard.http.get(
        f"{shipyard.url}/api/v1/services/add-numbers/builds/{number}/log",
        params={"follow": "true"}, stream=True, timeout=120,
    ) as answer:
        assert answer.headers.get("Transfer-Encoding") == "chunked"
        lines = list(answer.iter_lines(decode_unicode=True))
    assert lines[0].startswith("building add-numbers v1")
    assert lines[-1] == "built v1"
    build = shipyard.http.get(f"{shipyard.url}/api/v1/services/add-numbers/builds/{number}").json()
    assert build["build_state"] == "succeeded"
    shipyard.cli("undeploy", "add-numbers")
