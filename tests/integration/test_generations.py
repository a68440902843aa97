"""A service's generations end to end: switching to one just imported (the command returns
once it serves, or fails with its build error while the old one keeps serving), and
deleting generations and services with what their runner holds for them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from shipyard.domain.archives import write_zip
from shipyard.domain.generation_packages import read_package, write_package
from shipyard_sdk.errors import BuildFailed
from tests.conftest import RunningShipyard
from tests.integration.test_deploy import put_file, scaffold_and_push, status, wait_for

pytestmark = pytest.mark.slow

SERVICE = "add-numbers"
# Its build checks that the app imports, so these builds last a few seconds: long
# enough for a command to find them still building.
SLOW_TO_IMPORT = "import time\ntime.sleep(3)\n"
BROKEN_AT_IMPORT = SLOW_TO_IMPORT + "raise RuntimeError('this generation is broken on purpose')\n"


def serving_generation(shipyard: RunningShipyard, request_id: str = "") -> str:
    """The generation the gateway sends a call of the service to now."""
    answer = shipyard.http.post(
        f"{shipyard.url}/user-services/invoke/{SERVICE}/add-numbers",
        json={"num1": 2, "num2": 5}, timeout=30,
        headers={"X-Request-Id": request_id} if request_id else {},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == 7
    return answer.headers["X-Shipyard-Generation"]


def deployed(shipyard: RunningShipyard, *args: str) -> str:
    """Deploy through the CLI (which waits until it serves); the new generation's tag."""
    result = shipyard.cli("deploy", SERVICE, "--no-follow", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return serving_generation(shipyard)


def exported_package(shipyard: RunningShipyard, tmp_path: Path, tag: str) -> Path:
    result = shipyard.cli("generations", "export", SERVICE, tag, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path / f"{SERVICE}-{tag}.zip"


def repackaged(package: Path, name: str, app_source: str) -> Path:
    """``package`` with ``app.py`` replaced, and the checksum of that code."""
    manifest, code = read_package(package.read_bytes(), max_bytes=10**8)
    code["app.py"] = app_source.encode()
    manifest["code_sha256"] = hashlib.sha256(write_zip(code)).hexdigest()
    target = package.with_name(name)
    target.write_bytes(write_package(manifest, code))
    return target


def test_switch_to_newest_after_an_import_returns_once_the_import_serves_or_failed(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    scaffold_and_push(shipyard, tmp_path)
    assert deployed(shipyard) == "v1"
    package = exported_package(shipyard, tmp_path, "v1")
    app_source = (tmp_path / SERVICE / "app.py").read_text()
    slow = repackaged(package, "slow.zip", SLOW_TO_IMPORT + app_source)
    broken = repackaged(package, "broken.zip", BROKEN_AT_IMPORT)

    # The CLI: import, then switch at once, while v2 is still waiting for its build.
    imported = shipyard.cli("generations", "import", SERVICE, str(slow))
    assert imported.returncode == 0, imported.stderr
    assert "v2 (build pending)" in imported.stdout
    switched = shipyard.cli("switch-to-newest", SERVICE)
    assert switched.returncode == 0, switched.stderr
    assert "built v2" in switched.stdout  # its build log, followed
    assert "add-numbers v2 takes all traffic" in switched.stderr
    assert serving_generation(shipyard) == "v2"

    # The SDK: the same, with wait=True.
    with shipyard.sdk() as client:
        generation = client.generations.import_package(SERVICE, package.read_bytes())
        assert (generation["tag"], generation["build_state"]) == ("v3", "pending")
        switched_to = client.traffic.switch_to_newest(SERVICE, wait=True)
        assert switched_to["tag"] == "v3"
        assert serving_generation(shipyard) == "v3"

    # An import whose build fails: the switch fails with the build error, v3 serves on.
    assert shipyard.cli("generations", "import", SERVICE, str(broken)).returncode == 0
    failed = shipyard.cli("switch-to-newest", SERVICE)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    error = failed.stderr.splitlines()[-1]
    assert error.startswith("Error: build of add-numbers v4 failed: "), failed.stderr
    assert "broken on purpose" in error
    assert serving_generation(shipyard) == "v3"
    with shipyard.sdk() as client:
        client.generations.import_package(SERVICE, broken.read_bytes())
        with pytest.raises(BuildFailed, match="build of add-numbers v5 failed: "):
            client.traffic.switch_to_newest(SERVICE, wait=True)
        # Its build has failed now: asking again is refused at once, with the error.
        with pytest.raises(BuildFailed, match="build of add-numbers v5 failed: "):
            client.traffic.switch_to_newest(SERVICE)
        assert client.traffic.mapping(SERVICE)["live"] == [{"generation": "v3", "proba": 1.0}]
    assert serving_generation(shipyard) == "v3"
    assert status(shipyard)["live_generation"] == "v3"

    # `generations import --wait` follows the build and changes nothing that serves.
    waited = shipyard.cli("generations", "import", SERVICE, str(slow), "--wait")
    assert waited.returncode == 0, waited.stderr
    assert "built v6" in waited.stdout
    assert "add-numbers v6 is built; what serves is unchanged" in waited.stderr
    assert serving_generation(shipyard) == "v3"
    failed_import = shipyard.cli("generations", "import", SERVICE, str(broken), "--wait")
    assert failed_import.returncode == 1
    assert failed_import.stderr.splitlines()[-1].startswith(
        "Error: build of add-numbers v7 failed: "
    ), failed_import.stderr
    assert serving_generation(shipyard) == "v3"


def local_artifacts(shipyard: RunningShipyard) -> dict[str, dict[str, Any]]:
    """The local runner's artifacts on disk, by generation: their folder and environment."""
    found = {}
    for metadata in (shipyard.home / "local" / "artifacts").glob("*/*.json"):
        data = json.loads(metadata.read_text())
        found[data["generation"]] = {
            "folder": metadata.with_suffix(""), "env": data["env_key"],
            "service_id": data["service_id"],
        }
    return found


def env_folder(shipyard: RunningShipyard, key: str) -> Path:
    return shipyard.home / "local" / "envs" / key


def instances_only_of(shipyard: RunningShipyard, tag: str) -> bool:
    return {i["generation"] for i in status(shipyard)["instances"]} == {tag}


def test_deleting_generations_and_the_service_removes_what_the_local_runner_holds(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    scaffold_and_push(shipyard, tmp_path)
    assert deployed(shipyard) == "v1"
    assert serving_generation(shipyard, "answered-by-v1") == "v1"
    put_file(shipyard, "generation.txt", "change 2\n")
    assert deployed(shipyard) == "v2"  # the same packages: v1's environment
    with shipyard.sdk() as client:
        # Another package list (a package flask brings anyway): an environment of its own.
        client.services.update(SERVICE, {"packages": ["itsdangerous"]})
    assert deployed(shipyard) == "v3"
    rolled = shipyard.cli("rollback", SERVICE, "v2")
    assert rolled.returncode == 0, rolled.stderr
    artifacts = local_artifacts(shipyard)
    assert artifacts["v1"]["env"] == artifacts["v2"]["env"] != artifacts["v3"]["env"]

    # In use: refused, with the reason; unknown: 404.
    refused = shipyard.cli("generations", "delete", SERVICE, "v2", "--yes")
    assert refused.returncode == 1
    assert refused.stderr.startswith("Error: v2 of 'add-numbers' is in the mapping in force")
    assert shipyard.cli("challenger", "set", SERVICE, "v3").returncode == 0
    refused = shipyard.cli("generations", "delete", SERVICE, "v3", "--yes")
    assert refused.returncode == 1 and "is the challenger" in refused.stderr
    assert shipyard.cli("challenger", "unset", SERVICE).returncode == 0
    unknown = shipyard.cli("generations", "delete", SERVICE, "v9", "--yes")
    assert unknown.returncode == 1 and "has no generation v9" in unknown.stderr
    wait_for(lambda: instances_only_of(shipyard, "v2"), what="v1 and v3 to stop")

    # v1 goes; v2 keeps the environment they shared.
    deleted = shipyard.cli("generations", "delete", SERVICE, "v1", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    wait_for(lambda: not artifacts["v1"]["folder"].exists(), what="v1's artifact to go")
    assert "v1" not in local_artifacts(shipyard)
    assert artifacts["v2"]["folder"].is_dir()
    assert env_folder(shipyard, artifacts["v2"]["env"]).is_dir()

    # v3 goes with the environment it alone used (through the SDK).
    with shipyard.sdk() as client:
        client.generations.delete(SERVICE, "v3")
        assert [g["tag"] for g in client.traffic.generations(SERVICE)] == ["v2"]
    wait_for(lambda: not env_folder(shipyard, artifacts["v3"]["env"]).exists(),
             what="v3's environment to go")
    assert not artifacts["v3"]["folder"].exists()
    assert serving_generation(shipyard) == "v2"

    # The deleted tag is not given again; v1's call stays in the query log.
    assert deployed(shipyard) == "v4"
    queries = shipyard.http.get(f"{shipyard.url}/api/v1/services/{SERVICE}/queries",
                                params={"since": "1h"}, timeout=30)
    rows = [json.loads(line) for line in queries.text.splitlines() if line]
    assert [row["generation"] for row in rows if row["request_id"] == "answered-by-v1"] == [
        "v1"
    ]

    # Deleting the service removes every artifact it had, and the environments with them.
    undeployed = shipyard.cli("undeploy", SERVICE)
    assert undeployed.returncode == 0, undeployed.stderr
    deleted = shipyard.cli("services", "delete", SERVICE, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    service_folder = artifacts["v2"]["folder"].parent
    wait_for(lambda: not service_folder.exists(), what="the service's artifacts to go")
    wait_for(lambda: not env_folder(shipyard, artifacts["v2"]["env"]).exists(),
             what="the last environment to go")
