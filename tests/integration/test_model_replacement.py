"""Model replacement and generation packages against a real control plane: ``shipyard up``
(api, supervisor with its promotion gate, gateway), real uv environments and instances."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from shipyard_sdk import Client
from shipyard_sdk.errors import ReplacementBlocked
from tests.conftest import RunningShipyard

pytestmark = pytest.mark.slow

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris_model(columns: list[int], **options: Any) -> tuple[bytes, list[dict[str, Any]]]:
    """A logistic regression fitted on the given iris columns (joblib bytes), and a
    baseline of every tenth flower with its four features and species."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris()
    labels = iris.target_names[iris.target]
    model = LogisticRegression(max_iter=1000, **options).fit(iris.data[:, columns], labels)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    baseline = [
        {**dict(zip(FEATURES, map(float, row), strict=True)), "species": str(label)}
        for row, label in list(zip(iris.data, labels, strict=True))[::10]
    ]
    return buffer.getvalue(), baseline


def metadata(baseline: list[dict[str, Any]], features: list[str] = FEATURES) -> dict[str, Any]:
    import sklearn

    return {
        "features": [{"name": name, "type": "number"} for name in features],
        "target": "species", "problem_type": "classification",
        "packages": [f"scikit-learn=={sklearn.__version__}", "joblib", "pandas"],
        "baseline": [{k: v for k, v in r.items() if k in {*features, "species"}}
                     for r in baseline],
    }


def predict(shipyard: RunningShipyard, service: str = "iris") -> dict[str, Any]:
    record = dict(zip(FEATURES, (5.1, 3.5, 1.4, 0.2), strict=True))
    url = f"{shipyard.url}/user-services/invoke/{service}/api/v1.0/predict/"
    answer = shipyard.http.post(url, json=[record], timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def decided(client: Client, replacement_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = client.models.replacement("iris", replacement_id)
        if found["state"] != "validating":
            return found
        time.sleep(0.5)
    raise AssertionError(f"replacement {replacement_id} still validating")


@pytest.mark.timeout(1200)
def test_replacing_the_iris_model_passes_blocks_and_fails_at_the_gate(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    pytest.importorskip("sklearn")
    first, baseline = iris_model([0, 1, 2, 3])
    with shipyard.sdk() as client:
        client.timeout = 600
        client.models.upload("iris", first, metadata(baseline))
        deployed = client.models.deploy("iris", 1)
        client.services.wait_until_serving("iris", deployed["generation"]["tag"])
        assert predict(shipyard)["model"] == {"name": "iris", "version": "1"}

        # (1) A better model, same features: passing, the new generation serves.
        second, _ = iris_model([0, 1, 2, 3], C=0.5)
        client.models.upload("iris", second, metadata(baseline))
        replaced = shipyard.cli("models", "replace", "iris", "iris", "--version", "2",
                                "--reason", "accuracy", "--note", "retrained", "--no-follow")
        assert replaced.returncode == 0, replaced.stdout + replaced.stderr
        assert "Validation: passing" in replaced.stdout
        assert "loads and predicts on the baseline sample" in replaced.stdout
        answer = predict(shipyard)
        assert answer["model"] == {"name": "iris", "version": "2"}
        assert answer["generation"] == "v2"
        listed = shipyard.cli("models", "replacements", "iris", "--json")
        assert listed.returncode == 0, listed.stderr
        (history,) = json.loads(listed.stdout)
        assert (history["reason"], history["note"], history["state"]) == (
            "accuracy", "retrained", "replaced")
        assert (history["from_model_version"], history["to_model_version"]) == (
            "iris:1", "iris:2")
        assert history["validation"]["status"] == "passing"
        table = shipyard.cli("models", "replacements", "iris")
        assert "accuracy" in table.stdout and "replaced" in table.stdout

        # (2) Other features: blocked, nothing deployed, v2 keeps serving.
        third, _ = iris_model([0, 1, 2])
        client.models.upload("iris", third, metadata(baseline, FEATURES[:3]))
        builds = len(client.services.builds("iris"))
        with pytest.raises(ReplacementBlocked, match="petal_width"):
            client.models.replace("iris", "iris", 3, reason="data_drift")
        assert len(client.services.builds("iris")) == builds
        blocked = client.models.replacements("iris")[0]
        assert blocked["state"] == "blocked" and blocked["generation"] is None
        cli_blocked = shipyard.cli("models", "replace", "iris", "iris", "--version", "3",
                                   "--reason", "data_drift")
        assert cli_blocked.returncode == 1
        assert "Validation: failing" in cli_blocked.stdout
        assert cli_blocked.stderr.startswith("Error: ")
        assert predict(shipyard)["generation"] == "v2"

        # (3) The same metadata, but a model that cannot predict on it (fitted on three
        # columns): it loads, so the instance is healthy; the gate fails it.
        client.models.upload("iris", third, metadata(baseline))
        started = client.models.replace("iris", "iris", 4, reason="errors")
        assert started["validation"]["status"] == "passing"
        failed = decided(client, started["id"])
        assert failed["state"] == "failed", failed
        check = failed["validation"]["checks"][-1]
        assert check["name"] == "loads and predicts on the baseline sample"
        assert check["status"] == "failing" and "500" in check["message"]
        assert check["message"] in failed["message"]
        status = client.services.get("iris")
        assert status["live_generation"] == "v2" and "v3" in status["status_message"]
        assert predict(shipyard)["model"] == {"name": "iris", "version": "2"}
        states = [r["state"] for r in client.models.replacements("iris")]
        assert states == ["failed", "blocked", "blocked", "replaced"]


@pytest.mark.timeout(600)
def test_an_exported_generation_imports_as_a_new_one_that_builds_without_serving(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    assert shipyard.cli("new", "custom", "add-numbers", cwd=tmp_path).returncode == 0
    for args in (("push", "add-numbers"), ("enable", "add-numbers"), ("deploy", "add-numbers")):
        done = shipyard.cli(*args, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr

    exported = shipyard.cli("generations", "export", "add-numbers", "v1", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    package = tmp_path / "add-numbers-v1.zip"
    assert package.is_file()
    imported = shipyard.cli("generations", "import", "add-numbers", str(package))
    assert imported.returncode == 0, imported.stderr
    assert "add-numbers v2" in imported.stdout

    with shipyard.sdk() as client:
        deadline = time.monotonic() + 300
        while client.services.build("add-numbers", 2)["build_state"] not in (
            "succeeded", "failed"
        ):
            assert time.monotonic() < deadline, "v2 did not finish building"
            time.sleep(0.5)
        assert client.services.build("add-numbers", 2)["build_state"] == "succeeded"
        time.sleep(1.5)  # a few supervisor ticks: nothing may switch to v2
        status = client.services.get("add-numbers")
        assert (status["live_generation"], status["target_generation"]) == ("v1", "v1")
        answer = shipyard.http.post(
            f"{shipyard.url}/user-services/invoke/add-numbers/add-numbers",
            json={"num1": 2, "num2": 5}, timeout=10,
        )
        assert answer.status_code == 200
        assert answer.headers["X-Shipyard-Generation"] == "v1"

        broken = shipyard.cli("generations", "import", "add-numbers", str(tmp_path / "x.zip"))
        assert broken.returncode != 0
        (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not really")
        refused = shipyard.cli("generations", "import", "add-numbers", str(tmp_path / "bad.zip"))
        assert refused.returncode == 1 and refused.stderr.startswith("Error: ")
        assert len(client.services.builds("add-numbers")) == 2
