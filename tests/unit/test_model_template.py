"""The bundled model-service app, serving tiny scikit-learn models trained in the test."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shipyard.domain.scaffold import (
    DEFAULT_PACKAGES,
    ScaffoldValues,
    render_template,
    template_dir_for,
    write_files,
)

pytest.importorskip("sklearn")
joblib = pytest.importorskip("joblib")

from sklearn.dummy import DummyClassifier  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402

try:
    import pandas
except ImportError:  # the app must work without pandas too
    pandas = None

FEATURES = [{"name": "width", "type": "number"}, {"name": "petals", "type": "integer"}]
ROWS = [[0.5, 1], [1.0, 2], [1.5, 1], [4.0, 8], [4.5, 9], [5.0, 7]]
LABELS = ["small", "small", "small", "large", "large", "large"]
RECORDS = [{"width": 0.8, "petals": 1}, {"petals": 8, "width": 4.2}]

ServeModel = Callable[..., Any]


def metadata(features: list[dict[str, str]] = FEATURES, **extra: str) -> dict[str, Any]:
    return {
        "name": "flowers",
        "version": "3",
        "problem_type": "classification",
        "target": "size",
        "features": features,
        **extra,
    }


def training_table(rows: list[list[Any]], features: list[dict[str, str]]) -> Any:
    if pandas is None:
        return rows
    return pandas.DataFrame(rows, columns=[feature["name"] for feature in features])


@pytest.fixture
def serve(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    load_module: Callable[[Path, str], ModuleType],
) -> Callable[..., Any]:
    """Render the template, drop a model in, import the app from another cwd."""

    def serve(model: Any, meta: dict[str, Any], *, name: str = "flowers") -> ModuleType:
        service = tmp_path / name
        values = ScaffoldValues(
            name=name, kind="model", environment="small", packages=DEFAULT_PACKAGES["model"]
        )
        write_files(service, render_template(template_dir_for("model"), values))
        (service / "model").mkdir()
        joblib.dump(model, service / "model" / "model.joblib")
        (service / "model" / "metadata.json").write_text(json.dumps(meta))
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir(exist_ok=True)
        monkeypatch.chdir(elsewhere)  # model files are found next to app.py, not in the cwd
        return load_module(service / "app.py", f"model_service_{name.replace('-', '_')}")

    return serve


@pytest.fixture
def classifier_app(serve: ServeModel) -> ModuleType:
    model = LogisticRegression().fit(training_table(ROWS, FEATURES), LABELS)
    return serve(model, metadata())


def test_records_get_predictions_and_probabilities(
    classifier_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_GENERATION", "v3")
    response = classifier_app.app.test_client().post("/api/v1.0/predict/", json=RECORDS)
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert answer["predictions"] == ["small", "large"]
    assert answer["classes"] == ["large", "small"]
    assert [round(sum(row), 6) for row in answer["probabilities"]] == [1.0, 1.0]
    assert answer["probabilities"][0][1] > 0.5
    assert answer["model"] == {"name": "flowers", "version": "3"}
    assert answer["generation"] == "v3"


def test_columns_and_data_give_the_same_answer(classifier_app: ModuleType) -> None:
    client = classifier_app.app.test_client()
    records = client.post("/api/v1.0/predict/", json=RECORDS).get_json()
    split = client.post(
        "/api/v1.0/predict/", json={"columns": ["petals", "width"], "data": [[1, 0.8], [8, 4.2]]}
    ).get_json()
    assert split == records


def test_csv_gives_the_same_answer(classifier_app: ModuleType) -> None:
    client = classifier_app.app.test_client()
    records = client.post("/api/v1.0/predict/", json=RECORDS).get_json()
    response = client.post(
        "/api/v1.0/predict/", data="width,petals\n0.8,1\n4.2,8\n", content_type="text/csv"
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == records


@pytest.mark.parametrize(
    "text",
    [
        "0.8,1\n4.2,8\n",  # no header: the features in order, as SageMaker sends them
        "\ufeff0.8, 1\r\n\r\n4.2,8",
        "petals,width\n1,0.8\n8,4.2\n",  # a header says the order
    ],
)
def test_headerless_csv_and_a_header_in_any_order_give_the_same_answer(
    classifier_app: ModuleType, text: str
) -> None:
    client = classifier_app.app.test_client()
    records = client.post("/api/v1.0/predict/", json=RECORDS).get_json()
    response = client.post("/api/v1.0/predict/", data=text, content_type="text/csv")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == records


def test_a_header_is_a_first_row_of_exactly_the_feature_names(classifier_app: ModuleType) -> None:
    assert classifier_app.csv_rows("width,petals\n0.8,1\n") == [[0.8, 1]]
    assert classifier_app.csv_rows(" petals , width\n1,0.8\n") == [[0.8, 1]]
    assert classifier_app.csv_rows("0.8,1\n4.2,8\n") == [[0.8, 1], [4.2, 8]]
    assert classifier_app.csv_rows("width,petals\n") == []  # a header alone: no rows


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([{"width": 1.0}], "lacks the feature(s) 'petals'"),
        ([{"width": 1.0, "petals": 2, "colour": "red"}], "unknown feature(s) 'colour'"),
        ([{"width": "wide", "petals": 2}], "record 1: feature 'width' must be a finite number"),
        ([{"width": 1.0, "petals": 2}, {"width": True, "petals": 2}], "record 2: feature 'width'"),
        ([{"width": 1.0, "petals": 2.5}], "feature 'petals' must be an integer"),
        ([{"width": None, "petals": 2}], "feature 'width'"),
        ([5], "record 1 must be a JSON object"),
        ([], "at least one record"),
        ({"columns": ["width"], "data": [[1.0]]}, "lacks the feature(s) 'petals'"),
        ({"columns": ["width", "petals"], "data": [[1.0]]}, "row 1"),
        ({"width": 1.0, "petals": 2}, "send JSON records"),
    ],
)
def test_bad_json_input_is_a_400_naming_the_problem(
    classifier_app: ModuleType, body: Any, expected: str
) -> None:
    response = classifier_app.app.test_client().post("/api/v1.0/predict/", json=body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["type"] == "InvalidInput"
    assert expected in error["message"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("width\n1.0\n", "lacks the feature(s) 'petals'"),
        ("width,petals\nwide,2\n", "CSV line 2: feature 'width' must be a finite number"),
        ("width,petals\n1.0,2\n1.0\n", "CSV line 3 has 1 columns; expected 2, as the header"),
        ("", "the CSV is empty"),
        ("\n\n", "the CSV is empty; send one row per record: 2 (width, petals, in this order)"),
        ("0.8,1,3\n", "CSV line 1 has 3 columns; expected 2 (width, petals, in this order)"),
        ("0.8,1\n4.2\n", "CSV line 2 has 1 columns; expected 2 (width, petals, in this order)"),
        ("0.8,wide\n", "CSV line 1: feature 'petals' must be an integer, not 'wide'"),
        ("widht,petals\n1.0,2\n", "the CSV header lacks the feature(s) 'width'"),
        ("width,petals,colour\n1.0,2,red\n", "the CSV header has unknown feature(s) 'colour'"),
        ("width,width,petals\n1.0,1.0,2\n", "the CSV header names a feature more than once"),
    ],
)
def test_bad_csv_is_a_400(classifier_app: ModuleType, text: str, expected: str) -> None:
    response = classifier_app.app.test_client().post(
        "/api/v1.0/predict/", data=text, content_type="text/csv"
    )
    assert response.status_code == 400
    assert expected in response.get_json()["error"]["message"]


def test_integral_floats_count_as_integers(classifier_app: ModuleType) -> None:
    response = classifier_app.app.test_client().post(
        "/api/v1.0/predict/", json=[{"width": 4, "petals": 8.0}]
    )
    assert response.get_json()["predictions"] == ["large"]


def test_health(classifier_app: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_GENERATION", "v7")
    response = classifier_app.app.test_client().get("/api/v1.0/health/status/")
    assert response.status_code == 200
    assert response.get_json() == {
        "ready": True,
        "service": "flowers",
        "model": {"name": "flowers", "version": "3"},
        "generation": "v7",
    }


def test_a_regressor_has_no_probabilities(serve: ServeModel) -> None:
    model = LinearRegression().fit(ROWS, [row[0] * 2 for row in ROWS])
    app_module = serve(model, metadata(problem_type="regression"), name="doubler")
    answer = app_module.app.test_client().post("/api/v1.0/predict/", json=RECORDS).get_json()
    assert [round(value, 6) for value in answer["predictions"]] == [1.6, 8.4]
    assert "probabilities" not in answer


def test_a_model_fitted_without_names_gets_rows(serve: ServeModel) -> None:
    app_module = serve(LogisticRegression().fit(ROWS, LABELS), metadata(), name="plain")
    assert app_module.model_inputs([[1.0, 2]]) == [[1.0, 2]]
    answer = app_module.app.test_client().post("/api/v1.0/predict/", json=RECORDS).get_json()
    assert answer["predictions"] == ["small", "large"]


def test_without_pandas_the_model_gets_rows(
    classifier_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(classifier_app, "pandas", None)
    assert classifier_app.model_inputs([[1.0, 2]]) == [[1.0, 2]]


def test_with_pandas_a_named_model_gets_a_dataframe(classifier_app: ModuleType) -> None:
    pytest.importorskip("pandas")
    frame = classifier_app.model_inputs([[1.0, 2]])
    assert list(frame.columns) == ["width", "petals"]


def test_string_and_boolean_features(serve: ServeModel) -> None:
    features = [{"name": "colour", "type": "string"}, {"name": "fresh", "type": "boolean"}]
    rows = [["red", True], ["blue", False]]
    model = DummyClassifier(strategy="most_frequent").fit(training_table(rows, features), [1, 1])
    client = serve(model, metadata(features), name="colours").app.test_client()
    good = client.post("/api/v1.0/predict/", json=[{"colour": "red", "fresh": False}])
    assert good.get_json()["predictions"] == [1]
    for text in ("colour,fresh\nred,true\n", "fresh,colour\ntrue,red\n", "red,true\n"):
        csv = client.post("/api/v1.0/predict/", data=text, content_type="text/csv")
        assert csv.get_json()["predictions"] == [1], text
    swapped = client.post("/api/v1.0/predict/", data="true,red\n", content_type="text/csv")
    assert swapped.status_code == 400
    assert "CSV line 1: feature 'fresh' must be true or false, not 'red'" in (
        swapped.get_json()["error"]["message"]
    )
    for record, feature in (
        ({"colour": 3, "fresh": True}, "colour"),
        ({"colour": "red", "fresh": "yes"}, "fresh"),
    ):
        response = client.post("/api/v1.0/predict/", json=[record])
        assert response.status_code == 400
        assert f"feature {feature!r}" in response.get_json()["error"]["message"]


ASSOCIATION = {"X-Shipyard-Association-Columns": "order_id,customer"}
REQUIRED = {**ASSOCIATION, "X-Shipyard-Association-Required": "true"}


def test_association_columns_are_not_features_and_may_be_required(
    classifier_app: ModuleType
) -> None:
    client = classifier_app.app.test_client()
    with_ids = [{**record, "order_id": n, "customer": "c"} for n, record in enumerate(RECORDS)]
    plain = client.post("/api/v1.0/predict/", json=RECORDS).get_json()["predictions"]
    for headers in (ASSOCIATION, REQUIRED):
        answer = client.post("/api/v1.0/predict/", json=with_ids, headers=headers)
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["predictions"] == plain
    split = {"columns": ["order_id", "width", "customer", "petals"],
             "data": [[1, 0.8, "c", 1], [2, 4.2, "c", 8]]}
    assert client.post("/api/v1.0/predict/", json=split, headers=REQUIRED).status_code == 200
    csv = "customer,petals,order_id,width\nc,1,1,0.8\nc,8,2,4.2\n"
    answer = client.post("/api/v1.0/predict/", data=csv, content_type="text/csv",
                         headers=REQUIRED)
    assert answer.get_json()["predictions"] == plain
    # Without the gateway's word, an id column is an unknown feature, as before.
    unknown = client.post("/api/v1.0/predict/", json=with_ids)
    assert unknown.status_code == 400
    assert "unknown feature(s) 'customer', 'order_id'" in unknown.get_json()["error"]["message"]
    # Optional ids may be left out; required ones may not.
    assert client.post("/api/v1.0/predict/", json=RECORDS, headers=ASSOCIATION).status_code == 200
    refused = client.post("/api/v1.0/predict/", json=[with_ids[0], RECORDS[1]], headers=REQUIRED)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["message"] == (
        "record 2 lacks the association id column(s) 'order_id', 'customer'")
    headless = client.post("/api/v1.0/predict/", data="0.8,1\n", content_type="text/csv",
                           headers=REQUIRED)
    assert "a CSV without a header row lacks the association id" in \
        headless.get_json()["error"]["message"]


def test_feature_importance_comes_from_the_model_or_a_permutation(
    serve: ServeModel, classifier_app: ModuleType
) -> None:
    baseline = [{"width": w, "petals": p} for w, p in ROWS]
    own = classifier_app.app.test_client().post("/api/v1.0/feature-importance/", json=baseline)
    assert own.status_code == 200, own.get_json()
    body = own.get_json()
    assert body["method"] == "coefficients"
    assert set(body["importance"]) == {"width", "petals"}
    assert sum(body["importance"].values()) == pytest.approx(1.0)
    # A model without importances of its own: its predictions under shuffled columns.
    dummy = DummyClassifier(strategy="most_frequent").fit(training_table(ROWS, FEATURES), LABELS)
    permuted = serve(dummy, metadata(), name="dummy").app.test_client().post(
        "/api/v1.0/feature-importance/", json=baseline).get_json()
    assert permuted == {"importance": {"width": 0.0, "petals": 0.0}, "method": "permutation"}
    from sklearn.neighbors import KNeighborsClassifier

    nearest = KNeighborsClassifier(n_neighbors=1).fit(training_table(ROWS, FEATURES), LABELS)
    body = serve(nearest, metadata(), name="nearest").app.test_client().post(
        "/api/v1.0/feature-importance/", json=baseline).get_json()
    assert body["method"] == "permutation"
    assert sum(body["importance"].values()) == pytest.approx(1.0)
    regression = serve(LinearRegression().fit(training_table(ROWS, FEATURES), [1, 2, 3, 8, 9, 7]),
                       metadata(problem_type="regression"), name="sizes")
    body = regression.app.test_client().post("/api/v1.0/feature-importance/",
                                             json=baseline).get_json()
    assert body["method"] == "coefficients" and sum(body["importance"].values()) == \
        pytest.approx(1.0)


WARN = {"X-Shipyard-Warning-Boundaries": "margin=0.1;min_confidence=0.9;inputs=1"}
RANGES = {"baseline_ranges": {"width": {"min": 0.5, "max": 5.0}, "petals": {"min": 1, "max": 9}}}


def test_prediction_warnings_flag_unusual_inputs_and_unsure_classes(serve: ServeModel) -> None:
    model = LogisticRegression().fit(training_table(ROWS, FEATURES), LABELS)
    client = serve(model, {**metadata(), **RANGES}).app.test_client()
    quiet = client.post("/api/v1.0/predict/", json=RECORDS)
    assert "X-Shipyard-Prediction-Warnings" not in quiet.headers  # not asked to flag
    records = [{"width": 0.8, "petals": 1}, {"width": 40.0, "petals": 8}]
    answer = client.post("/api/v1.0/predict/", json=records, headers=WARN)
    assert answer.status_code == 200  # a flagged prediction still answers
    confidences = [max(p) for p in answer.get_json()["probabilities"]]
    flagged = [n for n, c in enumerate(confidences, 1) if c < 0.9 or n == 2]
    assert answer.headers["X-Shipyard-Prediction-Warnings"] == str(len(flagged))
    why = answer.headers["X-Shipyard-Prediction-Warning"]
    assert "row 2: " in why and "width 40 outside the baseline's [0.5, 5]" in why
    for number, confidence in enumerate(confidences, 1):
        assert (f"row {number}: confidence" in why) == (confidence < 0.9)
    calm = client.post("/api/v1.0/predict/", json=records[:1], headers={
        "X-Shipyard-Warning-Boundaries": "min_confidence=0;inputs=0"})
    assert calm.headers["X-Shipyard-Prediction-Warnings"] == "0"
    assert "X-Shipyard-Prediction-Warning" not in calm.headers


def test_a_regression_is_flagged_outside_its_target_range_widened_or_set(
    serve: ServeModel
) -> None:
    model = LinearRegression().fit(training_table(ROWS, FEATURES), [1, 2, 3, 8, 9, 7])
    meta = {**metadata(problem_type="regression"), **RANGES,
            "target_range": {"min": 1, "max": 9}}
    client = serve(model, meta, name="sizes").app.test_client()
    records = [{"width": 1.0, "petals": 2}, {"width": 4.9, "petals": 9}]
    predictions = client.post("/api/v1.0/predict/", json=records).get_json()["predictions"]
    answer = client.post("/api/v1.0/predict/", json=records, headers={
        "X-Shipyard-Warning-Boundaries": "margin=0;inputs=0;upper=5"})
    assert answer.headers["X-Shipyard-Prediction-Warnings"] == str(
        sum(p > 5 or p < 1 for p in predictions))
    assert f"row 2: prediction {predictions[1]:g} over the upper boundary 5" in \
        answer.headers["X-Shipyard-Prediction-Warning"]
    widened = client.post("/api/v1.0/predict/", json=records, headers={
        "X-Shipyard-Warning-Boundaries": "margin=10;inputs=0"})
    assert widened.headers["X-Shipyard-Prediction-Warnings"] == "0"  # 1 - 80 to 9 + 80
