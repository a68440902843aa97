"""What only the local runner promises: its environments, limits and subprocess helper."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
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

from shipyard_runners import BuildSpec, InstanceHandle, LocalRunner, Profile, State, bytecode
from shipyard_runners.commands import run
from shipyard_runners.venvs import BYTECODE, MARKER, distributions
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
# requests is in both: the SDK inside a service uses it to call other services.
CONTROL_PLANE_ONLY = [
    "alembic", "sqlalchemy", "psutil", "pyyaml", "uv", "httptools", "uvloop",
]


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
    assert {"flask", "gunicorn", "requests"} <= installed.keys()
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


def test_the_import_check_has_the_profiles_memory_limit(local: LocalRunner, tmp_path: Path
                                                       ) -> None:
    (tmp_path / "app.py").write_text(
        "from flask import Flask\n"
        "hoard = bytearray(1536 * 1024 * 1024)  # past the profile's 1 GiB\n"
        "app = Flask(__name__)\n"
    )
    build = BuildSpec(service_id="svc-hoard", service_name="hoard", generation="v1",
                      code_dir=tmp_path, packages=(), profile=profile(memory_mib=1024))
    with pytest.raises(BuildFailed, match=r"importing the app failed.*MemoryError"):
        local.build(build, lambda line: None)


def test_sandboxed_instances_read_the_environments_bytecode(local: LocalRunner, code: Path
                                                            ) -> None:
    """The sandbox's user reads every pyc the build compiled: none is compiled again."""
    artifact = local.build(spec(code), lambda line: None)
    sandbox = local.sandbox
    assert sandbox is not None
    env = local.envs.path(artifact.env_key)
    probe = subprocess.run(
        local._sandboxed(sandbox, [env / "bin" / "python", "-v", "-c", "import flask"],
                         Path(artifact.path), artifact.env_key, gpus=False),
        capture_output=True, text=True, check=True,
        env=sandbox.environment({"PYTHONDONTWRITEBYTECODE": "1"}),
    )
    loads = re.findall(r"^# code object from (.*)$", probe.stderr, re.MULTILINE)
    ours = [load for load in loads if "site-packages" in load]
    assert ours and all(load.endswith(".pyc'") for load in ours), ours


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


def pyc(env: Path, module: str) -> Path:
    """The pyc an import of ``module`` (a dotted path to a .py file) in ``env`` reads."""
    source = next(env.glob("lib/python3*/site-packages")) / (module.replace(".", "/") + ".py")
    return Path(importlib.util.cache_from_source(str(source)))


def imported_from_source(env: Path, modules: list[str]) -> tuple[list[str], int]:
    """Modules of ``env``'s site-packages that an import compiled from source instead of
    reading a valid pyc (``python -v`` says which), and how many came from pycs."""
    probe = subprocess.run(
        [env / "bin" / "python", "-v", "-c", "; ".join(f"import {name}" for name in modules)],
        capture_output=True, text=True, check=True, env={"PYTHONDONTWRITEBYTECODE": "1"},
    )
    loads = re.findall(r"^# code object from (.*)$", probe.stderr, re.MULTILINE)
    ours = [load for load in loads if "site-packages" in load]
    return [load for load in ours if not load.endswith(".pyc'")], len(ours)


def test_a_second_environment_reuses_the_bytecode_of_the_first(
    tmp_path: Path, code: Path
) -> None:
    runner = LocalRunner(tmp_path / "root")
    logs: tuple[list[str], list[str]] = ([], [])
    first = runner.build(spec(code, packages=("six==1.16.0",), service_id="svc-1"),
                         logs[0].append)
    second = runner.build(spec(code, packages=("six==1.17.0",), service_id="svc-2"),
                          logs[1].append)
    one, two = runner.envs.path(first.env_key), runner.envs.path(second.env_key)
    assert one != two

    counts = [json.loads((env / MARKER).read_text())["bytecode"] for env in (one, two)]
    assert counts[0]["reused"] == 0 and counts[0]["compiled"] == counts[0]["files"] > 100
    # Everything but six.py, which changed between the versions, came from the store.
    assert counts[1] == {**counts[0], "reused": counts[0]["files"] - 1, "compiled": 1}
    assert any(f"{counts[1]['reused']} reused from the store, 1 compiled" in line
               for line in logs[1])

    for shared in ("flask.app", "gunicorn.arbiter", "shipyard_sdk.runtime.loader"):
        assert pyc(two, shared).samefile(pyc(one, shared)), shared
    assert not pyc(two, "six").samefile(pyc(one, "six"))
    for env in (one, two):
        header = pyc(env, "six").read_bytes()[:16]
        source = next(env.glob("lib/python3*/site-packages")) / "six.py"
        assert header[8:16] == importlib.util.source_hash(source.read_bytes())

    modules = ["six", "flask", "gunicorn.app.wsgiapp", "shipyard_sdk.runtime.health",
               "shipyard_sdk.runtime.loader"]
    for env in (one, two):
        from_source, from_pyc = imported_from_source(env, modules)
        assert not from_source
        assert from_pyc > 50
    version = subprocess.run(
        [two / "bin" / "python", "-c", "import six; print(six.__version__)"],
        capture_output=True, text=True, check=True, env={"PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert version.stdout.strip() == "1.17.0"


def test_the_environments_of_two_homes_share_a_bytecode_store_given_to_both(
    tmp_path: Path, code: Path
) -> None:
    """As two control planes of one user share ``user_bytecode_store``: the second home
    compiles nothing the first compiled, and its pycs are the store's."""
    store = tmp_path / "cache" / "bytecode"
    one, two = (LocalRunner(tmp_path / home / "local", bytecode_store=store)
                for home in ("home-1", "home-2"))
    logs: tuple[list[str], list[str]] = ([], [])
    first = one.build(spec(code, packages=("six==1.16.0",)), logs[0].append)
    second = two.build(spec(code, packages=("six==1.16.0",)), logs[1].append)
    envs = (one.envs.path(first.env_key), two.envs.path(second.env_key))
    assert envs[0] != envs[1]
    counts = [json.loads((env / MARKER).read_text())["bytecode"] for env in envs]
    assert counts[0]["compiled"] == counts[0]["files"] > 100
    assert counts[1] == {**counts[0], "reused": counts[0]["files"], "compiled": 0}
    assert not (tmp_path / "home-2" / "local" / "envs" / BYTECODE).exists()
    for module in ("six", "flask.app"):
        assert pyc(envs[1], module).samefile(pyc(envs[0], module)), module
    from_source, from_pyc = imported_from_source(envs[1], ["six", "flask"])
    assert not from_source and from_pyc > 20


def test_concurrent_compilations_share_the_store_safely(tmp_path: Path) -> None:
    """Processes compiling the same files at once (in process pools) into one store."""
    tree = tmp_path / "tree"
    for index in range(150):
        (tree / f"pkg{index % 5}").mkdir(parents=True, exist_ok=True)
        (tree / f"pkg{index % 5}" / f"mod{index}.py").write_text(
            f"def value():\n    return {index}\n" + "X = [1, 2, 3]\n" * 50
        )
    copies = [shutil.copytree(tree, tmp_path / f"copy{n}") for n in range(3)]
    store = tmp_path / "store"
    workers = [
        subprocess.Popen([sys.executable, "-I", "-S", bytecode.SCRIPT, "--store", store,
                          "--jobs", "2", copy], stdout=subprocess.PIPE, text=True)
        for copy in copies
    ]
    outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0], outputs
    check = bytecode.BytecodeStore(store)
    for copy in copies:
        for source in copy.rglob("*.py"):
            compiled = importlib.util.cache_from_source(str(source))
            assert check.valid(compiled, importlib.util.source_hash(source.read_bytes()))
    assert not list(check.temporary.iterdir())
    later = subprocess.run(
        [sys.executable, "-I", "-S", bytecode.SCRIPT, "--store", store, tree],
        capture_output=True, text=True, check=True,
    )
    assert "150 source files, 150 reused from the store, 0 compiled" in later.stdout


def test_pip_builds_the_environment_when_uv_is_not_there(tmp_path: Path, code: Path) -> None:
    runner = LocalRunner(tmp_path / "root", installer="pip")
    lines: list[str] = []
    artifact = runner.build(spec(code), lines.append)
    assert any(" -m pip install " in line for line in lines)
    assert any(re.search(r"bytecode \(cpython-\d+\): \d+ source files", line) for line in lines)
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


def test_the_build_imports_the_app_once_for_its_check_and_its_route_list(
    tmp_path: Path, code: Path
) -> None:
    local = LocalRunner(tmp_path / "local")  # its own: the environment must go at the end
    artifact = local.build(spec(code), lambda line: None)
    lines: list[str] = []
    listed = local.routes(artifact, lines.append)
    assert [(r.rule, r.method) for r in listed.routes] == [
        ("/env", "GET"), ("/allocate/<int:mebibytes>", "GET")]
    assert lines == []  # the check's list: no second import of the app
    # An artifact without it (built before the check listed routes) is listed anew.
    listed_by_build = Path(artifact.path).with_name(Path(artifact.path).name + ".routes")
    listed_by_build.unlink()
    assert local.routes(artifact, lines.append) == listed
    assert any("listed 2 route(s)" in line for line in lines)
    local.remove(artifact)  # its environment goes with it: nothing else here runs on it
    assert not local.envs.path(artifact.env_key).exists()
