"""Model monitoring end to end on a real ``shipyard up``: the iris model served by v1 with a
retrained v2 as its challenger, traffic whose petals grew, each flower with its id; the
drift of the features and of the predictions, the accuracy of main and challenger from
actuals sent for part of the traffic, and prediction warnings, through the API, the SDK
and the CLI."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest

from shipyard_sdk import Client
from tests.conftest import RunningShipyard
from tests.integration.test_deploy import wait_for

pytestmark = pytest.mark.slow

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SCORED = 400
BATCH = 40
GROWTH = 2.5
"""Centimetres added to every petal length the live traffic sends."""


def iris_model(**options: Any) -> tuple[bytes, list[dict[str, Any]]]:
    """A logistic regression on the iris data (joblib bytes), and every flower with its
    species as the baseline (the target too, so health has the model's accuracy on it)."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris()
    labels = iris.target_names[iris.target]
    model = LogisticRegression(max_iter=1000, **options).fit(iris.data, labels)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    baseline = [{**dict(zip(FEATURES, map(float, row), strict=True)), "species": str(label)}
                for row, label in zip(iris.data, labels, strict=True)]
    return buffer.getvalue(), baseline


def metadata(baseline: list[dict[str, Any]]) -> dict[str, Any]:
    import sklearn

    return {
        "features": [{"name": name, "type": "number"} for name in FEATURES],
        "target": "species", "problem_type": "classification",
        "packages": [f"scikit-learn=={sklearn.__version__}", "joblib", "pandas"],
        "baseline": baseline,
    }


def drifted_traffic(baseline: list[dict[str, Any]]
                    ) -> tuple[list[dict[str, Any]], list[str]]:
    """Flowers drawn from the baseline, their petals ``GROWTH`` cm longer, each with its
    ``flower_id``; and the species of each."""
    draw = random.Random(17)
    flowers = [draw.choice(baseline) for _ in range(SCORED)]
    records = [{"flower_id": f"f{number}",
                **{name: flower[name] + (GROWTH if name == "petal_length" else 0.0)
                   for name in FEATURES}}
               for number, flower in enumerate(flowers)]
    return records, [flower["species"] for flower in flowers]


def serve_with_a_challenger(shipyard: RunningShipyard, client: Client
                            ) -> tuple[list[dict[str, Any]], bytes]:
    """iris:1 serving as v1, iris:2 deployed as v2 and set as v1's challenger; the
    baseline, and the challenger's model."""
    first, baseline = iris_model()
    second, _ = iris_model(C=0.3)
    client.models.upload("iris", first, metadata(baseline))
    client.services.wait_until_serving("iris", client.models.deploy("iris", 1)["generation"]["tag"])
    client.models.upload("iris", second, metadata(baseline))
    client.services.wait_until_serving("iris", client.models.deploy("iris", 2)["generation"]["tag"])
    client.traffic.set_mapping("iris", {"weights": {"v1": 1}})
    client.traffic.wait_for_mapping("iris", timeout=300)
    assert shipyard.cli("challenger", "set", "iris", "v2").returncode == 0
    wait_for(lambda: any(g["tag"] == "v2" and g["mounted"] and g["challenger"]
                         for g in client.traffic.generations("iris")),
             timeout=300, what="the challenger v2 to be mounted")
    shipyard.wait_for_gateway_routes()
    return baseline, second


@pytest.mark.timeout(1500)
def test_drift_of_the_features_and_the_predictions_of_main_and_challenger(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    pytest.importorskip("sklearn")
    with shipyard.sdk() as client:
        client.timeout = 600
        baseline, challenger_model = serve_with_a_challenger(shipyard, client)
        client.services.update("iris", {"monitoring": {
            "association_id_columns": ["flower_id"], "required_in_prediction_requests": True,
            "prediction_warnings": {"enabled": True}}})
        traffic, species = drifted_traffic(baseline)
        url = f"{shipyard.url}/user-services/invoke/iris/api/v1.0/predict/"
        wait_for(lambda: _route(shipyard).get("association_required"), timeout=60,
                 what="the supervisor to publish the new settings")
        shipyard.wait_for_gateway_routes()
        bare = {name: value for name, value in traffic[0].items() if name != "flower_id"}
        refused = shipyard.http.post(url, json=[bare], timeout=30)
        assert refused.status_code == 400
        assert "lacks the association id column(s) 'flower_id'" in refused.text
        predicted, flagged = [], 0
        for start in range(0, SCORED, BATCH):
            answer = shipyard.http.post(url, json=traffic[start:start + BATCH], timeout=30)
            assert answer.status_code == 200, answer.text
            assert answer.headers["X-Shipyard-Generation"] == "v1"
            predicted.extend(answer.json()["predictions"])
            flagged += int(answer.headers.get("X-Shipyard-Prediction-Warnings", "0"))
        assert flagged > SCORED // 2  # petals past the baseline's longest
        assert "outside the baseline's" in answer.headers["X-Shipyard-Prediction-Warning"]

        def folded() -> bool:
            answers = (client.services.drift("iris", "1h"),
                       client.services.drift("iris", "1h", role="challenger"))
            return all(answer["rows"] == SCORED for answer in answers)

        wait_for(folded, timeout=120, what="the scored rows to be folded into drift")
        main = client.services.drift("iris", "1h", generation="v1")
        by_name = {feature["name"]: feature for feature in main["features"]}
        assert main["features"][0]["name"] == "petal_length"
        assert by_name["petal_length"]["drifted"]
        assert by_name["petal_length"]["wasserstein"] > 1.0  # 2.5 cm is 1.4 of its spreads
        assert not by_name["sepal_width"]["drifted"]
        assert (by_name["sepal_width"]["reference_rows"],
                by_name["sepal_width"]["current_rows"]) == (150, SCORED)
        # A logistic regression's coefficients, read by its own instance.
        importance = [feature["importance"] for feature in main["features"]]
        assert all(value is not None for value in importance)
        assert sum(importance) == pytest.approx(1.0)

        # Longer petals are read as virginica: the predictions drifted too, for the
        # challenger as for the main generation (its reference taken as it was mounted).
        for role in ("main", "challenger"):
            target = client.services.target_drift("iris", "1h", role=role)["target"]
            assert target is not None, role
            assert target["drifted"] and target["test"] == "chi2", target
            assert (target["reference_rows"], target["current_rows"]) == (150, SCORED)
        distribution = client.services.drift_distribution("iris", "petal_length", "1h")
        assert distribution["reference"]["rows"] == 150
        assert distribution["current"]["rows"] == SCORED
        series = client.services.drift_over_time("iris", "petal_length", "PT1H", "1h")
        assert any(bucket["drifted"] for bucket in series)

        _check_accuracy(shipyard, client, tmp_path, traffic, species, predicted,
                        challenger_model)
        stats = client.services.stats("iris", "1h", generation="v1")["generations"][0]
        assert stats["prediction_warnings"] == flagged
        # Its most important feature drifted, and it predicts worse than on its baseline.
        service = client.services.get("iris")
        assert service["drift_health"]["status"] == "failing", service["drift_health"]
        assert any(reason.startswith("petal_length drifted")
                   for reason in service["drift_health"]["reasons"])
        assert service["accuracy_health"]["status"] == "failing", service["accuracy_health"]
        listed = client.services.list(drift_health="failing")
        assert [entry["name"] for entry in listed] == ["iris"]

    shown = shipyard.cli("drift", "iris", "--since", "1h")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    lines = shown.stdout.splitlines()
    petal = next(line for line in lines if line.startswith("petal_length"))
    assert "DRIFTED" in petal
    sepal = next(line for line in lines if line.startswith("sepal_width"))
    assert "DRIFTED" not in sepal
    unknown = shipyard.cli("drift", "iris", "--feature", "petal_size")
    assert unknown.returncode == 1 and unknown.stderr.startswith("Error: ")
    assert "unknown feature 'petal_size'" in unknown.stderr


def _route(shipyard: RunningShipyard) -> dict[str, Any]:
    """The iris service's entry in the routing table the gateway reads."""
    services = json.loads((shipyard.home / "run" / "routes.json").read_text())["services"]
    return next(entry for entry in services.values() if entry["name"] == "iris")


def _check_accuracy(
    shipyard: RunningShipyard, client: Client, tmp_path: Path,
    traffic: list[dict[str, Any]], species: list[str], predicted: list[str],
    challenger_model: bytes,
) -> None:
    """Actuals for 300 of the flowers (250 from the SDK, 50 as a CSV from the CLI) and 5
    ids no prediction carries; the accuracy of v1 and its challenger v2 as scikit-learn
    computes it on the joined rows."""
    import joblib
    from sklearn import metrics

    ids = [record["flower_id"] for record in traffic]
    sent = client.services.submit_actuals("iris", [
        {"association_id": ident, "actual_value": kind}
        for ident, kind in zip([*ids[:250], *(f"x{n}" for n in range(5))],
                               [*species[:250], *["setosa"] * 5], strict=True)])
    assert (sent["matched"], sent["unmatched"]) == (250, 5)
    rows = tmp_path / "actuals.csv"
    rows.write_text("association_id,actual_value\n" + "".join(
        f"{ident},{kind}\n" for ident, kind in zip(ids[250:300], species[250:300], strict=True)))
    uploaded = shipyard.cli("actuals", "upload", "iris", str(rows))
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    assert "50 matched" in uploaded.stdout + uploaded.stderr

    shadow = joblib.load(io.BytesIO(challenger_model))
    inputs = [[record[name] for name in FEATURES] for record in traffic[:300]]
    challenger_predicted = [str(label) for label in shadow.predict(inputs)]
    accuracy = client.services.accuracy("iris", "1h")
    by_role = {(g["generation"], g["role"]): g for g in accuracy["generations"]}
    main, challenger = by_role[("v1", "main")], by_role[("v2", "challenger")]
    assert main["rows"] == challenger["rows"] == 300
    assert main["accuracy"] == metrics.accuracy_score(species[:300], predicted[:300])
    assert challenger["accuracy"] == metrics.accuracy_score(species[:300],
                                                            challenger_predicted)
    assert main["confusion_matrix"]["matrix"] == metrics.confusion_matrix(
        species[:300], predicted[:300], labels=main["confusion_matrix"]["labels"]).tolist()
    assert main["f1"] == pytest.approx(metrics.f1_score(
        species[:300], predicted[:300], average="weighted", zero_division=0), rel=1e-12)
    shown = shipyard.cli("accuracy", "iris", "--since", "1h")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"{main['accuracy']:.4g}" in shown.stdout


SCORER = '''\
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/score")
def score():
    """Big or small, by size."""
    rows = request.get_json()
    return jsonify({"predictions": ["big" if row["size"] > 4 else "small" for row in rows]})
'''
SCORER_MANIFEST = """\
name: scorer
features:
  - {name: size, type: number}
  - {name: color, type: string}
target: label
problem_type: classification
predict_path: /score
baseline: baseline.json
"""


@pytest.mark.timeout(900)
def test_a_custom_service_that_declares_a_model_is_monitored(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    assert shipyard.cli("new", "custom", "scorer", cwd=tmp_path).returncode == 0
    folder = tmp_path / "scorer"
    (folder / "app.py").write_text(SCORER)
    (folder / "shipyard.yaml").write_text(
        (folder / "shipyard.yaml").read_text().replace("name: scorer\n", SCORER_MANIFEST, 1))
    (folder / "baseline.json").write_text(json.dumps([
        {"size": float(n % 10), "color": "red" if n % 2 else "blue"} for n in range(200)]))
    for command in (("push", "scorer"), ("enable", "scorer"), ("deploy", "scorer")):
        done = shipyard.cli(*command, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
    url = f"{shipyard.url}/user-services/invoke/scorer/score"
    for start in range(0, 200, 50):
        rows = [{"size": float(n % 10) + 5, "color": "green"} for n in range(start, start + 50)]
        answer = shipyard.http.post(url, json=rows, timeout=30)
        assert answer.status_code == 200, answer.text
    with shipyard.sdk() as client:
        wait_for(lambda: client.services.drift("scorer", "1h")["rows"] == 200, timeout=120,
                 what="the scorer's rows to be folded")
        drift = client.services.drift("scorer", "1h")
        assert {f["name"] for f in drift["features"] if f["drifted"]} == {"size", "color"}
        target = client.services.target_drift("scorer", "1h")["target"]
        assert target is not None and target["drifted"]  # its reference: its own predictions
