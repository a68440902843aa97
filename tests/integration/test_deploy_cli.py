"""A newcomer's path through the CLI, every process real (``shipyard up``, uv environments,
gunicorn instances, HTTP on loopback): the README's tour run line by line as a shell runs
it, the lines ``shipyard deploy FOLDER`` prints run as they are, and a deploy that gives up
after its timeout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, RunningShipyard

pytestmark = pytest.mark.slow

STALLED_IMPORT = """\
import time

from flask import Flask

time.sleep(20)  # the build's import check waits here, past the deploy's 10 s
app = Flask(__name__)
"""


def tour_commands() -> list[str]:
    """The shell commands of the README's tour, continuation lines joined, comments kept."""
    readme = (REPO / "README.md").read_text()
    tour = readme[readme.index("## A tour"):]
    start = tour.index("```sh\n") + len("```sh\n")
    block = tour[start:tour.index("```\n", start)]
    commands: list[str] = []
    pending = ""
    for line in block.splitlines():
        if not pending and line.lstrip().startswith("#"):
            continue  # a comment carried on from the command above
        pending += line
        if pending.endswith("\\"):
            pending = pending[:-1]
            continue
        commands.append(pending)
        pending = ""
    return commands


def shell_env(shipyard: RunningShipyard) -> dict[str, str]:
    """A user's shell: this checkout's ``shipyard`` first on PATH, and a control plane the
    CLI finds through its home folder (no SHIPYARD_URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(shipyard.home)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def sh(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"$ {command}\n{done.stdout}{done.stderr}"
    return done


def printed_call_lines(deploy_output: str) -> list[str]:
    return [line.strip() for line in deploy_output.splitlines()
            if line.strip().startswith(("shipyard invoke ", "curl "))]


def test_every_line_of_the_readme_tour_works(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    env = shell_env(shipyard)
    commands = tour_commands()
    assert commands[0].startswith("shipyard new custom add-numbers")
    for command in commands:
        done = sh(command, tmp_path, env)
        if command.startswith("shipyard test "):
            assert "4 passed" in done.stdout
        if command.startswith("shipyard invoke "):
            assert done.stdout.strip() == "7"
        if command.startswith("shipyard deploy "):
            assert "/user-services/invoke/add-numbers" in done.stdout
            calls = printed_call_lines(done.stdout)
            assert [line.split()[0] for line in calls] == ["shipyard", "curl"]
            if shutil.which("curl") is None:
                calls = calls[:1]
            for call in calls:
                assert sh(call, tmp_path, env).stdout.strip() == "7", call
        if command.startswith("shipyard undeploy "):
            with shipyard.sdk() as client:
                assert client.services.get("add-numbers")["state"] == "stopped"

    # NAME is still a registered service wherever no folder of that name is in the way.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    redeployed = sh("shipyard deploy add-numbers", elsewhere, env)
    assert "add-numbers v2 is serving" in redeployed.stderr
    assert printed_call_lines(redeployed.stdout) == []  # only a folder deploy prints them

    (elsewhere / "add-numbers").mkdir()
    refused = subprocess.run(["bash", "-c", "shipyard deploy add-numbers"], cwd=elsewhere,
                             env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        "Error: add-numbers is a folder without shipyard.yaml: give a service folder "
        "(`shipyard new` makes one) or a service's name"
    )


def test_a_deploy_gives_up_after_its_timeout_and_says_what_it_waited_for(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    assert shipyard.cli("new", "custom", "stalled", cwd=tmp_path).returncode == 0
    (tmp_path / "stalled" / "app.py").write_text(STALLED_IMPORT)

    done = shipyard.cli("deploy", "stalled", "--timeout", "10", cwd=tmp_path)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "checking that the app imports" in done.stdout  # the log was followed until then
    assert done.stderr.strip().splitlines()[-1] == (
        "Error: stalled v1 was not serving after 10s: its build is still building"
    )
    assert "Traceback" not in done.stderr


def test_shipyard_test_runs_the_folders_tests_among_its_packages(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    sh("shipyard new custom adder -p 'six>=1.16'", tmp_path, env)
    (tmp_path / "adder" / "tests" / "test_env.py").write_text(
        "import sys\n\nimport six\n\n\n"
        "def test_runs_in_its_own_environment():\n"
        "    assert 'test-environments' in sys.prefix\n\n\n"
        "def test_that_fails():\n"
        "    assert 1 + 1 == 3\n"
    )

    failed = subprocess.run(["bash", "-c", "shipyard test adder"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "1 failed, 5 passed" in failed.stdout

    chosen = sh("shipyard test adder -- -q -k 'not fails'", tmp_path, env)
    assert "5 passed, 1 deselected" in chosen.stdout
    assert "reusing it, nothing to install" in chosen.stderr
