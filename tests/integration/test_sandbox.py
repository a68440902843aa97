"""User code on the local runner cannot reach the control plane: a deployed app tries to
read the administrator's credentials, the server key, the database and another service's
files, at import time (the build's import check and route listing) and in a request."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import RunningShipyard
from tests.integration.test_end_to_end import deploy_new, invoke_url

pytestmark = pytest.mark.slow

NOSY = """\
import os

from flask import Flask, request

app = Flask(__name__)


def attempt(path):
    try:
        with open(path, "rb") as handle:
            handle.read(16)
        return "READ"
    except OSError as exc:
        return f"refused ({type(exc).__name__})"


HOME = "__HOME__"
print("nosy at import:", attempt(HOME + "/credentials/admin.json"),
      attempt(HOME + "/secrets/server.key"), flush=True)


@app.get("/read")
def read():
    return {"result": attempt(request.args["path"])}


@app.get("/list")
def listing():
    try:
        return {"result": sorted(os.listdir(request.args["path"]))}
    except OSError as exc:
        return {"result": f"refused ({type(exc).__name__})"}


@app.get("/write")
def write():
    try:
        with open(request.args["path"], "w") as handle:
            handle.write("x")
        return {"result": "WRITTEN"}
    except OSError as exc:
        return {"result": f"refused ({type(exc).__name__})"}


@app.get("/whoami")
def whoami():
    return {"uid": os.getuid(), "pids": [p for p in os.listdir("/proc") if p.isdigit()],
             "home": os.environ.get("HOME")}
"""


def _ask(shipyard: RunningShipyard, route: str, path: str) -> object:
    answer = shipyard.http.get(invoke_url(shipyard, "nosy", route), params={"path": path},
                               timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]


def test_a_deployed_app_cannot_read_the_control_planes_files_nor_another_services(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    deploy_new(shipyard, tmp_path, "other")
    deploy_new(shipyard, tmp_path, "nosy", NOSY.replace("__HOME__", str(shipyard.home)))
    home = shipyard.home
    codes = list((home / "local" / "artifacts").glob("*/v1-*/app.py"))
    assert len(codes) == 2
    nosy_code = next(path for path in codes if "nosy at import" in path.read_text())
    other_code = next(path for path in codes if path != nosy_code)
    # What the control plane itself can read, the app cannot.
    secrets = {
        "credentials": home / "credentials" / "admin.json",
        "server key": home / "secrets" / "server.key",
        "other service's code": other_code,
    }
    if not shipyard.database_url:  # SQLite's file (a PostgreSQL store is no file here)
        secrets["database"] = home / "shipyard.db"
    for what, path in secrets.items():
        assert path.is_file(), what
        assert _ask(shipyard, "/read", str(path)).startswith("refused"), what
    # Only the way to its own code and environment is left in the home.
    assert _ask(shipyard, "/list", str(home)) == ["local"]
    assert _ask(shipyard, "/list", str(home / "local" / "artifacts")) != sorted(
        os.listdir(home / "local" / "artifacts")
    )
    # Its own code and environment are there, read-only.
    assert _ask(shipyard, "/read", str(nosy_code)) == "READ"
    assert _ask(shipyard, "/write", str(nosy_code)).startswith("refused")
    site = next(Path(p) for p in (home / "local" / "envs").glob("*/lib/python3*/site-packages"))
    assert _ask(shipyard, "/write", str(site / "flask" / "__init__.py")).startswith("refused")
    # Nor root's own files elsewhere, nor other processes, when Shipyard runs as root.
    whoami = shipyard.http.get(invoke_url(shipyard, "nosy", "/whoami"), timeout=10).json()
    if os.geteuid() == 0:
        assert whoami["uid"] != 0
        assert _ask(shipyard, "/read", "/etc/shadow").startswith("refused")
    assert len(whoami["pids"]) == 2, whoami  # its gunicorn master and its one worker
    assert whoami["home"] == "/tmp"

    # The import check, which lists the routes too, ran sandboxed: the build log says so.
    log = shipyard.http.get(f"{shipyard.url}/api/v1/services/nosy/builds/1/log", timeout=10).text
    seen = [line for line in log.splitlines() if line.startswith("nosy at import:")]
    assert len(seen) == 1, log  # one import for both
    assert all("READ" not in line for line in seen), seen
