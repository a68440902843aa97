"""Actuals and accuracy on the Flask test client (no process): scored rows kept by their
association id as the supervisor's ingest keeps them, actuals sent through the API, and
the accuracy of main and challenger checked against scikit-learn on the joined rows."""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import urlencode

import numpy
import pytest
from flask import Flask
from sklearn import metrics
from sqlalchemy import select

from shipyard.errors import InvalidInput
from shipyard.stats.actuals import Actual, parse_actuals
from shipyard.stats.scored_row_store import keep_scored_rows
from shipyard.stats.scored_rows import ScoredCall
from shipyard.store import ActualRow
from shipyard.store.upserts import upsert, upsert_rows
from tests.credentials import SigningClient

FEATURES = [{"name": "a", "type": "number"}, {"name": "b", "type": "number"}]
CLASSES = ["big", "small"]
HOUR = 3600
ONE_HOUR_AGO = int(time.time()) // HOUR * HOUR - HOUR
TWO_HOURS_AGO = ONE_HOUR_AGO - HOUR


@pytest.fixture
def flowers(app: Flask, client: SigningClient) -> str:
    """Classification model ``flowers`` deployed as service ``flowers`` (v1 and v2), whose
    records carry their id in ``order_id``; its service id."""
    return _deploy(app, client, "flowers", "classification")


@pytest.fixture
def sizes(app: Flask, client: SigningClient) -> str:
    return _deploy(app, client, "sizes", "regression")


def _deploy(app: Flask, client: SigningClient, name: str, problem: str) -> str:
    models = app.extensions["shipyard"].models
    baseline = [{"a": float(n), "b": float(n % 7)} for n in range(50)]
    for content in (b"model", b"retrained"):  # v1, and v2 to be its challenger
        version = models.upload(name, content, {"features": FEATURES, "target": "y",
                                                "problem_type": problem, "baseline": baseline})
        models.deploy(name, version.version)
    changed = client.patch(f"/api/v1/services/{name}",
                           json={"monitoring": {"association_id_columns": ["order_id"]}})
    assert changed.status_code == 200, changed.get_json()
    return app.extensions["shipyard"].services.get(name).id


def scored_call(service_id: str, at: float, ids: list[Any], predictions: list[Any], *,
                probabilities: list[list[float]] | None = None,
                challenger: list[Any] | None = None) -> ScoredCall:
    records = [{"order_id": ident, "a": 1.0, "b": 2.0} for ident in ids]
    answer: dict[str, Any] = {"predictions": predictions}
    if probabilities is not None:
        answer.update(probabilities=probabilities, classes=CLASSES)
    return ScoredCall(
        service_id=service_id, at=at, generation="v1", status=200,
        request=json.dumps(records), response=json.dumps(answer),
        challenger_generation="v2" if challenger else None,
        challenger_status=200 if challenger else None,
        challenger_response=json.dumps({"predictions": challenger}) if challenger else None)


def keep(app: Flask, calls: list[ScoredCall]) -> int:
    with app.extensions["shipyard"].store.writing() as session:
        return keep_scored_rows(session, calls)


def send(client: SigningClient, service: str, body: Any, content_type: str | None = None):
    if content_type is None:
        return client.post(f"/api/v1/services/{service}/actuals", json=body)
    return client.post(f"/api/v1/services/{service}/actuals", data=body,
                       content_type=content_type)


def accuracy(client: SigningClient, service: str, **params: str) -> dict[str, Any]:
    answer = client.get(f"/api/v1/services/{service}/accuracy?" + urlencode(
        {"start": "3h", **params}))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def classification_traffic(app: Flask, service_id: str, count: int = 300
                           ) -> tuple[list[str], list[str], list[list[float]], list[str]]:
    """``count`` rows in calls of 20, each with an id, a prediction and probabilities, and
    a challenger's prediction; what was predicted, by id order."""
    rng = numpy.random.default_rng(11)
    ids = [f"order-{n}" for n in range(count)]
    big = rng.random(count)
    probabilities = [[float(p), float(1 - p)] for p in big]
    predicted = [CLASSES[0] if p >= 0.5 else CLASSES[1] for p in big]
    challenger = [CLASSES[int(rng.random() < 0.5)] for _ in range(count)]
    calls = [scored_call(service_id, ONE_HOUR_AGO + n, ids[n:n + 20], predicted[n:n + 20],
                         probabilities=probabilities[n:n + 20], challenger=challenger[n:n + 20])
             for n in range(0, count, 20)]
    assert keep(app, calls) == count
    return ids, predicted, probabilities, challenger


def test_actuals_join_by_id_and_accuracy_agrees_with_scikit_learn(
    app: Flask, client: SigningClient, flowers: str
) -> None:
    ids, predicted, probabilities, challenger = classification_traffic(app, flowers)
    rng = numpy.random.default_rng(12)
    actual = [p if rng.random() < 0.8 else CLASSES[1 - CLASSES.index(p)] for p in predicted]
    sent = [{"association_id": ident, "actual_value": value}
            for ident, value in zip(ids[:250], actual[:250], strict=True)]
    sent.append({"association_id": "order-unknown", "actual_value": "big"})
    answer = send(client, "flowers", sent)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"received": 251, "matched": 250, "unmatched": 1, "updated": 0}

    body = accuracy(client, "flowers")
    assert body["problem_type"] == "classification"
    main = next(g for g in body["generations"] if g["role"] == "main")
    truth, guess = actual[:250], predicted[:250]
    assert main["rows"] == 250 and body["overall"]["rows"] == 250
    assert main["accuracy"] == metrics.accuracy_score(truth, guess)
    assert main["balanced_accuracy"] == pytest.approx(
        metrics.balanced_accuracy_score(truth, guess), rel=1e-12)
    assert main["f1"] == pytest.approx(
        metrics.f1_score(truth, guess, pos_label=main["positive_class"]), rel=1e-12)
    assert main["confusion_matrix"]["matrix"] == metrics.confusion_matrix(
        truth, guess, labels=main["confusion_matrix"]["labels"]).tolist()
    positive = CLASSES.index(main["positive_class"])
    expected_auc = metrics.roc_auc_score(
        [t == main["positive_class"] for t in truth], [p[positive] for p in probabilities[:250]])
    assert main["auc"] == pytest.approx(expected_auc, abs=1e-3)
    assert main["log_loss"] == pytest.approx(
        metrics.log_loss(truth, probabilities[:250], labels=CLASSES), rel=1e-3)
    shadow = next(g for g in body["generations"] if g["role"] == "challenger")
    assert (shadow["generation"], shadow["rows"]) == ("v2", 250)
    assert shadow["accuracy"] == metrics.accuracy_score(truth, challenger[:250])


def test_a_resend_corrects_and_never_doubles_and_csv_reads_like_json(
    app: Flask, client: SigningClient, flowers: str
) -> None:
    ids, predicted, _, _ = classification_traffic(app, flowers, 40)
    assert send(client, "flowers", [{"association_id": i, "actual_value": "big"}
                                    for i in ids]).status_code == 200
    csv = "association_id,actual_value,timestamp,was_acted_on\n" + "".join(
        f"{ident},{value},{'2026-12-01T10:00:00Z' if n % 2 else '1764583200'},true\n"
        for n, (ident, value) in enumerate(zip(ids, predicted, strict=True)))
    again = send(client, "flowers", csv, "text/csv")
    assert again.status_code == 200, again.get_json()
    assert again.get_json() == {"received": 40, "matched": 40, "unmatched": 0, "updated": 40}
    body = accuracy(client, "flowers")
    assert (body["overall"]["rows"], body["overall"]["accuracy"]) == (40, 1.0)


def test_a_prediction_logged_after_its_actual_still_counts(
    app: Flask, client: SigningClient, flowers: str
) -> None:
    early = send(client, "flowers", [{"association_id": "late-1", "actual_value": "big"}])
    assert early.get_json()["unmatched"] == 1
    keep(app, [scored_call(flowers, ONE_HOUR_AGO, ["late-1"], ["small"])])
    body = accuracy(client, "flowers")
    assert (body["overall"]["rows"], body["overall"]["accuracy"]) == (1, 0.0)
    # Scored again under the same id: the new prediction replaces the first.
    keep(app, [scored_call(flowers, TWO_HOURS_AGO, ["late-1"], ["big"])])
    body = accuracy(client, "flowers")
    assert (body["overall"]["rows"], body["overall"]["accuracy"]) == (1, 1.0)


def test_regression_accuracy_and_over_time(
    app: Flask, client: SigningClient, sizes: str
) -> None:
    predicted = [1.0, 2.5, 3.0, 4.0, 7.5, 6.0]
    actual = [1.5, 2.0, 3.5, 4.0, 7.0, 5.0]
    ids = [f"s{n}" for n in range(6)]
    keep(app, [scored_call(sizes, TWO_HOURS_AGO, ids[:3], predicted[:3]),
               scored_call(sizes, ONE_HOUR_AGO, ids[3:], predicted[3:])])
    csv = "association_id,actual_value\n" + "".join(
        f"{i},{v}\n" for i, v in zip(ids, actual, strict=True))
    assert send(client, "sizes", csv, "text/csv").get_json()["matched"] == 6
    overall = accuracy(client, "sizes")["overall"]
    assert overall["rmse"] == pytest.approx(
        metrics.root_mean_squared_error(actual, predicted), rel=1e-9)
    assert overall["mae"] == pytest.approx(metrics.mean_absolute_error(actual, predicted))
    assert overall["mape"] == pytest.approx(
        metrics.mean_absolute_percentage_error(actual, predicted))
    assert overall["r2"] == pytest.approx(metrics.r2_score(actual, predicted))
    assert overall["gamma_deviance"] == pytest.approx(
        metrics.mean_gamma_deviance(actual, predicted))
    answer = client.get("/api/v1/services/sizes/accuracy/over-time?" + urlencode(
        {"start": "3h", "bucket_size": "PT1H", "metric": "rmse,mae"}))
    assert answer.status_code == 200, answer.get_json()
    (series,) = answer.get_json()["series"]
    filled = [bucket for bucket in series["buckets"] if bucket["rows"]]
    assert [bucket["rows"] for bucket in filled] == [3, 3]
    assert filled[0]["mae"] == pytest.approx(
        metrics.mean_absolute_error(actual[:3], predicted[:3]))
    assert set(filled[0]) == {"start", "end", "rows", "rmse", "mae"}


@pytest.mark.parametrize(("body", "content_type", "status", "message"), [
    ([{"association_id": "x", "actual_value": "big"}] * 2, None, 400,
     "row 2: association_id 'x' was sent already in row 1"),
    ([{"association_id": "x"}], None, 400, "row 1 lacks actual_value"),
    ([{"association_id": None, "actual_value": 1}], None, 400, "row 1: association_id must"),
    ([{"association_id": "x", "actual_value": {"a": 1}}], None, 400,
     "row 1: actual_value must be a class label"),
    ([{"association_id": "x", "actual_value": 1, "color": 2}], None, 400,
     "row 1 has unknown field(s) ['color']"),
    ([{"association_id": "x", "actual_value": 1, "timestamp": "noon"}], None, 400,
     "row 1: timestamp must be ISO 8601"),
    ("id,value\nx,1\n", "text/csv", 400,
     "the CSV header lacks the column(s) association_id, actual_value"),
    ({"association_id": "x"}, None, 400, "actuals must be a JSON list"),
    ([], None, 400, "the upload holds no actuals"),
])
def test_bad_uploads_name_the_problem_and_store_nothing(
    app: Flask, client: SigningClient, flowers: str, body: Any, content_type: str | None,
    status: int, message: str
) -> None:
    keep(app, [scored_call(flowers, ONE_HOUR_AGO, ["x"], ["big"])])
    answer = send(client, "flowers", body, content_type)
    assert answer.status_code == status, answer.get_json()
    assert message in answer.get_json()["error"]["message"]
    assert accuracy(client, "flowers")["overall"] is None


def test_a_regression_refuses_an_actual_that_is_not_a_number(
    client: SigningClient, sizes: str
) -> None:
    answer = send(client, "sizes", "association_id,actual_value\ns1,tall\n", "text/csv")
    assert answer.status_code == 400
    assert "row 1: actual_value must be a finite number for a regression model, not 'tall'" \
        in answer.get_json()["error"]["message"]


def test_too_many_actuals_in_one_upload(client: SigningClient, flowers: str) -> None:
    csv = "association_id,actual_value\n" + "x,1\n" * 100_001
    answer = send(client, "flowers", csv, "text/csv")
    assert answer.status_code == 413
    assert "100001 actuals in one upload; at most 100000" in answer.get_json()["error"]["message"]


def test_custom_services_take_no_actuals(client: SigningClient) -> None:
    assert client.post("/api/v1/services", json={"name": "plain"}).status_code == 201
    answer = send(client, "plain", [{"association_id": "x", "actual_value": 1}])
    assert answer.status_code == 400
    assert "this service serves no model" in answer.get_json()["error"]["message"]


def test_rows_are_checked_alike_on_every_path() -> None:
    rows = [{"association_id": " a ", "actual_value": " yes ", "was_acted_on": True},
            {"association_id": 7, "actual_value": 2.0, "timestamp": "1764583200"},
            {"association_id": "b", "actual_value": False, "was_acted_on": " FALSE "},
            {"association_id": "c", "actual_value": 3, "timestamp": "2025-12-01T11:00:00",
             "was_acted_on": "1"}]
    assert parse_actuals(json.dumps(rows).encode(), "application/json", "classification") == [
        Actual("a", "yes", None, True), Actual("7", 2, 1764583200.0, None),
        Actual("b", False, None, False), Actual("c", 3, 1764583200.0 + 3600, True)]
    assert parse_actuals(b"association_id,actual_value\n a ,2.5\n", "text/csv",
                         "regression") == [Actual("a", 2.5)]
    for row, message in [
        ({"association_id": " ", "actual_value": "x"}, "row 2: association_id must"),
        ({"association_id": "x" * 256, "actual_value": "x"}, "row 2: association_id must"),
        ({"association_id": True, "actual_value": "x"}, "row 2: association_id must"),
        ({"association_id": "b", "actual_value": [1]}, "row 2: actual_value must be a class"),
        ({"association_id": "b", "actual_value": "x", "was_acted_on": "maybe"},
         "row 2: was_acted_on must be true or false, not 'maybe'"),
        ({"association_id": "b", "actual_value": "x", "z": 1, "y": 2},
         "row 2 has unknown field(s) ['y', 'z']"),
        ("b", "row 2 must be an object"),
    ]:
        body = json.dumps([{"association_id": "a", "actual_value": "x"}, row]).encode()
        with pytest.raises(InvalidInput, match=re.escape(message)):
            parse_actuals(body, "application/json", "classification")


def test_resends_are_counted_by_id_over_many_lookups(
    app: Flask, client: SigningClient, flowers: str
) -> None:
    first = send(client, "flowers", [{"association_id": f"id-{n}", "actual_value": "big"}
                                     for n in range(1200)])
    assert first.get_json() == {"received": 1200, "matched": 0, "unmatched": 1200,
                                "updated": 0}
    again = send(client, "flowers", [{"association_id": f"id-{n}", "actual_value": n % 3}
                                     for n in range(600, 1900)])
    assert again.get_json() == {"received": 1300, "matched": 0, "unmatched": 1300,
                                "updated": 600}
    with app.extensions["shipyard"].store.writing() as session:
        stored = {row.association_id: row.actual_value for row in session.execute(
            select(ActualRow.association_id, ActualRow.actual_value))}
    assert len(stored) == 1900
    assert (stored["id-0"], stored["id-599"], stored["id-601"], stored["id-1899"]) == (
        '"big"', '"big"', "1", "0")


def test_upsert_rows_stores_what_upsert_stores(app: Flask) -> None:
    table = ActualRow.__table__
    names = [column.name for column in table.columns]

    def rows(service_id: str, count: int, value: str) -> list[tuple[Any, ...]]:
        return [(service_id, f"id-{n}", json.dumps(value), None if n % 2 else n / 3,
                 None if n % 3 == 0 else n % 3 == 1, 10.0) for n in range(count)]

    def stored(service_id: str) -> list[tuple[Any, ...]]:
        with app.extensions["shipyard"].store.writing() as session:
            return sorted(tuple(row) for row in session.execute(
                select(*table.columns).where(table.c.service_id == service_id)))

    with app.extensions["shipyard"].store.writing() as session:
        # More rows than one statement takes, so that both of its shapes run, then a
        # resend of some of them.
        upsert_rows(session, table, rows("fast", 400, "a"))
        upsert_rows(session, table, rows("fast", 170, "b"))
        upsert(session, table, [dict(zip(names, row, strict=True))
                                for row in rows("slow", 400, "a")])
        upsert(session, table, [dict(zip(names, row, strict=True))
                                for row in rows("slow", 170, "b")])
    fast, slow = stored("fast"), stored("slow")
    assert len(fast) == 400 and [row[1:] for row in fast] == [row[1:] for row in slow]
    assert sum(row[2] == '"b"' for row in fast) == 170
