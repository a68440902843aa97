"""A service's environment variables on a real ``shipyard up``: set in its manifest and by
the CLI, read by its code at import (in the build's check too) and per call, taken into
each generation, and brought back by a rollback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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
