"""Model monitoring end to end on a real ``shipyard up``: the iris model served by v1 with a
retrained v2 as its challenger, traffic whose petals grew, and the drift of the features
and of the predictions coming back through the API, the SDK and the CLI."""

from __future__ import annotations

import io
import random
import time
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
    species as the baseline."""
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


def drifted_traffic(baseline: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Flowers drawn from the baseline, their petals ``GROWTH`` cm longer."""
    draw = random.Random(17)
    flowers = [draw.choice(baseline) for _ in range(SCORED)]
    return [{name: flower[name] + (GROWTH if name == "petal_length" else 0.0)
             for name in FEATURES} for flower in flowers]


def serve_with_a_challenger(shipyard: RunningShipyard, client: Client) -> list[dict[str, Any]]:
    """iris:1 serving as v1, iris:2 deployed as v2 and set as v1's challenger."""
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
    time.sleep(0.5)  # the gateway reads the routing table every 50 ms
    return baseline


@pytest.mark.timeout(1500)
def test_drift_of_the_features_and_the_predictions_of_main_and_challenger(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    pytest.importorskip("sklearn")
    with shipyard.sdk() as client:
        client.timeout = 600
        baseline = serve_with_a_challenger(shipyard, client)
        traffic = drifted_traffic(baseline)
        url = f"{shipyard.url}/user-services/invoke/iris/api/v1.0/predict/"
        for start in range(0, SCORED, BATCH):
            answer = shipyard.http.post(url, json=traffic[start:start + BATCH], timeout=30)
            assert answer.status_code == 200, answer.text
            assert answer.headers["X-Shipyard-Generation"] == "v1"

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
