"""Model replacements on the Flask test client (no process): blocked, validating, then
decided by the promotion gate (called here as the supervisor would) or by the fate of
their generation."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from shipyard.store import GenerationRow, ServiceRow
from shipyard.supervisor.replacement_gate import ReplacementGate

FEATURES = [{"name": n, "type": "number"} for n in ("a", "b")]
METADATA: dict[str, Any] = {
    "features": FEATURES, "target": "y", "problem_type": "classification",
    "baseline": [{"a": 1.0, "b": 2.0, "y": "x"}, {"a": 3.0, "b": 4.0, "y": "z"}],
}
URL = "/api/v1/services/flowers/model-replacements"


@pytest.fixture
def deployed(app: Flask, client: FlaskClient) -> Flask:
    """Model ``flowers`` v1 deployed as service ``flowers`` (its build pending)."""
    models = app.extensions["shipyard"].models
    models.upload("flowers", b"model one", METADATA)
    models.deploy("flowers", 1)
    return app


def upload(app: Flask, content: bytes, **changes: Any) -> int:
    version = app.extensions["shipyard"].models.upload("flowers", content, {**METADATA, **changes})
    return version.version


def replace(client: FlaskClient, version: int, reason: str = "accuracy", **extra: Any):
    return client.post(URL, json={"model": "flowers", "version": version, "reason": reason,
                                  **extra})


def gate(app: Flask, predictions: int | None, *, version: str = "2") -> str | None:
    """Run the gate on the service's target generation, as the supervisor would."""

    def post(_url: str, records: list, _timeout: float) -> requests.Response:
        response = requests.Response()
        if predictions is None:
            raise requests.ConnectionError("refused")
        response.status_code = 200
        response._content = (
            b'{"predictions": [%s], "model": {"name": "flowers", "version": "%s"}}'
            % (b",".join([b"0"] * predictions), version.encode())
        )
        return response

    store = app.extensions["shipyard"].store
    with store.reading() as session:
        service = session.query(ServiceRow).filter_by(name="flowers").one()
        service_id, generation_id = service.id, service.target_generation_id
    assert generation_id is not None
    return ReplacementGate(post=post)(store, service_id, generation_id, ("127.0.0.1", 1))


def test_a_passing_replacement_deploys_and_the_gate_lets_it_serve(
    deployed: Flask, client: FlaskClient
) -> None:
    version = upload(deployed, b"model two")
    dry = client.post(URL + "/validate", json={"model": "flowers"})
    assert dry.status_code == 200
    assert dry.get_json()["validation"]["status"] == "passing"
    assert dry.get_json()["to_model_version"] == "flowers:2"
    assert client.get(URL).get_json()["replacements"] == []  # a dry run records nothing

    answer = replace(client, version, note="better on the spring data")
    assert answer.status_code == 202, answer.get_json()
    started = answer.get_json()
    assert started["state"] == "validating" and started["generation"] == "v2"
    assert started["from_model_version"] == "flowers:1"
    assert started["created_by"].startswith("user:")
    builds = client.get("/api/v1/services/flowers/builds").get_json()["builds"]
    assert builds[-1]["model_version"] == "flowers:2"
    served = client.get("/api/v1/services/flowers/files/model/model.joblib").data
    assert served == b"model two"

    assert gate(deployed, predictions=2) is None
    done = client.get(f"{URL}/{started['id']}").get_json()
    assert done["state"] == "replaced" and done["finished_at"]
    assert done["validation"]["checks"][-1]["name"].startswith("loads and predicts")
    assert done["validation"]["checks"][-1]["status"] == "passing"


def test_a_gate_failure_fails_the_replacement_and_keeps_it_out(
    deployed: Flask, client: FlaskClient
) -> None:
    started = replace(client, upload(deployed, b"model two")).get_json()
    problem = gate(deployed, predictions=1)
    assert problem is not None and "1 predictions for 2" in problem
    failed = client.get(f"{URL}/{started['id']}").get_json()
    assert failed["state"] == "failed" and "1 predictions" in failed["message"]
    assert failed["validation"]["status"] == "failing"
    # Asked again (after a supervisor restart), the gate keeps it out without calling.
    assert gate(deployed, predictions=None) == problem


def test_failing_checks_block_and_are_kept_in_the_history(
    deployed: Flask, client: FlaskClient
) -> None:
    version = upload(deployed, b"model two", features=[*FEATURES, {"name": "c"}],
                     baseline=[])
    answer = replace(client, version, reason="data_drift")
    assert answer.status_code == 409
    error = answer.get_json()["error"]
    assert error["type"] == "ReplacementBlocked" and "same features" in error["message"]
    assert "'c'" in error["message"]
    builds = client.get("/api/v1/services/flowers/builds").get_json()["builds"]
    assert len(builds) == 1  # nothing deployed
    (blocked,) = client.get(URL).get_json()["replacements"]
    assert blocked["state"] == "blocked" and blocked["reason"] == "data_drift"
    assert blocked["validation"]["status"] == "failing" and blocked["generation"] is None


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"model": "flowers", "reason": "because"}, 400, "scheduled_refresh"),
        ({"model": "flowers", "reason": "errors", "extra": 1}, 400, "unknown fields"),
        ({"model": "flowers", "version": "2", "reason": "errors"}, 400, "'version'"),
        ({"model": "nothing", "reason": "errors"}, 404, "no model"),
        ({"model": "flowers", "reason": "errors", "note": "a\x00b"}, 400, "'note'"),
    ],
)
def test_bad_requests(
    deployed: Flask, client: FlaskClient, body: dict, status: int, words: str
) -> None:
    answer = client.post(URL, json=body)
    assert answer.status_code == status
    assert words in answer.get_json()["error"]["message"]


def test_only_model_services_serving_a_model_can_replace(
    app: Flask, client: FlaskClient
) -> None:
    client.post("/api/v1/services", json={"name": "plain"})
    app.extensions["shipyard"].models.upload("flowers", b"model one", METADATA)
    answer = client.post("/api/v1/services/plain/model-replacements",
                         json={"model": "flowers", "reason": "other"})
    assert answer.status_code == 409 and "not a model service" in answer.get_json()["error"][
        "message"]


def test_a_failed_build_or_a_superseded_generation_fails_its_replacement(
    deployed: Flask, client: FlaskClient
) -> None:
    first = replace(client, upload(deployed, b"model two")).get_json()
    store = deployed.extensions["shipyard"].store
    with store.writing() as session:
        generation = session.query(GenerationRow).filter_by(number=2).one()
        generation.build_state, generation.build_error = "failed", "no such package"
    (found,) = client.get(URL).get_json()["replacements"]
    assert found["id"] == first["id"] and found["state"] == "failed"
    assert "build of v2 failed: no such package" in found["message"]

    second = replace(client, upload(deployed, b"model three"), reason="scheduled_refresh")
    assert second.status_code == 202
    assert client.post("/api/v1/services/flowers/deploy").status_code == 202
    newest = client.get(URL).get_json()["replacements"][0]
    assert newest["id"] == second.get_json()["id"]
    assert newest["state"] == "failed" and "another deploy" in newest["message"]


def test_a_superseded_replacement_quotes_the_status_only_when_it_names_its_generation(
    deployed: Flask, client: FlaskClient
) -> None:
    first = replace(client, upload(deployed, b"model two")).get_json()
    store = deployed.extensions["shipyard"].store
    with store.writing() as session:
        service = session.query(ServiceRow).filter_by(name="flowers").one()
        v1 = session.query(GenerationRow).filter_by(number=1).one()
        service.target_generation_id = v1.id
        service.status_message = "build of v21 failed: no such package"
    (found,) = [r for r in client.get(URL).get_json()["replacements"] if r["id"] == first["id"]]
    assert found["state"] == "failed"
    assert found["message"] == "v2 did not go live: another deploy took its place"
