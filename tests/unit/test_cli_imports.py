"""A client command of the CLI loads only what it uses: never the server's packages
(SQLAlchemy, docker-py, jinja2, the runners), so that it starts at once (issue 24)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SERVER_SIDE = ("sqlalchemy", "docker", "jinja2", "shipyard_runners", "flask", "numpy")
CLIENT_COMMANDS = [
    ("services", "list"), ("enable", "x"), ("disable", "x"), ("invoke", "x"), ("docs", "x"),
    ("tokens", "list"), ("users", "list"), ("projects", "list"), ("api-keys", "list", "x"),
    ("deploy", "x"), ("undeploy", "x"), ("logs", "x"), ("models", "list"),
    ("generations", "list", "x"), ("switch-to-newest", "x"), ("rollback", "x"),
    ("mapping", "x"), ("challenger", "x"), ("stats", "x"), ("drift", "x"),
    ("accuracy", "x"), ("actuals", "upload", "x", "-"),
]
# Not here: the commands that work on this machine's files and processes, and load what
# that takes: ``up``, ``new`` (the templates), ``push`` and ``test`` (the manifest's
# checks, the runners), ``images`` (docker-py, when it runs).

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


def test_every_command_is_listed_and_loads() -> None:
    from shipyard.cli import COMMANDS, cli

    for name in COMMANDS:
        command = cli.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and command.name == name
