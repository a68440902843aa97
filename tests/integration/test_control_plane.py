"""The real control plane: ``shipyard up`` under gunicorn on port 0, driven over HTTP and
through the ``shipyard`` command."""

from __future__ import annotations

import signal
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import RunningShipyard, start_shipyard

pytestmark = pytest.mark.slow


def test_up_prints_its_url_and_stops_cleanly_on_sigterm(
    tmp_path: Path, database: str, database_url: str
) -> None:
    running = start_shipyard(tmp_path / "home", database_url=database_url)
    assert running.http.get(running.url + "/healthz", timeout=5).json() == {"status": "ok"}
    assert (tmp_path / "home" / "shipyard.db").exists() == (database == "sqlite")
    port = urlsplit(running.url).port
    assert port and port != 8080
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=60) == 0
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass


def test_up_stops_cleanly_on_ctrl_c(tmp_path: Path, database_url: str) -> None:
    running = start_shipyard(tmp_path / "home", database_url=database_url)
    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(timeout=60) == 0


def test_state_survives_a_restart(tmp_path: Path, database_url: str) -> None:
    first = start_shipyard(tmp_path / "home", database_url=database_url)
    first.http.post(first.url + "/api/v1/services", json={"name": "kept"}, timeout=10)
    first.stop()
    second = start_shipyard(tmp_path / "home", database_url=database_url)
    try:
        listed = second.http.get(second.url + "/api/v1/services", timeout=10).json()["services"]
        assert [s["name"] for s in listed] == ["kept"]
    finally:
        second.stop()


def test_new_then_push_registers_a_disabled_service_matching_the_template(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    made = shipyard.cli("new", "custom", "add-numbers", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    folder = tmp_path / "add-numbers"
    manifest = yaml.safe_load((folder / "shipyard.yaml").read_text())
    assert manifest["name"] == "add-numbers"
    assert manifest["kind"] == "custom"

    pushed = shipyard.cli("push", "add-numbers", cwd=tmp_path)
    assert pushed.returncode == 0, pushed.stderr
    assert "Created add-numbers" in pushed.stdout

    service = shipyard.http.get(shipyard.url + "/api/v1/services/add-numbers", timeout=10).json()
    assert service["enabled"] is False
    assert service["deployed"] is False
    files_url = shipyard.url + "/api/v1/services/add-numbers/files"
    stored = shipyard.http.get(files_url, timeout=10).json()
    local = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert sorted(f["path"] for f in stored["files"]) == local
    for path in local:
        remote = shipyard.http.get(f"{shipyard.url}/api/v1/services/add-numbers/files/{path}")
        assert remote.content == (folder / path).read_bytes()

    # A second push updates the same service.
    (folder / "app.py").write_text((folder / "app.py").read_text() + "\n# edited\n")
    again = shipyard.cli("push", str(folder))
    assert again.returncode == 0, again.stderr
    assert "Updated add-numbers" in again.stdout
    remote = shipyard.http.get(shipyard.url + "/api/v1/services/add-numbers/files/app.py").text
    assert remote.endswith("# edited\n")


def test_cli_services_commands(shipyard: RunningShipyard) -> None:
    created = shipyard.cli("services", "create", "scorer", "-e", "large", "-p", "numpy")
    assert created.returncode == 0, created.stderr
    listed = shipyard.cli("services", "list")
    assert "scorer" in listed.stdout
    assert "large" in listed.stdout
    assert shipyard.cli("enable", "scorer").returncode == 0
    assert '"enabled": true' in shipyard.cli("services", "get", "scorer").stdout
    assert shipyard.cli("disable", "scorer").returncode == 0
    assert shipyard.cli("services", "delete", "scorer", "--yes").returncode == 0
    assert "scorer" not in shipyard.cli("services", "list").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("services", "create", "dup"), "already exists"),
        (("services", "create", "x", "-e", "huge"), "unknown environment 'huge'"),
        (("services", "create", "y", "-p", "--index-url=https://evil"), "--index-url"),
        (("services", "get", "nothing"), "no service 'nothing'"),
    ],
)
def test_cli_errors_are_one_line_and_exit_1(
    shipyard: RunningShipyard, args: tuple[str, ...], message: str
) -> None:
    assert shipyard.cli("services", "create", "dup").returncode == 0
    before = shipyard.http.get(shipyard.url + "/api/v1/services", timeout=10).json()
    result = shipyard.cli(*args)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert shipyard.http.get(shipyard.url + "/api/v1/services", timeout=10).json() == before


def test_cli_without_a_server_says_so(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "shipyard", "--url", "http://127.0.0.1:9", "services", "list"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error: cannot reach Shipyard at http://127.0.0.1:9")


def test_cli_finds_the_running_server_from_its_home(shipyard: RunningShipyard) -> None:
    env = shipyard.env()
    del env["SHIPYARD_URL"]
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "shipyard", "services", "list"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
