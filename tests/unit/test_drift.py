"""Drift on the Flask test client (no process): scored rows read back from bodies, folded
into hourly rollups as the supervisor's ingest does, and asked about through the API —
on data with known shifts (a shifted mean, a changed variance, a new category) and on
unshifted data, each figure checked against a direct computation from the raw rows."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import numpy
import pytest
import requests
from flask import Flask
from scipy import stats

from shipyard.contracts.query_entries import entry_of
from shipyard.contracts.query_record import QueryRecord
from shipyard.stats.drift_folding import fold_drift
from shipyard.stats.drift_measures import PSI_SMOOTHING
from shipyard.stats.drift_profile import DriftProfile
from shipyard.stats.drift_profiles import load_profile
from shipyard.stats.scored_rows import ScoredCall, predictions_of, scored_rows
from shipyard.store import DriftProfileRow, ServiceRow
from shipyard.supervisor.drift_references import DriftReferences
from shipyard.supervisor.query_ingest import ingest_spool
from tests.credentials import SigningClient

FEATURES = [{"name": "a", "type": "number"}, {"name": "b", "type": "number"},
            {"name": "color", "type": "string"}]
COLORS = ["red", "green", "blue"]
HOUR = 3600
NOW_HOUR = int(time.time()) // HOUR * HOUR
TWO_HOURS_AGO = NOW_HOUR - 2 * HOUR
ONE_HOUR_AGO = NOW_HOUR - HOUR


def records(rng: numpy.random.Generator, count: int, *, mean: float = 0.0, spread: float = 1.0,
            colors: list[str] = COLORS) -> list[dict[str, Any]]:
    a = rng.normal(mean, 1.0, count)
    b = rng.normal(5.0, spread, count)
    picked = rng.choice(colors, count)
    return [{"a": float(x), "b": float(y), "color": str(c)}
            for x, y, c in zip(a, b, picked, strict=True)]


BASELINE = records(numpy.random.default_rng(0), 2000)


def label(record: dict[str, Any]) -> str:
    a = record.get("a")
    return "big" if isinstance(a, float) and a > 0.5 else "small"


@pytest.fixture
def service(app: Flask) -> str:
    """Model ``flowers`` v1 (2,000 baseline records, N(0, 1), N(5, 1) and three colors)
    deployed as service ``flowers``; its id."""
    models = app.extensions["shipyard"].models
    models.upload("flowers", b"model", {"features": FEATURES, "target": "size",
                                        "problem_type": "classification",
                                        "baseline": BASELINE})
    models.deploy("flowers", 1)
    return app.extensions["shipyard"].services.get("flowers").id


def call(service_id: str, at: float, rows: list[dict[str, Any]], *, generation: str = "v1",
         status: int = 200, challenger: str | None = None) -> ScoredCall:
    answer = json.dumps({"predictions": [label(row) for row in rows]})
    return ScoredCall(service_id=service_id, at=at, generation=generation, status=status,
                      request=json.dumps(rows), response=answer,
                      challenger_generation=challenger,
                      challenger_status=200 if challenger else None,
                      challenger_response=answer if challenger else None)


def fold(app: Flask, calls: list[ScoredCall]) -> None:
    with app.extensions["shipyard"].store.writing() as session:
        fold_drift(session, calls)


def batches(service_id: str, at: float, rows: list[dict[str, Any]], size: int = 50,
            **options: Any) -> list[ScoredCall]:
    return [call(service_id, at + n, rows[n:n + size], **options)
            for n in range(0, len(rows), size)]


def get(client: SigningClient, path: str, **params: str) -> Any:
    answer = client.get(path + ("?" + urlencode(params) if params else ""))
    return answer


def take_reference(app: Flask, service_id: str) -> None:
    """The supervisor's drift reference, with the instance's predictions made here."""

    def post(url: str, sent: list[dict[str, Any]], _timeout: float) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        if url.endswith("/feature-importance/"):
            response._content = json.dumps(
                {"importance": {"a": 0.7, "b": 0.2, "color": 0.1}}).encode()
        else:
            response._content = json.dumps(
                {"predictions": [label(record) for record in sent]}).encode()
        return response

    store = app.extensions["shipyard"].store
    with store.reading() as session:
        generation_id = session.get_one(ServiceRow, service_id).target_generation_id
    assert DriftReferences(post=post).take(store, service_id, generation_id, ("127.0.0.1", 1))


def profile_of(app: Flask, service_id: str) -> DriftProfile:
    with app.extensions["shipyard"].store.writing() as session:
        found = load_profile(session, service_id, "v1")
    assert found is not None
    return found


def direct_counts(profile: DriftProfile, name: str, values: list[Any]) -> numpy.ndarray:
    slot = profile.slot(name)
    assert slot is not None
    counts = numpy.zeros(slot.bins.size, dtype=int)
    for value in values:
        counts[slot.bins.index(value)] += 1
    return counts


def direct_psi(reference: numpy.ndarray, current: numpy.ndarray) -> float:
    p = numpy.where(reference > 0, reference / reference.sum(), PSI_SMOOTHING)
    q = numpy.where(current > 0, current / current.sum(), PSI_SMOOTHING)
    return float(numpy.sum((q - p) * numpy.log(q / p)))


# -- reading scored rows ------------------------------------------------------------------

def test_rows_are_read_from_records_columns_and_csv_with_or_without_a_header() -> None:
    expected = {"a": [1.0, 3.0], "b": [2.0, 4.0], "color": ["red", "blue"]}
    sent = [{"a": 1.0, "b": 2.0, "color": "red"}, {"a": 3.0, "b": 4.0, "color": "blue"}]
    assert scored_rows(json.dumps(sent), FEATURES).columns == expected
    split = {"columns": ["color", "b", "a"], "data": [["red", 2.0, 1.0], ["blue", 4.0, 3.0]]}
    assert scored_rows(json.dumps(split), FEATURES).columns == expected
    assert scored_rows("color,a,b\nred,1,2\nblue,3,4\n", FEATURES).columns == expected
    headless = scored_rows("1,2,red\n3,4,blue\n", FEATURES)
    assert headless is not None and (headless.columns, headless.count) == (expected, 2)


def test_csv_cells_are_read_as_the_model_reads_them_whole_columns_or_cell_by_cell() -> None:
    # Whole number columns are read at once; a column with a cell that is no number, or
    # a line that is short, cell by cell: both read each cell alike.
    clean = scored_rows("a,b,color\n 1 ,2.5, red\n3,1e3,blue\n", FEATURES)
    assert clean is not None
    assert clean.columns == {"a": [1.0, 3.0], "b": [2.5, 1000.0], "color": ["red", "blue"]}
    mixed = scored_rows("a,b,color\n1,x,red\n,4\n5,6,green,extra\n", FEATURES)
    assert mixed is not None and mixed.count == 3
    assert mixed.columns == {"a": [1.0, None, 5.0], "b": [None, 4.0, 6.0],
                             "color": ["red", None, "green"]}


def test_values_of_the_wrong_type_stay_rows_and_unreadable_bodies_are_none() -> None:
    rows = scored_rows(json.dumps([{"a": "x"}, {"b": 1}]), FEATURES)
    assert rows is not None and rows.count == 2
    assert rows.columns["a"] == ["x", None]
    for body in (None, "", '{"a": 1', json.dumps([1, 2]), json.dumps({"columns": 1}), "7"):
        assert scored_rows(body, FEATURES) is None, body
    assert predictions_of('{"predictions": [1, 2]}', 2) == [1, 2]
    assert predictions_of('{"predictions": [1]}', 2) is None
    assert predictions_of("not json", 1) is None


def test_only_calls_to_the_predict_route_are_scored() -> None:
    def at(path: str) -> ScoredCall:
        return ScoredCall(service_id="s", at=0.0, generation="v1", status=200, request=None,
                          response=None, path=path)

    predict = "/api/v1.0/predict/"
    assert at("/user-services/invoke/iris/api/v1.0/predict/").scores_at(predict)
    assert at("/user-services/invoke/svc_1/api/v1.0/predict/?explain=1").scores_at(predict)
    assert at("/api/v1.0/predict/").scores_at(predict)
    assert at("").scores_at(predict)  # a path not known: the route itself
    for other in ("/user-services/invoke/iris/api/v1.0/health/status/",
                  "/user-services/invoke/iris/_shipyard/health", "/predict"):
        assert not at(other).scores_at(predict), other


# -- folding and asking -------------------------------------------------------------------

def test_unshifted_data_is_not_flagged_and_counts_match_the_raw_rows(
    app: Flask, client: SigningClient, service: str
) -> None:
    live = records(numpy.random.default_rng(1), 1500)
    fold(app, batches(service, ONE_HOUR_AGO, live))
    answer = get(client, "/api/v1/services/flowers/drift/features", start="3h")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (body["rows"], body["data_errors"], body["drifted"]) == (1500, 0, 0)
    assert body["generations"] == ["v1"] and not body["too_small"]
    profile = profile_of(app, service)
    for feature in body["features"]:
        assert not feature["drifted"], feature
        assert feature["psi"] < 0.05 and feature["p_value"] > 0.01
        reference = direct_counts(profile, feature["name"],
                                  [r[feature["name"]] for r in BASELINE])
        current = direct_counts(profile, feature["name"], [r[feature["name"]] for r in live])
        assert feature["psi"] == pytest.approx(direct_psi(reference, current))
        assert (feature["reference_rows"], feature["current_rows"]) == (2000, 1500)
    distribution = get(client, "/api/v1/services/flowers/drift/distribution", start="3h",
                       feature="color").get_json()
    assert distribution["bins"] == ["blue", "green", "red", "other", "missing"]
    assert distribution["current"]["counts"] == direct_counts(
        profile, "color", [r["color"] for r in live]).tolist()


def test_a_shifted_mean_a_changed_variance_and_a_new_category_are_flagged(
    app: Flask, client: SigningClient, service: str
) -> None:
    live = records(numpy.random.default_rng(2), 1500, mean=0.8, spread=2.5,
                   colors=[*COLORS, "purple"])
    fold(app, batches(service, ONE_HOUR_AGO, live))
    body = get(client, "/api/v1/services/flowers/drift/features", start="3h").get_json()
    by_name = {feature["name"]: feature for feature in body["features"]}
    assert body["drifted"] == 3 and all(f["drifted"] for f in body["features"])
    # The KS statistic on the baseline's 20 quantile bins is at most the exact one, and
    # off from it by no more than the mass of one bin on either side.
    exact = stats.ks_2samp([r["a"] for r in BASELINE], [r["a"] for r in live])
    assert exact.statistic - 0.1 <= by_name["a"]["statistic"] <= exact.statistic + 1e-9
    assert by_name["a"]["test"] == "ks" and by_name["a"]["p_value"] < 1e-6
    assert by_name["a"]["wasserstein"] == pytest.approx(0.8, abs=0.1)
    assert by_name["b"]["psi"] > 0.2
    profile = profile_of(app, service)
    reference = direct_counts(profile, "color", [r["color"] for r in BASELINE])
    current = direct_counts(profile, "color", [r["color"] for r in live])
    assert current[3] == sum(r["color"] == "purple" for r in live)  # "other"
    table = numpy.vstack([reference, current])
    expected = stats.chi2_contingency(table[:, table.sum(axis=0) > 0], correction=False)
    assert by_name["color"]["test"] == "chi2"
    assert by_name["color"]["statistic"] == pytest.approx(expected.statistic)
    assert by_name["color"]["p_value"] == pytest.approx(expected.pvalue, abs=1e-12)
    psis = [f["psi"] for f in body["features"]]
    assert psis == sorted(psis, reverse=True)  # most drifted first
    by_p = get(client, "/api/v1/services/flowers/drift/features", start="3h",
               metric="p_value").get_json()["features"]
    assert [f["p_value"] for f in by_p] == sorted(f["p_value"] for f in by_p)


def test_target_drift_and_importance_come_with_the_reference_the_instance_gives(
    app: Flask, client: SigningClient, service: str
) -> None:
    before = get(client, "/api/v1/services/flowers/drift/target", start="3h")
    assert before.status_code == 404  # no profile before the first call or reference
    take_reference(app, service)
    live = records(numpy.random.default_rng(3), 600, mean=1.0)
    fold(app, batches(service, ONE_HOUR_AGO, live))
    target = get(client, "/api/v1/services/flowers/drift/target", start="3h").get_json()
    entry = target["target"]
    assert entry["name"] == "prediction" and entry["test"] == "chi2" and entry["drifted"]
    assert (entry["reference_rows"], entry["current_rows"]) == (2000, 600)
    features = get(client, "/api/v1/services/flowers/drift/features", start="3h").get_json()
    assert {f["name"]: f["importance"] for f in features["features"]} == {
        "a": 0.7, "b": 0.2, "color": 0.1}


def test_a_window_with_few_rows_is_too_small_and_never_flagged(
    app: Flask, client: SigningClient, service: str
) -> None:
    live = records(numpy.random.default_rng(4), 40, mean=3.0)
    fold(app, batches(service, ONE_HOUR_AGO, live))
    body = get(client, "/api/v1/services/flowers/drift/features", start="3h").get_json()
    assert body["too_small"] and body["drifted"] == 0
    assert all(f["too_small"] and not f["drifted"] for f in body["features"])


def test_drift_over_time_judges_each_bucket_and_the_challenger_apart(
    app: Flask, client: SigningClient, service: str
) -> None:
    rng = numpy.random.default_rng(5)
    fold(app, batches(service, TWO_HOURS_AGO, records(rng, 500)))
    fold(app, batches(service, ONE_HOUR_AGO, records(rng, 500, mean=1.5), challenger="v1"))
    answer = get(client, "/api/v1/services/flowers/drift/over-time", start="3h",
                 feature="a", bucket_size="PT1H")
    assert answer.status_code == 200, answer.get_json()
    series = answer.get_json()["series"]
    drifted = {bucket["start"]: bucket["drifted"] for bucket in series
               if bucket["current_rows"]}
    assert list(drifted.values()) == [False, True]
    challenger = get(client, "/api/v1/services/flowers/drift/features", start="3h",
                     role="challenger").get_json()
    assert challenger["rows"] == 500 and challenger["role"] == "challenger"


def test_unreadable_calls_are_data_errors_and_refused_calls_are_not_rows(
    app: Flask, client: SigningClient, service: str
) -> None:
    good = records(numpy.random.default_rng(6), 10)
    odd = [{"a": "tall", "b": 5.0, "color": "red"}, {"b": 5.0, "color": 7},
           {"a": 0.0, "b": 5.0, "color": "red"}]
    fold(app, [
        call(service, ONE_HOUR_AGO, good),
        call(service, ONE_HOUR_AGO + 1, good, status=400),
        ScoredCall(service_id=service, at=ONE_HOUR_AGO + 2, generation="v1", status=200,
                   request='[{"a": 1.0, "b":', response=None),
        call(service, ONE_HOUR_AGO + 3, odd),
    ])
    body = get(client, "/api/v1/services/flowers/drift/features", start="3h").get_json()
    # The cut body, and the two rows with a feature missing or of the wrong type.
    assert (body["rows"], body["data_errors"]) == (13, 3)
    distribution = get(client, "/api/v1/services/flowers/drift/distribution", start="3h",
                       feature="color").get_json()
    assert distribution["current"]["counts"][-1] == 1  # the 7, in "missing"


def test_settings_change_what_is_counted_and_flagged_from_the_next_call(
    app: Flask, client: SigningClient, service: str
) -> None:
    rng = numpy.random.default_rng(7)
    changed = client.patch("/api/v1/services/flowers", json={
        "monitoring": {"drift_thresholds": {"psi": 50, "js_distance": 1, "p_value": 0}}})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["monitoring"]["drift_thresholds"]["psi"] == 50.0
    fold(app, batches(service, ONE_HOUR_AGO, records(rng, 500, mean=2.0)))
    body = get(client, "/api/v1/services/flowers/drift/features", start="3h").get_json()
    assert body["drifted"] == 0 and body["thresholds"]["psi"] == 50.0
    client.patch("/api/v1/services/flowers", json={"monitoring": {"feature_drift": False,
                                                                  "drift_thresholds": None}})
    fold(app, batches(service, ONE_HOUR_AGO, records(rng, 500, mean=2.0)))
    body = get(client, "/api/v1/services/flowers/drift/features", start="3h").get_json()
    assert body["rows"] == 1000  # rows still counted, their features no longer
    assert {f["current_rows"] for f in body["features"]} == {500}
    assert [f["name"] for f in body["features"] if f["drifted"]] == ["a"]
    bad = client.patch("/api/v1/services/flowers", json={"monitoring": {"feature_drift": 1}})
    assert bad.status_code == 400
    assert "monitoring.feature_drift must be true or false" in bad.get_json()["error"]["message"]
    unknown = client.patch("/api/v1/services/flowers", json={"monitoring": {"psi": 1}})
    assert "unknown monitoring key(s) ['psi']" in unknown.get_json()["error"]["message"]


@pytest.mark.parametrize(("path", "params", "status", "message"), [
    ("features", {"metric": "size"}, 400, "unknown metric 'size'"),
    ("features", {"color": "red"}, 400, "unknown parameter(s) ['color']"),
    ("features", {"generation": "v9"}, 404, "generation 'v9' has no drift profile"),
    ("features", {"role": "shadow"}, 400, "unknown role 'shadow'"),
    ("over-time", {}, 400, "give feature"),
    ("over-time", {"feature": "a", "bucket_size": "PT30M"}, 400, "whole hours"),
    ("distribution", {"feature": "height"}, 404, "unknown feature 'height'"),
])
def test_bad_questions_name_the_problem(
    app: Flask, client: SigningClient, service: str, path: str, params: dict[str, str],
    status: int, message: str
) -> None:
    fold(app, batches(service, ONE_HOUR_AGO, records(numpy.random.default_rng(8), 10)))
    answer = get(client, f"/api/v1/services/flowers/drift/{path}", **params)
    assert answer.status_code == status, answer.get_json()
    assert message in answer.get_json()["error"]["message"]


def test_a_service_without_a_model_has_no_drift(client: SigningClient) -> None:
    assert client.post("/api/v1/services", json={"name": "plain"}).status_code == 201
    answer = get(client, "/api/v1/services/plain/drift/features")
    assert answer.status_code == 404
    assert "no drift yet" in answer.get_json()["error"]["message"]


# -- from the gateway's record to the rollups ---------------------------------------------

def test_a_monitored_call_is_folded_and_stored_without_the_bodies_it_does_not_keep(
    app: Flask, client: SigningClient, service: str, tmp_path: Any
) -> None:
    rows = records(numpy.random.default_rng(9), 5)
    request = json.dumps(rows).encode()
    answer = json.dumps({"predictions": [label(r) for r in rows]}).encode()
    lines = []
    for number, keep in enumerate((False, True)):
        record = QueryRecord(
            at=ONE_HOUR_AGO + number, request_id=f"r{number}", service_id=service,
            generation="v1", method="POST", path="/api/v1.0/predict/", status=200,
            latency_ms=3.0, request_bytes=len(request), response_bytes=len(answer),
            keep_bodies=keep, monitored=True, request_body=request, response_body=answer)
        entry = entry_of(record)
        assert entry["monitored"] is True and entry.get("bodies_kept") is (None if keep else False)
        lines.append(json.dumps(entry) + "\n")
    (tmp_path / "calls.jsonl").write_text("".join(lines))
    store = app.extensions["shipyard"].store
    assert ingest_spool(store, tmp_path) == 2
    logged = client.get("/api/v1/services/flowers/queries?since=1d")
    assert logged.status_code == 200
    kept = {entry["request_id"]: entry["request_body"]
            for entry in map(json.loads, logged.get_data(as_text=True).splitlines())}
    assert kept == {"r0": None, "r1": request.decode()}
    body = get(client, "/api/v1/services/flowers/drift/features", start="3h").get_json()
    assert body["rows"] == 10
    with store.reading() as session:
        assert session.get(DriftProfileRow, (service, "v1")) is not None


def test_association_columns_are_settings_the_routing_table_carries(
    app: Flask, client: SigningClient, service: str
) -> None:
    from shipyard.supervisor.routing import routing_table

    changed = client.patch("/api/v1/services/flowers", json={"monitoring": {
        "association_id_columns": ["order_id"], "required_in_prediction_requests": True}})
    assert changed.status_code == 200, changed.get_json()
    monitoring = changed.get_json()["monitoring"]
    assert (monitoring["association_id_columns"],
            monitoring["required_in_prediction_requests"]) == (["order_id"], True)
    with app.extensions["shipyard"].store.reading() as session:
        route = routing_table(session).services[service]
    assert (route.monitored, route.association_columns, route.association_required) == (
        True, ("order_id",), True)
    for patch, message in (
        ({"association_id_columns": None}, "required_in_prediction_requests needs"),
        ({"association_id_columns": ["a,b"]}, "'a,b' is not a column name"),
        ({"association_id_columns": ["x", "x"]}, "names a column twice"),
        ({"association_id_columns": "x"}, "must be a list"),
    ):
        answer = client.patch("/api/v1/services/flowers", json={"monitoring": patch})
        assert answer.status_code == 400 and message in answer.get_json()["error"]["message"]
    kept = client.get("/api/v1/services/flowers").get_json()["monitoring"]
    assert kept["association_id_columns"] == ["order_id"]  # a refused change loses nothing


def test_prediction_warnings_are_settings_the_routing_table_carries(
    app: Flask, client: SigningClient, service: str
) -> None:
    from shipyard.supervisor.routing import routing_table

    def boundaries() -> str:
        with app.extensions["shipyard"].store.reading() as session:
            return routing_table(session).services[service].warning_boundaries

    assert boundaries() == ""  # off by default
    changed = client.patch("/api/v1/services/flowers", json={"monitoring": {
        "prediction_warnings": {"enabled": True, "upper": 12.5, "min_confidence": 0.7}}})
    assert changed.status_code == 200, changed.get_json()
    assert boundaries() == "margin=0.1;min_confidence=0.7;inputs=1;upper=12.5"
    for patch, message in (
        ({"lower": 20}, "lower (20) must be under upper (12.5)"),
        ({"margin": -1}, "prediction_warnings.margin must be"),
        ({"loud": True}, "unknown monitoring.prediction_warnings key(s) ['loud']"),
    ):
        answer = client.patch("/api/v1/services/flowers",
                              json={"monitoring": {"prediction_warnings": patch}})
        assert answer.status_code == 400 and message in answer.get_json()["error"]["message"]
    reset = client.patch("/api/v1/services/flowers",
                         json={"monitoring": {"prediction_warnings": {"upper": None}}})
    assert reset.get_json()["monitoring"]["prediction_warnings"]["upper"] is None


def test_a_new_model_version_keeps_the_service_s_monitoring_settings(
    app: Flask, client: SigningClient, service: str
) -> None:
    settings = {"association_id_columns": ["order_id"], "feature_drift": False,
                "prediction_warnings": {"enabled": True, "min_confidence": 0.8}}
    assert client.patch("/api/v1/services/flowers",
                        json={"monitoring": settings}).status_code == 200
    before = client.get("/api/v1/services/flowers").get_json()["monitoring"]
    models = app.extensions["shipyard"].models
    models.upload("flowers", b"retrained", {"features": FEATURES, "target": "size",
                                            "problem_type": "classification",
                                            "baseline": BASELINE})
    _, generation = models.deploy("flowers", 2)
    assert generation.tag == "v2"
    assert client.get("/api/v1/services/flowers").get_json()["monitoring"] == before


def test_the_cli_changes_monitoring_settings_through_the_api(
    client: SigningClient, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib
    from types import SimpleNamespace

    from click.testing import CliRunner

    from shipyard.cli import cli

    def update(ref: str, changes: dict[str, Any]) -> dict[str, Any]:
        answer = client.patch(f"/api/v1/services/{ref}", json=changes)
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()

    fake = SimpleNamespace(services=SimpleNamespace(update=update))
    monkeypatch.setattr(importlib.import_module("shipyard.cli.services"), "client_from",
                        lambda ctx: fake)
    done = CliRunner().invoke(cli, [
        "services", "update", "flowers", "--monitoring", "feature_drift=false",
        "--monitoring", "association_id_columns=order_id,customer",
        "--monitoring", "prediction_warnings.enabled=true",
        "--monitoring", "prediction_warnings.upper=500", "--monitoring", "health.window_hours=48",
        "--monitoring", "health.accuracy_metric=f1"])
    assert done.exit_code == 0, done.output
    assert 'association_id_columns: ["order_id", "customer"]' in done.output
    monitoring = client.get("/api/v1/services/flowers").get_json()["monitoring"]
    assert (monitoring["feature_drift"], monitoring["prediction_warnings"]["upper"],
            monitoring["health"]["window_hours"], monitoring["health"]["accuracy_metric"]) == (
        False, 500.0, 48, "f1")
    back = CliRunner().invoke(cli, ["services", "update", "flowers", "--monitoring",
                                    "feature_drift=default"])
    assert back.exit_code == 0, back.output
    assert client.get("/api/v1/services/flowers").get_json()["monitoring"]["feature_drift"]
    bad = CliRunner().invoke(cli, ["services", "update", "flowers", "--monitoring", "psi"])
    assert bad.exit_code == 2 and "is not KEY=VALUE" in bad.output
