"""What only the local runner promises: its environments, limits and subprocess helper."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import psutil
import pytest

from shipyard_runners import BuildSpec, InstanceHandle, LocalRunner, Profile, State
from shipyard_runners.commands import run
from shipyard_runners.venvs import MARKER, distributions
from shipyard_sdk.errors import BuildFailed

pytestmark = pytest.mark.slow

SERVICE = """\
import os

from flask import Flask

app = Flask(__name__)


@app.get("/env")
def env():
    return dict(os.environ)


@app.get("/allocate/<int:mebibytes>")
def allocate(mebibytes):
    block = bytearray(mebibytes * 1024 * 1024)
    return {"allocated": len(block)}
"""

# Modules the control plane needs and a service must not get (click is flask's own).
CONTROL_PLANE_ONLY = ["alembic", "sqlalchemy", "psutil", "pyyaml", "requests", "uv", "packaging"]


def profile(memory_mib: int = 2048, gpu: int = 0) -> Profile:
    return Profile(name="test", cpu=1, memory_bytes=memory_mib * 1024**2, gpu=gpu)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> LocalRunner:
    return LocalRunner(tmp_path_factory.mktemp("local"))


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("service")
    (directory / "app.py").write_text(SERVICE)
    return directory


def spec(code: Path, packages: tuple[str, ...] = (), service_id: str = "svc-local") -> BuildSpec:
    return BuildSpec(
        service_id=service_id, service_name="local", generation="v1", code_dir=code,
        packages=packages, profile=profile(),
    )


def healthy(runner: LocalRunner, handle: InstanceHandle) -> None:
    deadline = time.monotonic() + 30
    while runner.health(handle) != State.HEALTHY:
        assert time.monotonic() < deadline, runner.logs(handle, tail=30)
        time.sleep(0.05)


def get(handle: InstanceHandle, path: str) -> tuple[int, dict[str, object]]:
    url = f"http://{handle.host}:{handle.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {}


def test_environment_holds_the_runtime_and_none_of_the_control_plane(
    local: LocalRunner, code: Path
) -> None:
    artifact = local.build(spec(code), lambda line: None)
    env = local.envs.path(artifact.env_key)
    installed = distributions(env)
    assert {"flask", "gunicorn"} <= installed.keys()
    assert not [name for name in CONTROL_PLANE_ONLY if name in installed]
    site = next(env.glob("lib/python3*/site-packages"))
    assert (site / "shipyard_sdk" / "runtime" / "wsgi.py").is_file()
    assert list((site / "shipyard_sdk" / "runtime" / "__pycache__").glob("wsgi.*.pyc"))
    assert list((site / "flask" / "__pycache__").glob("*.pyc")), "bytecode was not compiled"
    marker = json.loads((env / MARKER).read_text())
    assert marker["key"] == artifact.env_key
    assert marker["distributions"]["flask"] == installed["flask"]
    probe = subprocess.run(
        [local.envs.python(artifact.env_key), "-c", "import sqlalchemy"],
        capture_output=True, check=False,
    )
    assert probe.returncode != 0


def test_instance_environment_is_built_from_scratch(
    local: LocalRunner, code: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_SECRET_KEY", "control-plane-only")
    artifact = local.build(spec(code), lambda line: None)
    handle = local.start(artifact, profile(), {"GREETING": "hi"})
    try:
        healthy(local, handle)
        status, env = get(handle, "/env")
        assert status == 200
        assert "SHIPYARD_SECRET_KEY" not in env
        assert env["GREETING"] == "hi"
        assert env["SHIPYARD_GENERATION"] == "v1"
        assert env["SHIPYARD_INSTANCE_ID"] == handle.instance_id
        assert env["PYTHONUNBUFFERED"] == "1"
        assert env["CUDA_VISIBLE_DEVICES"] == ""
    finally:
        local.stop(handle, grace=10)


def test_allocating_past_the_memory_limit_fails_and_the_instance_serves_on(
    local: LocalRunner, code: Path
) -> None:
    artifact = local.build(spec(code), lambda line: None)
    handle = local.start(artifact, profile(memory_mib=256), {})
    try:
        healthy(local, handle)
        assert get(handle, "/allocate/16") == (200, {"allocated": 16 * 1024**2})
        assert get(handle, "/allocate/512")[0] == 500
        assert "MemoryError" in local.logs(handle)
        assert get(handle, "/allocate/16")[0] == 200
        assert local.health(handle) == State.HEALTHY
    finally:
        local.stop(handle, grace=10)


def test_concurrent_builds_of_one_environment_build_it_once(
    tmp_path: Path, code: Path
) -> None:
    runner = LocalRunner(tmp_path / "root")
    logs: list[list[str]] = [[], []]
    errors: list[BaseException] = []

    def build(index: int) -> None:
        try:
            runner.build(spec(code, service_id=f"svc-{index}"), logs[index].append)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(index,)) for index in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    installs = [line for log in logs for line in log if " pip install " in line]
    assert len(installs) == 1
    assert any("reusing it" in line for log in logs for line in log)
    assert len([path for path in (tmp_path / "root" / "envs").iterdir()
                if not path.name.startswith(".")]) == 1
    assert not list((tmp_path / "root" / "envs").glob(".tmp-*"))


def test_pip_builds_the_environment_when_uv_is_not_there(tmp_path: Path, code: Path) -> None:
    runner = LocalRunner(tmp_path / "root", installer="pip")
    lines: list[str] = []
    artifact = runner.build(spec(code), lines.append)
    assert any(" -m pip install " in line for line in lines)
    assert json.loads((runner.envs.path(artifact.env_key) / MARKER).read_text())[
        "installer"] == "pip"
    handle = runner.start(artifact, profile(), {})
    try:
        healthy(runner, handle)
    finally:
        runner.stop(handle, grace=10)


def test_a_package_that_does_not_exist_fails_the_build(local: LocalRunner, code: Path) -> None:
    lines: list[str] = []
    with pytest.raises(BuildFailed, match="installing packages failed"):
        local.build(spec(code, packages=("shipyard-no-such-package-xq7",)), lines.append)
    assert any("shipyard-no-such-package-xq7" in line for line in lines[2:])
    assert not list(local.envs.root.glob(".tmp-*"))


def test_run_streams_lines_and_fails_with_the_last_one() -> None:
    lines: list[str] = []
    script = "import sys; print('one'); print('two', file=sys.stderr); sys.exit(3)"
    with pytest.raises(BuildFailed) as failure:
        run([sys.executable, "-c", script], lines.append, what="the step",
            extra_env={"API_TOKEN": "hunter2"})
    assert failure.value.message == "the step failed (exit code 3): two"
    assert lines[0].startswith("$ 'API_TOKEN=***' ")
    assert lines[1:] == ["one", "two"]
    assert run([sys.executable, "-c", "pass"], lines.append, what="ok") == 0


def test_run_kills_a_step_that_runs_too_long() -> None:
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', " \
             "'import time; time.sleep(60)']); print('started', flush=True); time.sleep(60)"
    started = time.monotonic()
    with pytest.raises(BuildFailed, match="timed out"):
        run([sys.executable, "-c", script], lambda line: None, what="slow", timeout=2)
    assert time.monotonic() - started < 30


def test_the_leak_check_catches_and_kills_a_forgotten_child(
    leak_guard: Callable[[], AbstractContextManager[None]],
) -> None:
    with pytest.raises(pytest.fail.Exception, match="left child processes alive"), leak_guard():
        forgotten = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
        )
    assert forgotten.wait(timeout=5) is not None
    assert not psutil.pid_exists(forgotten.pid)
