"""Create → deploy → invoke, as a new user would, with every process real: ``shipyard up``
(gateway, api, supervisor), uv environments, gunicorn instances, HTTP on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard_runners import DockerRunner
from shipyard_runners.containers import installation_id
from shipyard_sdk import Client
from shipyard_sdk.errors import InvalidInput, NotFound, PayloadTooLarge, Unavailable
from tests.conftest import REPO, RunningShipyard, start_shipyard
from tests.integration.docker_engine import ON_THE_ENGINE, require_docker
from tests.integration.test_deploy import wait_for

pytestmark = [pytest.mark.slow, ON_THE_ENGINE]

ON_EACH_RUNNER = pytest.mark.parametrize("shipyard", ["local", "docker"], indirect=True)


@pytest.fixture
def shipyard(request: pytest.FixtureRequest, tmp_path: Path, database_url: str
             ) -> Iterator[RunningShipyard]:
    """``shipyard up`` on the local runner, or on the one a test is parametrized with; a
    docker one's images and containers are removed afterwards."""
    runner = getattr(request, "param", "local")
    home = tmp_path / "home"
    if runner == "docker":
        require_docker()
    running = start_shipyard(home, "--runner", runner, database_url=database_url)
    try:
        yield running
    finally:
        running.stop()
        if runner == "docker":
            DockerRunner(home / "docker", installation=installation_id(home)).purge()

SLEEPY = """\
import time
from flask import Flask, request

app = Flask(__name__)


@app.get("/sleep")
def sleep():
    time.sleep(float(request.args.get("seconds", "0")))
    return {"slept": True}


@app.get("/hello")
def hello():
    return {"hello": "world"}
"""

CALLER = """\
from flask import Flask

from shipyard_sdk import user_services

app = Flask(__name__)


@app.post("/sum-via-add-numbers")
def sum_via_add_numbers():
    return {"sum": user_services.invoke("post", "/add-numbers", "add-numbers",
                                        {"num1": 20, "num2": 22})}
"""


def invoke_url(shipyard: RunningShipyard, service: str, path: str) -> str:
    return f"{shipyard.url}/user-services/invoke/{service}/{path.lstrip('/')}"


def deploy_new(shipyard: RunningShipyard, tmp_path: Path, name: str, app: str | None = None
               ) -> None:
    assert shipyard.cli("new", "custom", name, cwd=tmp_path).returncode == 0
    if app is not None:
        (tmp_path / name / "app.py").write_text(app)
    for args in (("push", name), ("enable", name), ("deploy", name)):
        done = shipyard.cli(*args, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr


def raw_request(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        return conn.recv(65536)


@ON_EACH_RUNNER
def test_add_numbers_through_the_gateway_the_sdk_and_the_cli(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    deploy_new(shipyard, tmp_path, "add-numbers")

    answer = shipyard.http.post(
        invoke_url(shipyard, "add-numbers", "/add-numbers"), json={"num1": 2, "num2": 5},
        headers={"X-Request-Id": "my-request-1"}, timeout=10,
    )
    assert answer.status_code == 200
    assert answer.json() == 7
    assert answer.headers["X-Shipyard-Generation"] == "v1"
    assert answer.headers["X-Request-Id"] == "my-request-1"

    service_id = shipyard.http.get(f"{shipyard.url}/api/v1/services/add-numbers").json()["id"]
    with shipyard.sdk() as client:
        assert client.user_services.invoke(
            "post", "/add-numbers", service_id, {"num1": 2, "num2": 5}
        ) == 7
        with pytest.raises(InvalidInput, match="num2"):
            client.user_services.invoke("post", "/add-numbers", service_id, {"num1": 2})
        with pytest.raises(NotFound):
            client.user_services.invoke("get", "/", "no-such-service")

    cli = shipyard.cli("invoke", "add-numbers", "post", "/add-numbers", '{"num1": 2, "num2": 5}')
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.strip() == "7"


@ON_EACH_RUNNER
def test_a_service_calls_another_with_the_module_level_sdk(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    deploy_new(shipyard, tmp_path, "add-numbers")
    deploy_new(shipyard, tmp_path, "caller", CALLER)
    answer = shipyard.http.post(invoke_url(shipyard, "caller", "/sum-via-add-numbers"), timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"sum": 42}


def test_bad_requests_get_the_right_status_and_the_gateway_keeps_serving(
    tmp_path: Path, database_url: str
) -> None:
    shipyard = start_shipyard(
        tmp_path / "home", env={"SHIPYARD_GATEWAY_UPSTREAM_TIMEOUT": "2"},
        database_url=database_url,
    )
    try:
        deploy_new(shipyard, tmp_path, "sleepy", SLEEPY)
        hello = invoke_url(shipyard, "sleepy", "/hello")

        too_big = shipyard.http.post(hello, data=b"x" * (20 * 1024 * 1024), timeout=30)
        assert too_big.status_code == 413
        assert too_big.json()["error"]["type"] == PayloadTooLarge.__name__

        smuggled = raw_request(
            shipyard.url,
            b"POST /user-services/invoke/sleepy/hello HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        )
        assert smuggled.startswith(b"HTTP/1.1 400")

        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            slow = pool.submit(
                shipyard.http.get, invoke_url(shipyard, "sleepy", "/sleep?seconds=3"), timeout=30
            )
            time.sleep(0.5)
            # The gateway answers other calls while one waits on a slow instance, and the
            # instance's threaded worker answers this one too.
            other = shipyard.http.get(f"{shipyard.url}/api/v1/services", timeout=5)
            assert other.status_code == 200
            assert shipyard.http.get(hello, timeout=1).json() == {"hello": "world"}
            assert slow.result().status_code == 504

        assert shipyard.http.get(invoke_url(shipyard, "nobody", "/x"), timeout=5).status_code == 404
        assert shipyard.cli("undeploy", "sleepy").returncode == 0
        undeployed = shipyard.http.get(hello, timeout=5)
        assert undeployed.status_code == 503
        assert "not deployed" in undeployed.json()["error"]["message"]
        assert shipyard.cli("disable", "sleepy").returncode == 0
        time.sleep(1)  # the supervisor publishes the change within a tick
        disabled = shipyard.http.get(hello, timeout=5)
        assert disabled.status_code == 503
        assert "disabled" in disabled.json()["error"]["message"]
    finally:
        shipyard.stop()


@ON_EACH_RUNNER
def test_iris_example_predicts_a_valid_class_for_each_record(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    pytest.importorskip("sklearn")
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "iris" / "train_and_deploy.py"),
         "--url", shipyard.url],
        capture_output=True, text=True, timeout=900, env=shipyard.env(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    predictions = [line.rsplit("-> ", 1)[1] for line in done.stdout.splitlines()]
    assert len(predictions) == 3
    assert set(predictions) <= {"setosa", "versicolor", "virginica"}
    assert predictions[0] == "setosa"

    predict = invoke_url(shipyard, "iris", "/api/v1.0/predict/")
    record = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    answer = shipyard.http.post(predict, json=[record, record], timeout=10).json()
    assert answer["predictions"] == ["setosa", "setosa"]
    assert answer["model"] == {"name": "iris", "version": "1"}
    assert answer["generation"] == "v1"
    assert len(answer["probabilities"][0]) == 3

    columns = shipyard.http.post(
        predict, json={"columns": list(record), "data": [list(record.values())]}, timeout=10
    ).json()
    assert columns["predictions"] == ["setosa"]
    csv = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n"
    as_csv = shipyard.http.post(predict, data=csv, headers={"Content-Type": "text/csv"}, timeout=10)
    assert as_csv.json()["predictions"] == ["setosa"]
    headerless = "5.1,3.5,1.4,0.2\n7.7,3.0,6.1,2.3\n"  # SageMaker's CSV: features in order
    as_rows = shipyard.http.post(predict, data=headerless, headers={"Content-Type": "text/csv"},
                                 timeout=10)
    assert as_rows.status_code == 200, as_rows.text
    assert as_rows.json()["predictions"][0] == "setosa"
    assert len(as_rows.json()["predictions"]) == 2
    short = shipyard.http.post(predict, data="5.1,3.5,1.4\n", headers={"Content-Type": "text/csv"},
                               timeout=10)
    assert short.status_code == 400
    assert short.json()["error"]["message"] == (
        "CSV line 1 has 3 columns; expected 4 (sepal_length, sepal_width, petal_length, "
        "petal_width, in this order)"
    )

    health = shipyard.http.get(invoke_url(shipyard, "iris", "/api/v1.0/health/status/")).json()
    assert health["ready"] is True
    assert health["model"] == {"name": "iris", "version": "1"}

    malformed = shipyard.http.post(
        predict, data="{not json", headers={"Content-Type": "application/json"}, timeout=10
    )
    assert malformed.status_code == 400
    missing = shipyard.http.post(predict, json=[{"sepal_length": 1.0}], timeout=10)
    assert missing.status_code == 400
    assert "sepal_width" in missing.json()["error"]["message"]

    # A records body of 50 rows is 50 predictions, in the query log and in the stats.
    fifty = shipyard.http.post(predict, json=[record] * 50, timeout=10,
                               headers={"X-Request-Id": "fifty-rows"})
    assert fifty.headers["X-Shipyard-Predictions"] == "50"

    def fifty_logged() -> dict[str, Any] | None:
        with shipyard.sdk() as client:
            rows = [json.loads(line) for line in client.services.queries("iris", since="1h")]
        return next((row for row in rows if row["request_id"] == "fifty-rows"), None)

    assert wait_for(fifty_logged, what="the 50-row call in the query log")["predictions"] == 50
    with shipyard.sdk() as client:
        overall = client.services.stats("iris", start="1h")["overall"]
    assert overall["total_predictions"] >= 50
    assert overall["total_requests"] >= 8


def test_models_deploy_from_the_cli(shipyard: RunningShipyard, tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    import io
    import json

    import joblib
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    (tmp_path / "line.joblib").write_bytes(buffer.getvalue())
    import sklearn

    metadata: dict[str, Any] = {
        "features": [{"name": "x", "type": "number"}], "target": "y",
        "problem_type": "regression",
        "packages": [f"scikit-learn=={sklearn.__version__}", "joblib"],
        "baseline": [{"x": 0.0, "y": 1.0}],
    }
    (tmp_path / "line.json").write_text(json.dumps(metadata))
    uploaded = shipyard.cli("models", "upload", "line", str(tmp_path / "line.joblib"),
                            "--metadata", str(tmp_path / "line.json"))
    assert uploaded.returncode == 0, uploaded.stderr
    deployed = shipyard.cli("models", "deploy", "line:1")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    answer = shipyard.http.post(
        invoke_url(shipyard, "line", "/api/v1.0/predict/"), json=[{"x": 10}], timeout=10
    ).json()
    assert answer["predictions"] == pytest.approx([21.0])
    service = shipyard.http.get(f"{shipyard.url}/api/v1/services/line").json()
    assert service["kind"] == "model"
    builds = shipyard.http.get(f"{shipyard.url}/api/v1/services/line/builds").json()["builds"]
    assert builds[-1]["model_version"] == "line:1"
    with pytest.raises(Unavailable):
        Client("http://127.0.0.1:9").services.list()
