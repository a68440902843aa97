"""Drift health and accuracy health: each status with its reason, told from the drift and
accuracy answers (a classification and a lower-is-better regression), then through the
API on rows folded as the supervisor folds them, with the listing's ``drift_health`` and
``accuracy_health`` filters, and the CLI's DRIFT and ACCURACY columns."""

from __future__ import annotations

import importlib
import json
import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import numpy
import pytest
from click.testing import CliRunner
from flask import Flask
from openapi_schema_validator import OAS30Validator

from shipyard.cli import cli
from shipyard.openapi.control_schemas import COMPONENTS
from shipyard.stats.drift_folding import fold_drift
from shipyard.stats.drift_profile import DriftProfile, profile_from_baseline
from shipyard.stats.drift_profiles import generation_model, load_profile, save_profile
from shipyard.stats.health import HealthStatus
from shipyard.stats.monitoring_health import (
    accuracy_health_of,
    degradation,
    drift_health_of,
    monitoring_health_of,
    recent_hours,
)
from shipyard.stats.monitoring_settings import MonitoringHealth, MonitoringSettings
from shipyard.stats.scored_row_store import keep_scored_rows
from shipyard.stats.scored_rows import ScoredCall
from tests.credentials import SigningClient

PASSING, WARNING, FAILING, UNKNOWN = (HealthStatus.PASSING, HealthStatus.WARNING,
                                      HealthStatus.FAILING, HealthStatus.UNKNOWN)
SETTINGS = MonitoringSettings()
HOUR = 3600
ONE_HOUR_AGO = int(time.time()) // HOUR * HOUR - HOUR


# -- drift, from the answers ------------------------------------------------------------


def feature(name: str, *, drifted: bool = False, psi: float = 0.01,
            importance: float | None = 0.1) -> dict[str, Any]:
    return {"name": name, "drifted": drifted, "psi": psi, "importance": importance}


def drift(rows: int = 500, *features: dict[str, Any],
          target: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A ``ServiceDrift.features`` and ``target`` answer."""
    return ({"rows": rows, "too_small": rows < 100, "features": list(features)},
            {"rows": rows, "target": target})


def test_drift_is_unknown_without_enough_rows_and_says_how_many() -> None:
    health = drift_health_of(*drift(0), SETTINGS)
    assert health.to_dict() == {"status": "unknown", "window_hours": 24,
                                "reasons": ["no scored rows in the last 24 hours"]}
    few = drift_health_of(*drift(57, feature("a", drifted=True, importance=0.9)),
                          replace(SETTINGS, health=MonitoringHealth(window_hours=1)))
    assert (few.status, few.reasons, few.window_hours) == (
        UNKNOWN, ("57 scored rows in the last hour, fewer than min_rows (100)",), 1)


def test_drift_passes_when_nothing_drifted() -> None:
    health = drift_health_of(*drift(500, feature("a"), feature("b", importance=None),
                                    target=feature("prediction", importance=None)), SETTINGS)
    assert (health.status, health.reasons) == (PASSING, ())


def test_an_unimportant_or_unrated_feature_that_drifted_warns() -> None:
    health = drift_health_of(*drift(
        500, feature("sepal_width", drifted=True, psi=0.314, importance=0.05),
        feature("color", drifted=True, psi=0.5, importance=None), feature("b"),
    ), SETTINGS)
    assert health.status == WARNING
    assert health.reasons == ("sepal_width drifted (PSI 0.31, importance 0.05)",
                              "color drifted (PSI 0.50, importance unknown)")


def test_an_important_feature_or_the_target_that_drifted_fails() -> None:
    health = drift_health_of(*drift(
        500, feature("petal_length", drifted=True, psi=1.8312, importance=0.41),
        feature("sepal_width", drifted=True, psi=0.3, importance=0.05),
    ), SETTINGS)
    assert health.status == FAILING
    assert health.reasons == ("petal_length drifted (PSI 1.83, importance 0.41)",
                              "sepal_width drifted (PSI 0.30, importance 0.05)")
    # At the threshold is important; a threshold set higher makes it a warning.
    at = drift_health_of(*drift(500, feature("a", drifted=True, importance=0.2)), SETTINGS)
    assert at.status == FAILING
    lenient = replace(SETTINGS, health=MonitoringHealth(important_feature=0.5))
    assert drift_health_of(*drift(500, feature("petal_length", drifted=True,
                                               importance=0.41)), lenient).status == WARNING
    target = drift_health_of(*drift(500, feature("a"), target=feature(
        "prediction", drifted=True, psi=0.9, importance=None)), SETTINGS)
    assert (target.status, target.reasons) == (FAILING,
                                                ("the prediction (target) drifted (PSI 0.90)",))


# -- accuracy, from the answers ---------------------------------------------------------


def profile(problem: str, baseline_accuracy: dict[str, Any] | None, *,
            predicted: bool = True) -> DriftProfile:
    baseline = [{"a": float(n)} for n in range(50)]
    found = profile_from_baseline([{"name": "a", "type": "number"}], problem, baseline)
    if not predicted:
        return found
    predictions = ([("big" if n > 25 else "small") for n in range(50)]
                   if problem == "classification" else [float(n) for n in range(50)])
    return found.with_predictions(predictions, {"a": 1.0}, baseline_accuracy)


def summary(problem: str | None, rows: int, **metrics: float | None) -> dict[str, Any]:
    """A ``ServiceAccuracy.summary`` answer."""
    if problem is None:
        return {"problem_type": None, "overall": None, "generations": []}
    names = (("accuracy", "balanced_accuracy", "precision", "recall", "f1", "auc",
              "log_loss") if problem == "classification"
             else ("rmse", "mae", "mape", "r2", "gamma_deviance"))
    return {"problem_type": problem,
            "overall": {**dict.fromkeys(names), "rows": rows, **metrics}, "generations": []}


CLASSIFIER = profile("classification", {"accuracy": 0.85, "f1": 0.8, "rows": 50})
REGRESSOR = profile("regression", {"rmse": 2.0, "mae": 0.0, "r2": 0.9, "rows": 50})


@pytest.mark.parametrize(("live", "status", "reasons"), [
    (0.84, PASSING, ()),
    (0.9, PASSING, ()),  # better than on the baseline
    (0.8075, WARNING, ("accuracy 0.807, 5.0% under 0.85 on the baseline",)),  # just 5%
    (0.78, WARNING, ("accuracy 0.78, 8.2% under 0.85 on the baseline",)),
    (0.71, FAILING, ("accuracy 0.71, 16.5% under 0.85 on the baseline",)),
])
def test_a_classification_s_accuracy_against_its_baseline(
    live: float, status: HealthStatus, reasons: tuple[str, ...]
) -> None:
    health = accuracy_health_of(summary("classification", 300, accuracy=live), CLASSIFIER,
                                SETTINGS, generation="v2")
    assert (health.status, health.reasons, health.window_hours) == (status, reasons, 24)


@pytest.mark.parametrize(("live", "status", "reasons"), [
    (1.5, PASSING, ()),  # lower is better
    (2.05, PASSING, ()),
    (2.1, WARNING, ("rmse 2.1, 5.0% over 2 on the baseline",)),
    (2.5, FAILING, ("rmse 2.5, 25.0% over 2 on the baseline",)),
])
def test_a_regression_s_rmse_against_its_baseline(
    live: float, status: HealthStatus, reasons: tuple[str, ...]
) -> None:
    health = accuracy_health_of(summary("regression", 300, rmse=live), REGRESSOR, SETTINGS)
    assert (health.status, health.reasons) == (status, reasons)


def test_the_watched_metric_its_thresholds_and_a_reference_of_zero() -> None:
    watched = replace(SETTINGS, health=MonitoringHealth(
        accuracy_metric="mae", accuracy_warning=0.2, accuracy_failing=0.5))
    # mae is 0 on the baseline: the difference itself is the degradation.
    health = accuracy_health_of(summary("regression", 300, rmse=9.0, mae=0.3), REGRESSOR,
                                watched)
    assert (health.status, health.reasons) == (WARNING, ("mae 0.3, 0.3 over 0 on the baseline",))
    r2 = replace(SETTINGS, health=MonitoringHealth(accuracy_metric="r2"))
    assert accuracy_health_of(summary("regression", 300, r2=0.8), REGRESSOR, r2).reasons == (
        "r2 0.8, 11.1% under 0.9 on the baseline",)
    assert degradation("r2", -0.6, -0.5) == pytest.approx(0.2)
    assert degradation("log_loss", 0.3, 0.2) == pytest.approx(0.5)
    assert degradation("auc", 0.9, 0.8) == pytest.approx(-0.125)
    f1 = replace(SETTINGS, health=MonitoringHealth(accuracy_metric="f1"))
    assert accuracy_health_of(summary("classification", 300, accuracy=0.1, f1=0.79),
                              CLASSIFIER, f1).status == PASSING


def test_accuracy_is_unknown_without_actuals_or_reference_and_says_which() -> None:
    def reasons(answer: dict[str, Any] | None, found: DriftProfile | None,
                settings: MonitoringSettings = SETTINGS) -> tuple[str, ...]:
        health = accuracy_health_of(answer, found, settings, generation="v3")
        assert health.status == UNKNOWN
        return health.reasons

    assert reasons(summary(None, 0), CLASSIFIER) == ("no actuals in the last 24 hours",)
    assert reasons(summary("classification", 40, accuracy=0.5), CLASSIFIER) == (
        "40 predictions with actuals in the last 24 hours, fewer than min_rows (100)",)
    assert reasons(summary("classification", 300, accuracy=0.5), None) == (
        "no reference: v3's accuracy on its baseline is taken with its drift reference, "
        "once it serves",)
    assert reasons(summary("classification", 300, accuracy=0.5),
                   profile("classification", None, predicted=False)) == (
        "no reference: v3's accuracy on its baseline is taken with its drift reference, "
        "once it serves",)
    assert reasons(summary("classification", 300, accuracy=0.5),
                   profile("classification", None)) == (
        "no reference: v3's model baseline holds no target",)
    assert reasons(summary(None, 0), None) == (
        "no actuals in the last 24 hours",
        "no reference: v3's accuracy on its baseline is taken with its drift reference, "
        "once it serves")
    auc = replace(SETTINGS, health=MonitoringHealth(accuracy_metric="auc"))
    assert reasons(summary("classification", 300, accuracy=0.5), CLASSIFIER, auc) == (
        "no reference: auc is not known on v3's baseline",)
    assert reasons(summary("classification", 300, auc=None),
                   profile("classification", {"auc": 0.9}), auc) == (
        "auc cannot be told from the actuals in the last 24 hours",)
    rmse = replace(SETTINGS, health=MonitoringHealth(accuracy_metric="rmse"))
    assert reasons(summary("classification", 300, accuracy=0.5), CLASSIFIER, rmse) == (
        "rmse is not a metric of a classification model; known: accuracy, "
        "balanced_accuracy, precision, recall, f1, auc, log_loss",)


def test_the_window_is_whole_hours_up_to_now() -> None:
    window = recent_hours(24, 10 * HOUR + 5)
    assert (window.start, window.end) == (-13 * HOUR, 11 * HOUR)
    assert recent_hours(2, 10 * HOUR).start == 8 * HOUR


# -- through the API --------------------------------------------------------------------

FEATURES = [{"name": "a", "type": "number"}, {"name": "b", "type": "number"}]
BASELINE_RNG = numpy.random.default_rng(0)
BASELINE = [{"a": float(a), "b": float(b)}
            for a, b in zip(BASELINE_RNG.normal(0, 1, 1000), BASELINE_RNG.normal(5, 1, 1000),
                            strict=True)]


def label(record: dict[str, Any]) -> str:
    return "big" if record["a"] > 0.5 else "small"


def deploy_model(app: Flask, client: SigningClient, name: str, problem: str,
                 reference: dict[str, Any] | None) -> str:
    """Model service ``name`` on ``BASELINE``, its records identified by ``order_id``, with
    its drift reference taken (importance a 0.7, b 0.3) when ``reference`` (its metrics on
    the baseline) is given; its id."""
    plane = app.extensions["shipyard"]
    plane.models.upload(name, b"model", {"features": FEATURES, "target": "y",
                                         "problem_type": problem, "baseline": BASELINE})
    plane.models.deploy(name, 1)
    changed = client.patch(f"/api/v1/services/{name}",
                           json={"monitoring": {"association_id_columns": ["order_id"]}})
    assert changed.status_code == 200, changed.get_json()
    service_id = plane.services.get(name).id
    if reference is not None:
        predictions = [label(r) if problem == "classification" else r["a"] for r in BASELINE]
        with plane.store.writing() as session:
            found = load_profile(session, service_id, "v1")
            assert found is not None
            model = generation_model(session, service_id, "v1")
            assert model is not None
            save_profile(session, service_id, "v1", model.source,
                         found.with_predictions(predictions, {"a": 0.7, "b": 0.3}, reference))
    return service_id


def serve(app: Flask, client: SigningClient, name: str, service_id: str, *, shift: float,
          wrong_every: int, count: int = 600, regression: bool = False) -> None:
    """``count`` scored rows an hour ago (the baseline's first, ``a`` shifted by
    ``shift``), folded for drift and kept for actuals, and their actuals: every
    ``wrong_every``-th one off the prediction (by 1 for a regression)."""
    rows = [{"order_id": f"{name}-{n}", "a": record["a"] + shift, "b": record["b"]}
            for n, record in enumerate(BASELINE[:count])]
    predictions = [row["a"] if regression else label(row) for row in rows]
    calls = [ScoredCall(service_id=service_id, at=ONE_HOUR_AGO + n, generation="v1",
                        status=200, request=json.dumps(rows[n:n + 50]),
                        response=json.dumps({"predictions": predictions[n:n + 50]}))
             for n in range(0, count, 50)]
    with app.extensions["shipyard"].store.writing() as session:
        fold_drift(session, calls)
        assert keep_scored_rows(session, calls) == count
    actuals = [{"association_id": row["order_id"],
                "actual_value": (predicted + 1.0 if regression else
                                 "small" if predicted == "big" else "big")
                if n % wrong_every == 0 else predicted}
               for n, (row, predicted) in enumerate(zip(rows, predictions, strict=True))]
    sent = client.post(f"/api/v1/services/{name}/actuals", json=actuals)
    assert sent.status_code == 200 and sent.get_json()["matched"] == count, sent.get_json()


@pytest.fixture
def fleet(app: Flask, client: SigningClient) -> SigningClient:
    """plain (a custom service); fresh (a model service without drift yet); steady
    (unshifted rows, 1 in 50 wrong against 0.97 on the baseline); shifted (its most
    important feature shifted, 1 in 4 wrong against 0.97); sizes (a regression, RMSE
    about 0.32 against 0.3 on the baseline)."""
    assert client.post("/api/v1/services", json={"name": "plain"}).status_code == 201
    deploy_model(app, client, "fresh", "classification", None)
    steady = deploy_model(app, client, "steady", "classification", {"accuracy": 0.97})
    serve(app, client, "steady", steady, shift=0.0, wrong_every=50)
    shifted = deploy_model(app, client, "shifted", "classification", {"accuracy": 0.97})
    serve(app, client, "shifted", shifted, shift=1.0, wrong_every=4)
    sizes = deploy_model(app, client, "sizes", "regression", {"rmse": 0.3})
    serve(app, client, "sizes", sizes, shift=0.0, wrong_every=10, regression=True)
    return client


def listing(client: SigningClient, **filters: str) -> Any:
    return client.get("/api/v1/services?" + urlencode(filters))


def statuses(client: SigningClient, key: str, **filters: str) -> dict[str, str]:
    answer = listing(client, **filters)
    assert answer.status_code == 200, answer.get_json()
    return {s["name"]: s[key]["status"] for s in answer.get_json()["services"]}


def conforms(schema: str, instance: Any) -> None:
    root = {"$ref": f"#/components/schemas/{schema}", "components": COMPONENTS}
    OAS30Validator(root).validate(instance)


def test_each_service_gets_its_drift_and_accuracy_health(fleet: SigningClient) -> None:
    assert statuses(fleet, "drift_health") == {
        "fresh": "unknown", "plain": "unknown", "shifted": "failing", "sizes": "passing",
        "steady": "passing"}
    assert statuses(fleet, "accuracy_health") == {
        "fresh": "unknown", "plain": "unknown", "shifted": "failing", "sizes": "warning",
        "steady": "passing"}
    for service in listing(fleet).get_json()["services"]:
        conforms("Service", service)
    shifted = fleet.get("/api/v1/services/shifted").get_json()
    conforms("ServiceStatus", shifted)
    reasons = shifted["drift_health"]["reasons"]
    assert reasons[0].startswith("the prediction (target) drifted (PSI ")
    assert any(r.startswith("a drifted (PSI ") and r.endswith(", importance 0.70)")
               for r in reasons), reasons
    assert shifted["drift_health"]["window_hours"] == 24
    assert shifted["accuracy_health"] == {
        "status": "failing", "window_hours": 24,
        "reasons": ["accuracy 0.75, 22.7% under 0.97 on the baseline"]}
    sizes = fleet.get("/api/v1/services/sizes").get_json()["accuracy_health"]
    assert sizes["reasons"][0].startswith("rmse 0.316, 5.4% over 0.3 on the baseline"), sizes
    fresh = fleet.get("/api/v1/services/fresh").get_json()
    assert fresh["drift_health"]["reasons"] == [
        "no drift yet: drift is kept for model services whose model has a baseline, from "
        "their first scored call"]
    assert fresh["accuracy_health"]["reasons"] == [
        "no actuals in the last 24 hours",
        "no reference: the model's accuracy on its baseline is taken with its drift "
        "reference, once it serves"]
    plain = fleet.get("/api/v1/services/plain").get_json()
    assert plain["drift_health"]["reasons"] == [
        "a custom service: drift is kept for model services"]
    assert plain["accuracy_health"]["reasons"] == [
        "a custom service: accuracy is kept for model services"]
    # A service as created or changed shows no health, as before.
    changed = fleet.patch("/api/v1/services/plain", json={"description": "changed"})
    assert not {"service_health", "drift_health", "accuracy_health"} & set(changed.get_json())


def test_a_window_with_too_few_rows_and_settings_changed_by_patch(
    app: Flask, fleet: SigningClient
) -> None:
    fleet.patch("/api/v1/services/steady", json={"monitoring": {
        "drift_thresholds": {"min_rows": 1000}, "health": {"window_hours": 48}}})
    steady = fleet.get("/api/v1/services/steady").get_json()
    assert steady["drift_health"] == {
        "status": "unknown", "window_hours": 48,
        "reasons": ["600 scored rows in the last 48 hours, fewer than min_rows (1000)"]}
    assert steady["accuracy_health"]["reasons"] == [
        "600 predictions with actuals in the last 48 hours, fewer than min_rows (1000)"]
    fleet.patch("/api/v1/services/shifted", json={"monitoring": {"health": {
        "important_feature": 0.9, "accuracy_warning": 0.2, "accuracy_failing": 0.5}}})
    shifted = fleet.get("/api/v1/services/shifted").get_json()
    assert shifted["accuracy_health"]["status"] == "warning"
    # Still failing: the prediction drifted too.
    assert shifted["drift_health"]["status"] == "failing"
    row = app.extensions["shipyard"].services.get("shifted")
    drift, accuracy = monitoring_health_of(app.extensions["shipyard"].store, row,
                                           time.time() + 30 * HOUR)
    assert drift.reasons == ("no scored rows in the last 24 hours",)
    assert accuracy.reasons == ("no actuals in the last 24 hours",)


def test_the_listing_filters_on_drift_and_accuracy_health(
    fleet: SigningClient, bob: SigningClient
) -> None:
    assert list(statuses(fleet, "drift_health", drift_health="failing")) == ["shifted"]
    assert list(statuses(fleet, "drift_health", drift_health="unknown")) == ["fresh", "plain"]
    assert list(statuses(fleet, "drift_health", drift_health="passing,failing",
                         kind="model")) == ["shifted", "sizes", "steady"]
    assert list(statuses(fleet, "accuracy_health", accuracy_health="warning,failing")) == [
        "shifted", "sizes"]
    assert list(statuses(fleet, "accuracy_health", drift_health="passing",
                         accuracy_health="passing")) == ["steady"]
    assert statuses(fleet, "accuracy_health", accuracy_health="passing",
                    service_health="passing") == {}  # none of them was called
    assert statuses(bob, "drift_health", drift_health="failing") == {}


@pytest.mark.parametrize("name", ["drift_health", "accuracy_health"])
@pytest.mark.parametrize("value", ["bad", "FAILING", "", "failing,"])
def test_an_unknown_status_is_a_400_that_names_its_filter(
    client: SigningClient, name: str, value: str
) -> None:
    answer = listing(client, **{name: value})
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["type"] == "InvalidInput"
    assert error["message"].startswith(f"unknown {name} ")
    assert "known: passing, warning, failing, unknown" in error["message"]


def test_the_listing_documents_its_filters(client: SigningClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    parameters = {p["name"] for p in document["paths"]["/api/v1/services"]["get"]["parameters"]}
    assert {"service_health", "drift_health", "accuracy_health"} <= parameters


# -- the CLI ----------------------------------------------------------------------------


class FakeServices:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.calls: list[dict[str, Any]] = []

    def list(self, **filters: Any) -> list[dict[str, Any]]:
        self.calls.append(filters)
        return self.rows


def test_the_cli_lists_drift_and_accuracy_columns_and_passes_their_filters(
    fleet: SigningClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = FakeServices(listing(fleet).get_json()["services"])

    class Client:
        pass

    client = Client()
    client.services = services  # type: ignore[attr-defined]
    module = importlib.import_module("shipyard.cli.services")
    monkeypatch.setattr(module, "client_from", lambda ctx: client)
    done = CliRunner().invoke(cli, ["services", "list", "--drift-health", "failing",
                                    "--accuracy-health", "warning,failing"])
    assert done.exit_code == 0, done.output
    assert services.calls == [{"drift_health": "failing",
                               "accuracy_health": "warning,failing"}]
    header, *lines = done.output.splitlines()
    assert header.split()[-3:] == ["DRIFT", "ACCURACY", "HEALTH"]
    assert {line.split()[0]: tuple(line.split()[-3:]) for line in lines} == {
        "fresh": ("unknown", "unknown", "unknown"),
        "plain": ("unknown", "unknown", "unknown"),
        "shifted": ("failing", "failing", "unknown"),
        "sizes": ("passing", "warning", "unknown"),
        "steady": ("passing", "passing", "unknown"),
    }
