"""A client command of the CLI loads only what it uses: never the server's packages
(SQLAlchemy, docker-py, jinja2, the runners), so that it starts at once (issue 24)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SERVER_SIDE = ("sqlalchemy", "docker", "jinja2", "shipyard_runners", "flask", "numpy")
CLIENT_COMMANDS = [
    ("services", "list"), ("enable", "x"), ("disable", "x"), ("invoke", "x"), ("docs", "x"),
    ("tokens", "list"), ("users", "list"), ("projects", "list"), ("api-keys", "list", "x"),
    ("deploy", "x"), ("undeploy", "x"), ("logs", "x"), ("models", "list"),
    ("generations", "list", "x"), ("switch-to-newest", "x"), ("rollback", "x"),
    ("mapping", "x"), ("challenger", "x"), ("stats", "x"), ("drift", "x"),
    ("accuracy", "x"), ("actuals", "upload", "x", "-"), ("env", "list", "x"),
    ("secrets", "list", "x"), ("batch", "list", "x"), ("batch", "status", "x"),
]
# Not here: the commands that work on this machine's files and processes, and load what
# that takes: ``up``, ``new`` (the templates), ``test`` (the runners), ``images``
# (docker-py, when it runs). ``push`` and ``deploy FOLDER`` check the folder's manifest
# first, which loads no store and no runner (below).
STORE_AND_RUNNERS = ("sqlalchemy", "docker", "shipyard_runners", "flask")

PROBE = f"""
import json, sys
from shipyard.cli import cli
try:
    cli.main(["--url", "http://127.0.0.1:9", *sys.argv[1:]], prog_name="shipyard",
             standalone_mode=False)
except BaseException:
    pass  # nothing listens there: the imports up to the call are what is measured
print(json.dumps(sorted(name for name in {SERVER_SIDE!r} if name in sys.modules)))
"""


@pytest.mark.parametrize("args", CLIENT_COMMANDS, ids=[" ".join(a) for a in CLIENT_COMMANDS])
def test_a_client_command_loads_none_of_the_servers_packages(args: tuple[str, ...]) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("command", ["push", "deploy"])
def test_pushing_a_folder_loads_neither_the_store_nor_the_runners(
    command: str, tmp_path: Path
) -> None:
    folder = tmp_path / "hello"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text(
        "name: hello\nkind: custom\nenvironment: small\npackages: [requests]\n"
        "health_thresholds: {server_error_rate: {warning: 0.02}}\n"
        "monitoring: {feature_drift: true}\n"
    )
    (folder / "app.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    done = subprocess.run([sys.executable, "-c", PROBE, command, str(folder)],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert not set(loaded) & set(STORE_AND_RUNNERS), loaded


def test_every_command_is_listed_and_loads() -> None:
    from shipyard.cli import COMMANDS, cli

    for name in COMMANDS:
        command = cli.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and command.name == name
