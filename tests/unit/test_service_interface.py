"""A custom service that is its own model: the features, target and problem type its
shipyard.yaml declares, checked when a generation is made, and its calls to the predict
route monitored as a model service's are (drift, actuals, accuracy)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from flask import Flask

from shipyard.domain.archives import write_zip
from shipyard.domain.manifest import parse_manifest
from shipyard.domain.services import ServiceSpec
from shipyard.errors import InvalidInput
from shipyard.stats.drift_folding import fold_drift
from shipyard.stats.scored_row_store import keep_scored_rows
from shipyard.stats.scored_rows import ScoredCall
from shipyard.store import ServiceRow
from shipyard.supervisor.drift_references import DriftReferences
from shipyard.supervisor.routing import routing_table
from tests.credentials import SigningClient

HOUR_AGO = int(time.time()) // 3600 * 3600 - 3600
MANIFEST = """\
name: scorer
features:
  - {name: size, type: number}
  - {name: color, type: string}
target: label
problem_type: classification
predict_path: /score
baseline: data/baseline.json
"""
BASELINE = [{"size": float(n % 10), "color": "red" if n % 2 else "blue",
             "label": "big" if n % 10 > 4 else "small"} for n in range(200)]


def files(manifest: str = MANIFEST, baseline: Any = BASELINE) -> dict[str, bytes]:
    found = {"app.py": b"from flask import Flask\napp = Flask(__name__)\n",
             "shipyard.yaml": manifest.encode()}
    if baseline is not None:
        found["data/baseline.json"] = json.dumps(baseline).encode()
    return found


def deploy(app: Flask, service_files: dict[str, bytes]) -> str:
    shipyard = app.extensions["shipyard"]
    service = shipyard.services.create(ServiceSpec(name="scorer"), service_files)
    shipyard.services.set_enabled("scorer", True)
    shipyard.deployments.deploy("scorer")
    return service.id


def call(service_id: str, rows: list[dict[str, Any]],
         path: str = "/user-services/invoke/scorer/score") -> ScoredCall:
    labels = ["big" if row["size"] > 4 else "small" for row in rows]
    return ScoredCall(service_id=service_id, at=HOUR_AGO + 1, generation="v1", status=200,
                      request=json.dumps(rows), response=json.dumps({"predictions": labels}),
                      path=path)


def test_a_declared_model_is_monitored_on_its_predict_route(
    app: Flask, client: SigningClient
) -> None:
    service_id = deploy(app, files())
    store = app.extensions["shipyard"].store
    with store.reading() as session:
        route = routing_table(session).services[service_id]
        generation_id = session.get_one(ServiceRow, service_id).target_generation_id
    assert route.monitored  # the gateway passes its bodies on to the supervisor

    def post(url: str, sent: list[dict[str, Any]], _timeout: float) -> requests.Response:
        assert url.endswith("/score") and set(sent[0]) == {"size", "color"}  # no target
        answer = requests.Response()
        answer.status_code = 200
        answer._content = json.dumps({"predictions": [
            "big" if row["size"] > 4 else "small" for row in sent]}).encode()
        return answer

    assert DriftReferences(post=post).take(store, service_id, generation_id, ("h", 1))
    client.patch("/api/v1/services/scorer",
                 json={"monitoring": {"association_id_columns": ["id"]}})
    live = [{"id": f"r{n}", "size": float(n % 10) + 6, "color": "green"} for n in range(150)]
    with store.writing() as session:
        calls = [call(service_id, live[n:n + 50]) for n in range(0, 150, 50)]
        calls.append(call(service_id, live[:5], path="/user-services/invoke/scorer/health"))
        fold_drift(session, calls)
        assert keep_scored_rows(session, calls) == 150
    drift = client.get("/api/v1/services/scorer/drift/features?start=3h").get_json()
    assert (drift["rows"], drift["data_errors"], drift["drifted"]) == (150, 0, 2)
    target = client.get("/api/v1/services/scorer/drift/target?start=3h").get_json()["target"]
    assert target["drifted"] and target["reference_rows"] == 200
    sent = client.post("/api/v1/services/scorer/actuals", json=[
        {"association_id": f"r{n}", "actual_value": "small"} for n in range(100)])
    assert sent.get_json()["matched"] == 100
    accuracy = client.get("/api/v1/services/scorer/accuracy?start=3h").get_json()
    assert (accuracy["problem_type"], accuracy["overall"]["accuracy"]) == ("classification", 0.0)


@pytest.mark.parametrize(("service_files", "message"), [
    (files(baseline=[{"size": "big", "color": "red"}]),
     "data/baseline.json: baseline record 0: feature 'size' must be a finite number"),
    (files(baseline=None), "the baseline file 'data/baseline.json' is not among"),
    (files(MANIFEST.replace("problem_type: classification", "problem_type: ranking")),
     "shipyard.yaml: unknown problem_type 'ranking'"),
    (files(MANIFEST.replace("predict_path: /score", "predict_path: score")),
     "'predict_path' must be a route path"),
])
def test_a_declaration_that_does_not_hold_makes_no_generation(
    app: Flask, service_files: dict[str, bytes], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(")):
        deploy(app, service_files)
    generations = app.extensions["shipyard"].deployments
    assert generations is not None
    with app.extensions["shipyard"].store.reading() as session:
        assert session.get_one(ServiceRow, app.extensions["shipyard"].services.get(
            "scorer").id).last_generation_number == 0


def test_the_manifest_checks_the_declaration_as_it_is_read() -> None:
    assert parse_manifest(MANIFEST).name == "scorer"
    with pytest.raises(InvalidInput, match="need 'features'"):
        parse_manifest("name: scorer\ntarget: label\n")
    with pytest.raises(InvalidInput, match="must name a file of the service"):
        parse_manifest(MANIFEST.replace("data/baseline.json", "../secrets.json"))
    with pytest.raises(InvalidInput, match="a model service's features come with its model"):
        parse_manifest("name: iris\nkind: model\nfeatures: [{name: a, type: number}]\n")
    assert write_zip(files())  # a declaration rides in the service's files as they are
