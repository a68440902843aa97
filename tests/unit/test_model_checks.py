"""The static checks of a model replacement, its reasons, and the gate's predict check
(on fake answers: no process)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from shipyard.domain.model_checks import (
    FAILING,
    PASSING,
    REASONS,
    WARNING,
    Check,
    Validation,
    static_checks,
    validate_reason,
)
from shipyard.errors import InvalidInput
from shipyard.supervisor.replacement_gate import baseline_sample, predict_check

IRIS = {
    "features": [{"name": n, "type": "number"} for n in ("a", "b", "c")],
    "target": "species", "problem_type": "classification",
}


def details(**changes: Any) -> dict[str, Any]:
    return {**IRIS, **changes}


def statuses(validation: Validation) -> dict[str, str]:
    return {check.name: check.status for check in validation.checks}


def test_identical_details_pass() -> None:
    validation = static_checks(IRIS, details())
    assert validation.status == PASSING
    assert set(statuses(validation).values()) == {PASSING}
    assert validation.to_dict()["status"] == PASSING


def test_features_in_another_order_pass() -> None:
    validation = static_checks(IRIS, details(features=list(reversed(IRIS["features"]))))
    check = validation.checks[0]
    assert check.status == PASSING and "another order" in check.message


@pytest.mark.parametrize(
    ("features", "named"),
    [
        ([*IRIS["features"], {"name": "d", "type": "number"}], "'d'"),
        (IRIS["features"][:2], "'c'"),
        ([{"name": "a", "type": "string"}, *IRIS["features"][1:]], "'a' changes type"),
        ([{"name": "x", "type": "number"}, *IRIS["features"][1:]], "'x'"),
    ],
)
def test_added_removed_or_retyped_features_fail(features: list, named: str) -> None:
    validation = static_checks(IRIS, details(features=features))
    assert validation.status == FAILING
    (failing,) = validation.failing
    assert failing.name == "same features" and named in failing.message


def test_integer_to_number_only_warns() -> None:
    old = details(features=[{"name": "a", "type": "integer"}])
    validation = static_checks(old, details(features=[{"name": "a", "type": "number"}]))
    assert validation.status == WARNING
    back = static_checks(details(features=[{"name": "a", "type": "number"}]), old)
    assert back.status == FAILING


def test_a_renamed_target_fails_and_an_unnamed_one_warns() -> None:
    renamed = static_checks(IRIS, details(target="label"))
    assert statuses(renamed)["same target"] == FAILING
    assert "'species' to 'label'" in renamed.failing[0].message
    assert statuses(static_checks(IRIS, details(target="")))["same target"] == WARNING


def test_another_problem_type_fails() -> None:
    validation = static_checks(IRIS, details(problem_type="regression"))
    assert statuses(validation)["same problem type"] == FAILING


def test_the_same_file_warns() -> None:
    validation = static_checks(IRIS, details(), same_file=True)
    assert validation.status == WARNING


def test_a_validation_is_as_bad_as_its_worst_check_and_round_trips() -> None:
    validation = Validation((Check("x", PASSING, ""), Check("y", WARNING, "w")))
    assert validation.status == WARNING
    worse = validation.with_check(Check("x", FAILING, "f"))
    assert worse.status == FAILING and len(worse.checks) == 2
    assert Validation.from_dict(worse.to_dict()) == worse
    assert Validation(()).status == PASSING


@pytest.mark.parametrize("reason", REASONS)
def test_the_six_reasons(reason: str) -> None:
    assert validate_reason(reason) == reason


@pytest.mark.parametrize("reason", ["", "because", None, 3, "Accuracy"])
def test_other_reasons_are_refused_naming_the_known_ones(reason: Any) -> None:
    with pytest.raises(InvalidInput, match="data_drift"):
        validate_reason(reason)


def test_the_sample_keeps_features_of_complete_records_only() -> None:
    baseline = [{"a": 1, "b": 2, "species": "x"}, {"a": 1}, {"a": 3, "b": 4}]
    assert baseline_sample([baseline], ["a", "b"]) == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    assert baseline_sample([[{"a": 1}], baseline], ["a", "b"], size=1) == [{"a": 1, "b": 2}]
    assert baseline_sample([[{"a": 1}]], ["a", "b"]) == []


def answer(status: int, body: Any) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    return response


EXPECTED = {"name": "iris", "version": "2"}
RECORDS = [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(
    ("response", "status", "words"),
    [
        (answer(200, {"predictions": [0, 1], "model": EXPECTED}), PASSING, "2 predictions"),
        (answer(200, {"predictions": [0]}), FAILING, "1 predictions for 2"),
        (answer(500, {"error": {"message": "the model failed: boom"}}), FAILING, "500: the model"),
        (answer(200, {"predictions": [0, 1], "model": {"name": "iris", "version": "1"}}),
         FAILING, "serves model iris:1"),
    ],
)
def test_the_predict_check_judges_the_answer(
    response: requests.Response, status: str, words: str
) -> None:
    check = predict_check(lambda _records: response, RECORDS, expected=EXPECTED)
    assert check.status == status and words in check.message


def test_the_predict_check_fails_when_nothing_answers_and_warns_without_records() -> None:
    def unreachable(_records: list) -> requests.Response:
        raise requests.ConnectionError("refused")

    assert predict_check(unreachable, RECORDS, expected=EXPECTED).status == FAILING
    assert predict_check(unreachable, [], expected=EXPECTED).status == WARNING
