"""``shipyard up`` heals: a child that dies is started again while the others go on
serving, the children die with their parent, and one home has one ``shipyard up``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from tests.conftest import RunningShipyard, start_shipyard

pytestmark = pytest.mark.slow

MODULES = {"api": "shipyard.api.process", "supervisor": "shipyard.supervisor",
           "gateway": "shipyard.gateway"}


def child_named(up: RunningShipyard, name: str) -> psutil.Process:
    for child in psutil.Process(up.process.pid).children():
        if MODULES[name] in child.cmdline():
            return child
    raise AssertionError(f"shipyard up has no {name} process")


def wait_for(condition, what: str, timeout: float = 60.0) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen in {timeout:g}s")


def answers(up: RunningShipyard) -> bool:
    try:
        return requests.get(f"{up.url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.parametrize("name", ["gateway", "api", "supervisor"])
def test_a_child_killed_is_started_again_and_up_keeps_running(
    tmp_path: Path, name: str, database_url: str
) -> None:
    up = start_shipyard(tmp_path / "home", database_url=database_url)
    try:
        victim = child_named(up, name)
        victim.kill()
        victim.wait(timeout=10)

        def replaced() -> bool:
            try:
                return child_named(up, name).pid != victim.pid
            except AssertionError:
                return False

        wait_for(replaced, f"a new {name} process")
        wait_for(lambda: answers(up), "the control plane answering again")
        assert up.process.poll() is None
        with up.sdk() as client:  # the whole tree works again: an API call through it
            client.services.create({"name": "after-the-crash"})
        log = up.output.read_text()
        assert f"the {name} process (pid {victim.pid}) exited with -9" in log
        assert f"starting the {name} process again (restart 1)" in log
    finally:
        assert up.stop() == 0


def test_a_second_up_on_a_home_in_use_refuses_with_the_pid(
    tmp_path: Path, database_url: str
) -> None:
    up = start_shipyard(tmp_path / "home", database_url=database_url)
    try:
        second = subprocess.run(
            [sys.executable, "-m", "shipyard", "up", "--port", "0", "--home",
             str(up.home)], capture_output=True, text=True, timeout=120,
        )
        assert second.returncode == 1
        assert second.stderr.startswith("Error: ")
        assert f"in use by another shipyard up (pid {up.process.pid}" in second.stderr
        assert answers(up)
    finally:
        up.stop()


def test_children_die_with_up_and_the_home_is_free_again(tmp_path: Path, database_url: str) -> None:
    up = start_shipyard(tmp_path / "home", database_url=database_url)
    children = psutil.Process(up.process.pid).children()
    assert len(children) == 3
    os.kill(up.process.pid, signal.SIGKILL)
    up.process.wait(timeout=10)
    _, alive = psutil.wait_procs(children, timeout=60)
    assert alive == []
    again = start_shipyard(tmp_path / "home", database_url=database_url)
    try:
        assert answers(again)
    finally:
        again.stop()


SLOW_TO_IMPORT = """\
import time

from flask import Flask

time.sleep(3)  # long enough to kill the supervisor while its import check runs
app = Flask(__name__)


@app.get("/hello")
def hello():
    return {"hello": "again"}
"""


def test_a_build_cut_short_by_a_crash_is_built_again_and_its_follower_sees_it_end(
    tmp_path: Path, database_url: str
) -> None:
    """Kill the supervisor (and the API the CLI streams the log from) during a build:
    the build starts again, its log keeps the lines of both attempts once each, what the
    first attempt left is removed, and ``shipyard deploy`` follows it to the end."""
    up = start_shipyard(tmp_path / "home", database_url=database_url)
    try:
        assert up.cli("new", "custom", "slow", cwd=tmp_path).returncode == 0
        (tmp_path / "slow" / "app.py").write_text(SLOW_TO_IMPORT)
        for args in (("push", "slow"), ("enable", "slow")):
            assert up.cli(*args, cwd=tmp_path).returncode == 0
        deploy = subprocess.Popen(
            [sys.executable, "-m", "shipyard", "deploy", "slow"], cwd=tmp_path, env=up.env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        log_url = f"{up.url}/api/v1/services/slow/builds/1/log"
        wait_for(lambda: "checking that the app imports" in up.http.get(log_url).text,
                 "the import check", timeout=300)
        artifacts = up.home / "local" / "artifacts"
        assert list(artifacts.glob("*/.tmp-v1-*")), "the build has its staging folder"
        for name in ("supervisor", "api"):
            child_named(up, name).kill()
        stdout, stderr = deploy.communicate(timeout=600)

        assert deploy.returncode == 0, stdout + stderr
        assert "Traceback" not in stderr
        assert "slow v1 is serving" in stderr
        log = up.http.get(log_url).text.splitlines()
        assert len([line for line in log if line.startswith("checking that the app imports")]
                   ) == 2
        restarted = log.index("--- the supervisor stopped during this build; building it "
                              "again from the start (attempt 2 of 3)")
        assert log[restarted + 1:].count("built v1") == 1
        # The follower saw both attempts, each line once, up to the end.
        followed = [line for line in stdout.splitlines() if line in log]
        assert followed == log
        assert not list(artifacts.glob("*/.tmp-*"))
        assert not any((up.home / "run" / "build-scratch").iterdir())
        answer = up.http.get(f"{up.url}/user-services/invoke/slow/hello", timeout=10)
        assert answer.json() == {"hello": "again"}
    finally:
        up.stop()


def test_stopping_up_while_its_supervisor_is_down_still_stops_the_instances(
    tmp_path: Path, database_url: str
) -> None:
    """The supervisor stops the instances when ``shipyard up`` stops; one that died and
    waits to be started again cannot, so a one-off supervisor does it instead."""
    from tests.integration.test_deploy import deploy, scaffold_and_push

    up = start_shipyard(tmp_path / "home", database_url=database_url)
    try:
        scaffold_and_push(up, tmp_path)
        deploy(up)
        instances = [process for process in psutil.process_iter(["cmdline"])
                     if "gunicorn" in " ".join(process.info["cmdline"] or ())
                     and str(up.home) in " ".join(process.info["cmdline"] or ())]
        assert instances, "the service's instance runs"
        supervisor = child_named(up, "supervisor")
        supervisor.kill()
        supervisor.wait(timeout=10)
    finally:
        up.stop()  # within the supervisor's restart delay
    assert "stopping the instances it started" in (tmp_path / "home-up.log").read_text()
    _, alive = psutil.wait_procs(instances, timeout=30)
    assert alive == []
