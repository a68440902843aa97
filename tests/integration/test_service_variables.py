"""A service's environment variables and secrets on a real ``shipyard up``: set in its
manifest and by the CLI, read by its code at import (in the build's check too) and per
call, taken into each generation, and brought back by a rollback; a secret's value found
nowhere but in the service's code."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest

from shipyard_sdk.errors import InvalidInput
from tests.conftest import RunningShipyard

pytestmark = pytest.mark.slow

APP = """\
import os

from flask import Flask

app = Flask(__name__)
GREETING = os.environ["GREETING"]  # at import: the build's check needs it too


@app.get("/greeting")
def greeting():
    return {"greeting": GREETING, "retries": os.environ.get("RETRIES")}
"""


def greeting(shipyard: RunningShipyard) -> dict[str, Any]:
    url = f"{shipyard.url}/user-services/invoke/greeter/greeting"
    answer = shipyard.http.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_service_reads_its_variables_and_a_rollback_brings_back_the_earlier_ones(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    folder = tmp_path / "greeter"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text("name: greeter\nenv:\n  GREETING: hi\n")
    (folder / "app.py").write_text(APP)
    deployed = shipyard.cli("deploy", str(folder))
    assert deployed.returncode == 0, deployed.stderr
    assert greeting(shipyard) == {"greeting": "hi", "retries": None}

    changed = shipyard.cli("env", "set", "greeter", "GREETING=hello", "RETRIES=3")
    assert changed.returncode == 0, changed.stderr
    assert "they apply at its next deploy" in changed.stdout
    assert greeting(shipyard)["greeting"] == "hi"  # what serves keeps its own
    assert shipyard.cli("deploy", "greeter").returncode == 0
    assert greeting(shipyard) == {"greeting": "hello", "retries": "3"}
    assert shipyard.cli("env", "list", "greeter").stdout == "GREETING=hello\nRETRIES=3\n"

    rolled = shipyard.cli("rollback", "greeter", "v1")
    assert rolled.returncode == 0, rolled.stderr
    assert greeting(shipyard) == {"greeting": "hi", "retries": None}

    unset = shipyard.cli("env", "unset", "greeter", "RETRIES", "NOPE")
    assert unset.returncode == 1
    assert unset.stderr.strip() == "Error: greeter has no variable(s) NOPE"
    refused = shipyard.cli("env", "set", "greeter", "LD_PRELOAD=/tmp/x.so")
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("Error: env: LD_PRELOAD is reserved")
    assert shipyard.cli("env", "list", "greeter").stdout == "GREETING=hello\nRETRIES=3\n"


SECRET_APP = """\
import hashlib
import os

from flask import Flask

app = Flask(__name__)
TOKEN = os.environ["API_TOKEN"]  # at import: the build's check needs it too


@app.get("/token")
def token():
    return {"sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
            "greeting": os.environ["GREETING"]}
"""


def token_of(shipyard: RunningShipyard) -> dict[str, Any]:
    answer = shipyard.http.get(f"{shipyard.url}/user-services/invoke/vault/token", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def files_holding(root: Path, needles: list[bytes]) -> list[str]:
    """Every file under ``root`` that holds one of ``needles``."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            content = path.read_bytes()
            found += [f"{path}: {needle!r}" for needle in needles if needle in content]
    return found


def test_a_secret_reaches_the_code_alone_and_is_found_nowhere_else(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    first, second = (f"tok-{uuid.uuid4().hex}" for _ in range(2))
    folder = tmp_path / "vault"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text("name: vault\nenv: {GREETING: hi}\n")
    (folder / "app.py").write_text(SECRET_APP)
    outputs = []

    def cli(*args: str, stdin: str | None = None) -> str:
        done = shipyard.cli(*args, stdin=stdin)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("push", str(folder))
    assert "takes effect at the next deploy" in cli("secrets", "set", "vault", "API_TOKEN",
                                                    stdin=first + "\n")
    cli("deploy", str(folder))  # enables it
    assert token_of(shipyard) == {"sha256": hashlib.sha256(first.encode()).hexdigest(),
                                  "greeting": "hi"}
    assert cli("secrets", "list", "vault").startswith("API_TOKEN  set ")

    cli("secrets", "set", "vault", "API_TOKEN", stdin=second)
    with shipyard.sdk() as client:
        assert client.services.get("vault")["secrets_waiting"] == ["API_TOKEN"]
        assert token_of(shipyard)["sha256"] == hashlib.sha256(first.encode()).hexdigest()
        redeployed = client.services.set_secret("vault", "API_TOKEN", second, redeploy=True)
        client.services.wait_until_serving("vault", redeployed["generation"]["tag"])
        assert token_of(shipyard)["sha256"] == hashlib.sha256(second.encode()).hexdigest()
        assert client.services.get("vault")["secrets_waiting"] == []
        # A name is a variable or a secret; a refusal never echoes the value.
        with pytest.raises(InvalidInput, match="a name is a variable or a secret"):
            client.services.set_secret("vault", "GREETING", first)
    cli("rollback", "vault", "v1")  # the value v1 was made with comes back
    assert token_of(shipyard)["sha256"] == hashlib.sha256(first.encode()).hexdigest()
    cli("generations", "export", "vault", "v1", "--output", str(tmp_path / "v1.zip"))
    with shipyard.sdk() as client:
        client.services.create({"name": "bare"})
    imported = shipyard.cli("generations", "import", "bare", str(tmp_path / "v1.zip"))
    assert imported.returncode == 0, imported.stderr
    assert ("Warning: the package's generation ran with API_TOKEN, GREETING, which bare does "
            "not set, so v1 runs without them") in " ".join(imported.stderr.split())
    listed = shipyard.http.get(f"{shipyard.url}/api/v1/services/vault/secrets", timeout=10)
    outputs.append(listed.text)

    needles = [first.encode(), second.encode()]
    assert files_holding(shipyard.home, needles) == []  # the database, logs, artifacts
    assert files_holding(tmp_path, needles) == []  # shipyard up's log, the export
    assert not [output for output in outputs if first in output or second in output]
