"""Switching to a generation still building, deleting generations and services, and the
queue of artifacts to remove, on the Flask test client and a real store (no process: what
the supervisor would have done is written to the store as it writes it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from shipyard.domain.artifact_removals import ArtifactRemovals
from shipyard.store import (
    ArtifactRemovalRow,
    BuildLogRow,
    GenerationRow,
    InstanceRow,
    ServiceRow,
    Store,
)
from shipyard_runners import Artifact, LocalRunner

ZIP = {"Content-Type": "application/zip"}


def store_of(app: Flask) -> Store:
    return app.extensions["shipyard"].store


def generation_row(store: Store, tag: str, name: str = "svc") -> dict[str, Any]:
    with store.reading() as session:
        service = session.scalars(select(ServiceRow).filter_by(name=name)).one()
        row = session.scalars(select(GenerationRow).filter_by(
            service_id=service.id, number=int(tag[1:]))).one()
        return {"id": row.id, "service_id": service.id, "artifact": row.artifact}


def built(store: Store, tag: str, *, error: str = "", name: str = "svc") -> None:
    """Generation ``tag`` finished its build, as the builder records it."""
    generation_id = generation_row(store, tag, name)["id"]
    with store.writing() as session:
        row = session.get_one(GenerationRow, generation_id)
        if error:
            row.build_state, row.build_error = "failed", error
        else:
            row.build_state = "succeeded"
            row.artifact = {"key": f"svc-{tag}", "env_key": "e" * 16,
                            "path": f"/nowhere/{tag}", "runner": "local"}
        session.add(BuildLogRow(generation_id=generation_id, seq=1, at=0.0, line="built"))


def serving(store: Store, *tags: str, name: str = "svc") -> None:
    """The mapping asked for is in force, each of ``tags`` with an equal share, as the
    supervisor puts it once they are healthy."""
    ids = [generation_row(store, tag, name)["id"] for tag in tags]
    with store.writing() as session:
        service = session.scalars(select(ServiceRow).filter_by(name=name)).one()
        service.mapping = service.live_mapping = [
            {"generation_id": generation_id, "proba": 1 / len(ids)} for generation_id in ids
        ]
        service.live_generation_id = service.target_generation_id = ids[-1]
        service.state = "running"


@pytest.fixture
def deployed(app: Flask, client: FlaskClient) -> FlaskClient:
    """Service ``svc``: v1 built and serving."""
    assert client.post("/api/v1/services", json={"name": "svc"}).status_code == 201
    assert client.post("/api/v1/services/svc/enable").status_code == 200
    assert client.post("/api/v1/services/svc/deploy").status_code == 202
    built(store_of(app), "v1")
    serving(store_of(app), "v1")
    return client


def deploy(client: FlaskClient) -> str:
    answer = client.post("/api/v1/services/svc/deploy")
    assert answer.status_code == 202, answer.get_json()
    return answer.get_json()["tag"]


def error_of(answer: Any) -> tuple[int, str, str]:
    error = answer.get_json()["error"]
    return answer.status_code, error["type"], error["message"]


# -- switch-to-newest --------------------------------------------------------------------


def test_switch_to_newest_takes_a_generation_still_building_and_leaves_what_serves(
    app: Flask, deployed: FlaskClient
) -> None:
    package = deployed.get("/api/v1/services/svc/generations/v1/package").data
    imported = deployed.post("/api/v1/services/svc/generations/import", data=package,
                             headers=ZIP).get_json()
    assert (imported["tag"], imported["build_state"]) == ("v2", "pending")

    answer = deployed.post("/api/v1/services/svc/switch-to-newest")
    assert answer.status_code == 202, answer.get_json()
    assert (answer.get_json()["tag"], answer.get_json()["build_state"]) == ("v2", "pending")
    mapping = deployed.get("/api/v1/services/svc/mapping").get_json()
    assert mapping["desired"] == [{"generation": "v2", "proba": 1.0}]
    assert mapping["live"] == [{"generation": "v1", "proba": 1.0}]  # until v2 is healthy
    service = deployed.get("/api/v1/services/svc").get_json()
    assert (service["target_generation"], service["live_generation"]) == ("v2", "v1")
    assert service["status_message"] == "building v2, which is to take all traffic"


def test_switch_to_newest_refuses_a_newest_generation_whose_build_failed(
    app: Flask, deployed: FlaskClient
) -> None:
    assert deploy(deployed) == "v2"
    built(store_of(app), "v2", error="pip could not find flask==0")
    serving(store_of(app), "v1")  # the supervisor went back to the mapping in force
    answer = deployed.post("/api/v1/services/svc/switch-to-newest")
    assert error_of(answer) == (
        422, "BuildFailed", "build of svc v2 failed: pip could not find flask==0"
    )
    assert deployed.get("/api/v1/services/svc/mapping").get_json()["desired"] == [
        {"generation": "v1", "proba": 1.0}
    ]


# -- deleting a generation ---------------------------------------------------------------


def test_a_generation_in_use_is_not_deleted_and_the_reason_is_given(
    app: Flask, deployed: FlaskClient
) -> None:
    store = store_of(app)
    for tag in ("v2", "v3", "v4"):
        assert deploy(deployed) == tag
        built(store, tag)
    serving(store, "v1", "v2")
    url = "/api/v1/services/svc/generations/"

    status, kind, message = error_of(deployed.delete(url + "v2"))
    assert (status, kind) == (409, "Conflict")
    assert message.startswith("v2 of 'svc' is in the mapping in force")

    asked = deployed.put("/api/v1/services/svc/mapping", json={"weights": {"v3": 1}})
    assert asked.status_code == 202, asked.get_json()
    assert "in the mapping asked for" in error_of(deployed.delete(url + "v3"))[2]

    assert deployed.put("/api/v1/services/svc/challenger",
                        json={"generation": "v4"}).status_code == 200
    assert "is the challenger" in error_of(deployed.delete(url + "v4"))[2]

    package = deployed.get("/api/v1/services/svc/generations/v1/package").data
    imported = deployed.post("/api/v1/services/svc/generations/import", data=package,
                             headers=ZIP).get_json()
    assert (imported["tag"], imported["build_state"]) == ("v5", "pending")
    assert "is building" in error_of(deployed.delete(url + "v5"))[2]

    serving(store, "v3")
    v1 = generation_row(store, "v1")
    with store.writing() as session:  # v1's instance, draining after it left the mapping
        session.add(InstanceRow(id="i-1", service_id=v1["service_id"],
                                generation_id=v1["id"], state="healthy"))
    assert "still has instances" in error_of(deployed.delete(url + "v1"))[2]

    assert error_of(deployed.delete(url + "v9"))[:2] == (404, "NotFound")
    assert error_of(deployed.delete(url + "latest"))[:2] == (400, "InvalidInput")
    assert error_of(deployed.delete("/api/v1/services/nope/generations/v1"))[0] == 404
    tags = [g["tag"] for g in deployed.get("/api/v1/services/svc/generations").get_json()[
        "generations"]]
    assert tags == ["v1", "v2", "v3", "v4", "v5"]
    with store.reading() as session:
        assert session.scalars(select(ArtifactRemovalRow)).all() == []


def test_a_deleted_generation_goes_with_its_log_its_artifact_is_queued_and_its_tag_is_not_reused(
    app: Flask, deployed: FlaskClient
) -> None:
    store = store_of(app)
    for tag in ("v2", "v3"):
        assert deploy(deployed) == tag
        built(store, tag)
    serving(store, "v2")
    v3 = generation_row(store, "v3")

    assert deployed.delete("/api/v1/services/svc/generations/v3").status_code == 204
    assert deployed.delete("/api/v1/services/svc/generations/v1").status_code == 204
    tags = [g["tag"] for g in deployed.get("/api/v1/services/svc/builds").get_json()["builds"]]
    assert tags == ["v2"]
    assert deployed.get("/api/v1/services/svc/builds/3/log").status_code == 404
    with store.reading() as session:
        queued = session.scalars(select(ArtifactRemovalRow).order_by(ArtifactRemovalRow.id))
        assert [(row.generation, row.artifact) for row in queued] == [
            ("svc v3", v3["artifact"]),
            ("svc v1", {"key": "svc-v1", "env_key": "e" * 16, "path": "/nowhere/v1",
                        "runner": "local"}),
        ]
        assert session.scalars(select(BuildLogRow).where(
            BuildLogRow.generation_id == v3["id"])).all() == []
    # The newest tag was deleted; the next generation does not take it again.
    assert deploy(deployed) == "v4"


# -- deleting a service ------------------------------------------------------------------


def test_deleting_a_service_queues_its_artifacts_once_nothing_runs_or_builds(
    app: Flask, deployed: FlaskClient
) -> None:
    store = store_of(app)
    assert deploy(deployed) == "v2"
    assert deployed.post("/api/v1/services/svc/undeploy").status_code == 202
    message = error_of(deployed.delete("/api/v1/services/svc"))[2]
    assert message == "service 'svc' has a build under way (v2); delete it once the build has ended"
    built(store, "v2", error="boom")
    v1 = generation_row(store, "v1")
    with store.writing() as session:
        session.add(InstanceRow(id="i-1", service_id=v1["service_id"],
                                generation_id=v1["id"], state="healthy"))
    assert "still stopping its instances" in error_of(deployed.delete("/api/v1/services/svc"))[2]
    with store.writing() as session:
        session.delete(session.get_one(InstanceRow, "i-1"))

    assert deployed.delete("/api/v1/services/svc").status_code == 204
    with store.reading() as session:
        # v2 failed to build, so it has no artifact to remove.
        assert [row.generation for row in session.scalars(select(ArtifactRemovalRow))] == [
            "svc v1"
        ]


# -- the removal queue -------------------------------------------------------------------


def _local_artifact(root: Path, service_id: str, tag: str, env_key: str) -> Artifact:
    """What the local runner's build leaves on disk for one generation."""
    folder = root / "artifacts" / service_id / f"{tag}-0000abcd"
    folder.mkdir(parents=True)
    (folder / "app.py").write_text("app = None\n")
    folder.with_name(folder.name + ".json").write_text(json.dumps({"env_key": env_key}))
    (root / "envs" / env_key / "bin").mkdir(parents=True, exist_ok=True)
    return Artifact(key=f"{service_id}-{tag}", env_key=env_key, path=str(folder),
                    runner="local")


def _queue(store: Store, artifact: Artifact, generation: str) -> None:
    with store.writing() as session:
        session.add(ArtifactRemovalRow(artifact=artifact.to_dict(), generation=generation,
                                       requested_at=datetime.now(UTC), last_error=""))


def test_the_queue_removes_artifacts_and_unshared_environments_when_no_build_runs(
    app: Flask, deployed: FlaskClient, tmp_path: Path
) -> None:
    store = store_of(app)
    runner = LocalRunner(tmp_path / "local")
    root = runner.root
    shared, alone = "a" * 16, "b" * 16
    v1 = _local_artifact(root, "svc_1", "v1", shared)
    _local_artifact(root, "svc_1", "v2", shared)  # still used: keeps the shared env
    v3 = _local_artifact(root, "svc_2", "v3", alone)
    _queue(store, v1, "svc v1")
    _queue(store, v3, "other v3")
    removals = ArtifactRemovals(store, runner, interval=0.0)

    assert deploy(deployed) == "v2"  # a build under way: nothing is removed yet
    assert removals.run() == 0
    assert Path(v1.path).exists() and Path(v3.path).exists()

    built(store, "v2")
    assert removals.run() == 2
    assert not Path(v1.path).exists() and not Path(v1.path + ".json").exists()
    assert (root / "envs" / shared).exists()
    assert not Path(v3.path).exists() and not (root / "envs" / alone).exists()
    assert not (root / "artifacts" / "svc_2").exists()
    with store.reading() as session:
        assert session.scalars(select(ArtifactRemovalRow)).all() == []


def test_a_removal_that_fails_stays_queued_with_its_error(
    app: Flask, tmp_path: Path
) -> None:
    store = store_of(app)
    runner = LocalRunner(tmp_path / "local")
    stray = Artifact(key="x", env_key="c" * 16, path=str(tmp_path / "elsewhere" / "v1"),
                     runner="local")
    _queue(store, stray, "svc v1")
    assert ArtifactRemovals(store, runner, interval=0.0).run() == 0
    with store.reading() as session:
        (row,) = session.scalars(select(ArtifactRemovalRow))
        assert "is not an artifact of this runner" in row.last_error
