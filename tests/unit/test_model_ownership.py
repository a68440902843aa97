"""Models belong to a project: its collaborators (and administrators) upload, read and
deploy them; other users, API keys and instance credentials do not."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from shipyard.domain.control_plane import ControlPlane
from shipyard.store import GenerationRow, InstanceRow, ServiceRow
from tests.conftest import signed_as
from tests.credentials import SigningClient

METADATA: dict[str, Any] = {
    "name": "churn", "features": [{"name": "age", "type": "number"}], "target": "left",
    "baseline": [{"age": 31.0, "left": "no"}],
}


def upload(client: SigningClient, **extra: Any) -> Any:
    return client.post("/api/v1/models", data={
        "metadata": json.dumps({**METADATA, **extra}),
        "model": (io.BytesIO(b"model bytes"), "model.joblib"),
    }, content_type="multipart/form-data")


READS = (
    "/api/v1/models/churn",
    "/api/v1/models/churn/versions/1",
    "/api/v1/models/churn/versions/1/baseline",
)


def test_a_model_is_its_projects_to_read_upload_and_deploy(
    alice: SigningClient, bob: SigningClient, client: SigningClient
) -> None:
    first = upload(alice)
    assert first.status_code == 201, first.get_json()
    alice_project = first.get_json()["project_id"]
    assert alice_project
    for path in READS:
        assert alice.get(path).status_code == 200, path
        refused = bob.get(path)
        assert refused.status_code == 403, path
        assert refused.get_json()["error"]["message"] == (
            "you are not a collaborator of model 'churn'"
        )
    assert bob.get("/api/v1/models").get_json() == {"models": []}
    # Nor may he add a version (it would become the newest of hers) or deploy it.
    assert upload(bob).status_code == 403
    assert bob.post("/api/v1/models/churn/deploy", json={"service": "bobs"}).status_code == 403
    assert [m["versions"] for m in alice.get("/api/v1/models").get_json()["models"]] == [1]
    # Once he is a member of her project, he may; so may an administrator always.
    assert alice.put("/iam/projects/alice/members/bob").status_code == 200
    assert bob.get("/api/v1/models/churn/versions/1/baseline").status_code == 200
    assert upload(bob).get_json()["version"] == 2
    assert client.get("/api/v1/models/churn/versions/2").status_code == 200
    assert [m["name"] for m in client.get("/api/v1/models").get_json()["models"]] == ["churn"]


def test_a_new_model_goes_into_a_named_project_its_uploader_belongs_to(
    alice: SigningClient, bob: SigningClient
) -> None:
    assert upload(bob, project="alice").status_code == 403
    made = upload(alice, project="alice")
    assert made.status_code == 201
    # A version of an existing model stays in its project.
    moved = upload(alice, project="bob")
    assert moved.status_code == 409, moved.get_json()


def test_api_keys_and_instance_credentials_do_not_read_models(
    app: Flask, alice: SigningClient, anonymous_client: Any
) -> None:
    assert upload(alice).status_code == 201
    assert alice.post("/api/v1/services", json={"name": "svc"}).status_code == 201
    key = alice.post("/api/v1/services/svc/api-keys", json={}).get_json()["api_key"]
    plane: ControlPlane = app.extensions["shipyard"]
    assert alice.post("/api/v1/services/svc/enable").status_code == 200
    assert alice.post("/api/v1/services/svc/deploy").status_code == 202
    with plane.store.writing() as session:
        service = session.scalars(select(ServiceRow).where(ServiceRow.name == "svc")).one()
        generation = session.scalars(select(GenerationRow)).one()
        session.add(InstanceRow(id="i1", service_id=service.id, generation_id=generation.id,
                                state="running"))
        session.flush()
        issued = plane.access.access_keys.issue_for_instance(
            session, service.id, "i1", timedelta(minutes=5)
        )
    instance = signed_as(app, {"access_key_id": issued.key.id,
                               "secret_access_key": issued.secret_access_key})
    assert instance.get("/iam/whoami").get_json()["kind"] == "service"
    for path in ("/api/v1/models", *READS):
        assert anonymous_client.get(path, headers={"X-Api-Key": key}).status_code == 403, path
        assert instance.get(path).status_code == 403, path


def test_a_service_cannot_be_given_a_model_of_another_project(
    alice: SigningClient, bob: SigningClient
) -> None:
    assert upload(alice).status_code == 201
    assert upload(bob, name="bobs-model").status_code == 201
    assert bob.post("/api/v1/models/bobs-model/deploy", json={}).status_code == 202
    replacements = "/api/v1/services/bobs-model/model-replacements"
    for path, body in ((replacements, {"reason": "accuracy"}), (replacements + "/validate", {})):
        answer = bob.post(path, json={"model": "churn", "version": 1, **body})
        assert answer.status_code == 403, answer.get_json()


def test_models_uploaded_before_projects_take_the_project_of_their_service(
    app: Flask, alice: SigningClient
) -> None:
    """The migration that gave models a project: a model deployed into a service takes
    that service's project; one never deployed is left to administrators."""
    from alembic import command
    from alembic.config import Config

    from shipyard.store.database import MIGRATIONS

    assert upload(alice).status_code == 201
    assert upload(alice, name="unused").status_code == 201
    assert alice.post("/api/v1/models/churn/deploy", json={}).status_code == 202
    plane: ControlPlane = app.extensions["shipyard"]
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with plane.store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0009")
        command.upgrade(config, "head")
    owners = {model: plane.models.project_of(model) for model in ("churn", "unused")}
    assert owners == {"churn": alice.get("/iam/whoami").get_json()["projects"][0], "unused": None}
