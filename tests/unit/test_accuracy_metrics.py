"""Accuracy rollups folded in parts, merged in several groupings (through bytes too), and
every metric checked against scikit-learn on the raw rows: label metrics and confusion
matrices exactly, AUC within 1e-3, log loss within 1e-3 relative, regression metrics
within 1e-9 relative."""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy
import pytest
from scipy.special import expit, softmax
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_gamma_deviance,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from shipyard.stats.accuracy_metrics import METRIC_NAMES, metrics_of
from shipyard.stats.accuracy_rollup import (
    AccuracyRollup,
    ClassificationRollup,
    RegressionRollup,
    rollup_for,
    rollup_from_bytes,
)

Row = tuple[Any, Any, list[float] | None, list[Any] | None]
PARTS = 6
AUC_TOLERANCE = 1e-3
LOG_LOSS_TOLERANCE = 1e-3
REGRESSION_TOLERANCE = 1e-9


def binary_with_probabilities(n: int = 4000) -> list[Row]:
    rng = numpy.random.RandomState(1)
    actual = rng.randint(0, 2, n)
    p = expit(1.8 * (actual - 0.5) + rng.normal(0, 1.2, n))
    predicted = numpy.where(rng.uniform(size=n) < 0.9, p > 0.5, rng.randint(0, 2, n))
    return [(int(a), int(b), [1 - q, q], [0, 1])
            for a, b, q in zip(actual, predicted, p.tolist(), strict=True)]


def three_classes_with_probabilities(n: int = 4000) -> list[Row]:
    rng = numpy.random.RandomState(2)
    classes = ["cat", "dog", "eel"]
    actual = rng.randint(0, 3, n)
    probabilities = softmax(rng.normal(0, 1.3, (n, 3)) + 1.6 * numpy.eye(3)[actual], axis=1)
    predicted = probabilities.argmax(axis=1)
    return [(classes[a], classes[b], row, classes)
            for a, b, row in zip(actual, predicted, probabilities.tolist(), strict=True)]


def string_labels(n: int = 3000) -> list[Row]:
    rng = numpy.random.RandomState(3)
    names = numpy.array(["no", "yes"])
    actual = rng.randint(0, 2, n)
    predicted = numpy.where(rng.uniform(size=n) < 0.75, actual, 1 - actual)
    return [(str(a), str(b), None, None)
            for a, b in zip(names[actual], names[predicted], strict=True)]


def int_labels(n: int = 3000) -> list[Row]:
    """Five classes, and a sixth that is only ever predicted."""
    rng = numpy.random.RandomState(4)
    actual = rng.randint(0, 5, n)
    predicted = numpy.where(rng.uniform(size=n) < 0.6, actual, rng.randint(0, 6, n))
    return [(int(a), int(b), None, None) for a, b in zip(actual, predicted, strict=True)]


def some_rows_without_probabilities(n: int = 4000) -> list[Row]:
    """Binary, the classes listed as ``[1, 0]``: 0 is the positive class."""
    rng = numpy.random.RandomState(5)
    actual = rng.randint(0, 2, n)
    p_zero = expit(1.5 * (0.5 - actual) + rng.normal(0, 1.0, n))
    predicted = (p_zero < 0.5).astype(int)
    scored = rng.uniform(size=n) < 0.6
    return [(int(a), int(b), [1 - q, q] if s else None, [1, 0] if s else None)
            for a, b, q, s in zip(actual, predicted, p_zero.tolist(), scored, strict=True)]


CLASSIFICATION = {
    "binary with probabilities": binary_with_probabilities,
    "three classes with probabilities": three_classes_with_probabilities,
    "string labels": string_labels,
    "int labels": int_labels,
    "rows without probabilities": some_rows_without_probabilities,
}


def regression_rows(seed: int, offset: float = 0.0, n: int = 3000) -> list[tuple[float, float]]:
    """Positive actuals and predictions, unless ``offset`` moves the actuals (far from 0
    where Σy² less (Σy)²/n would lose R²'s digits; below 0 where gamma deviance ends)."""
    rng = numpy.random.RandomState(seed)
    values = rng.gamma(2.0, 3.0, n)
    predicted = numpy.abs(values * rng.lognormal(0.0, 0.2, n) + rng.normal(0, 0.5, n)) + 1e-3
    return list(zip((values + offset).tolist(), (predicted + offset).tolist(), strict=True))


def folded(rows: Sequence[Any], make: Callable[[], AccuracyRollup], seed: int,
           ) -> list[AccuracyRollup]:
    """``rows`` folded into ``PARTS`` rollups at random, as the hours of a window are."""
    parts = [make() for _ in range(PARTS)]
    for row, part in zip(rows, numpy.random.RandomState(seed).randint(0, PARTS, len(rows)),
                         strict=True):
        parts[part].add(*row)
    return parts


def groupings(rows: Sequence[Any], make: Callable[[], AccuracyRollup]) -> list[AccuracyRollup]:
    """The same rows as one rollup, merged from left to right, from right to left, as a
    tree, and through ``to_bytes`` before and after."""
    def merged(parts: Sequence[AccuracyRollup]) -> AccuracyRollup:
        total = make()
        for part in parts:
            total.merge(part)  # type: ignore[arg-type]
        return total

    def pairwise(left: AccuracyRollup, right: AccuracyRollup) -> AccuracyRollup:
        left.merge(right)  # type: ignore[arg-type]
        return left

    whole = make()
    for row in rows:
        whole.add(*row)
    parts = folded(rows, make, 7)
    stored = [part.to_bytes() for part in folded(rows, make, 8)]
    tree = folded(rows, make, 9)
    tree = [pairwise(tree[i], tree[i + 1]) for i in range(0, PARTS, 2)]
    return [
        whole,
        merged(parts),
        merged(folded(rows, make, 10)[::-1]),
        functools.reduce(pairwise, tree[1:], tree[0]),
        merged([rollup_from_bytes(data) for data in stored]),
        type(whole).from_bytes(merged(folded(rows, make, 11)).to_bytes()),
    ]


def expected_classification(rows: Sequence[Row]) -> dict[str, Any]:
    actual = [row[0] for row in rows]
    predicted = [row[1] for row in rows]
    labels = sorted(set(actual) | set(predicted))
    classes = next((row[3] for row in rows if row[3] is not None), None)
    expected: dict[str, Any] = {"rows": len(rows), "accuracy": accuracy_score(actual, predicted)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a label only ever predicted
        expected["balanced_accuracy"] = balanced_accuracy_score(actual, predicted)
    if len(labels) == 2:
        positive = classes[-1] if classes else labels[1]
        options: dict[str, Any] = {"average": "binary", "pos_label": positive}
        expected["positive_class"] = positive
    else:
        options = {"average": "weighted"}
        expected["positive_class"] = None
    expected["average"] = options["average"]
    expected["precision"] = precision_score(actual, predicted, **options, zero_division=0)
    expected["recall"] = recall_score(actual, predicted, **options, zero_division=0)
    expected["f1"] = f1_score(actual, predicted, **options, zero_division=0)
    expected["confusion_matrix"] = {
        "labels": labels, "matrix": confusion_matrix(actual, predicted, labels=labels).tolist(),
    }
    scored = [row for row in rows if row[2] is not None]
    expected["scored_with_probabilities"] = len(scored)
    expected["auc"] = expected["log_loss"] = None
    if classes:
        truth = [row[0] for row in scored]
        scores = numpy.array([row[2] for row in scored])
        if len(classes) == 2:
            expected["auc"] = roc_auc_score(numpy.array(truth) == classes[-1], scores[:, -1])
        # scikit-learn wants the columns in the labels' order.
        order = sorted(range(len(classes)), key=classes.__getitem__)
        labels, scores = [classes[i] for i in order], scores[:, order]
        if len(classes) > 2:
            expected["auc"] = roc_auc_score(truth, scores, multi_class="ovr", labels=labels)
        expected["log_loss"] = log_loss(truth, scores, labels=labels)
    return expected


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_classification_metrics_are_sklearns_on_the_rows_however_rollups_merge(
        name: str) -> None:
    rows = CLASSIFICATION[name]()
    expected = expected_classification(rows)
    rollups = groupings(rows, ClassificationRollup)
    assert all(rollup == rollups[0] for rollup in rollups)
    for rollup in rollups:
        metrics = metrics_of(rollup)
        for key in ("rows", "scored_with_probabilities", "average", "positive_class",
                    "accuracy", "balanced_accuracy", "precision", "recall", "f1",
                    "confusion_matrix"):
            assert metrics[key] == expected[key], key
        if expected["auc"] is None:
            assert metrics["auc"] is None and metrics["log_loss"] is None
        else:
            assert metrics["auc"] == pytest.approx(expected["auc"], abs=AUC_TOLERANCE)
            assert metrics["log_loss"] == pytest.approx(expected["log_loss"],
                                                        rel=LOG_LOSS_TOLERANCE)
    if name == "rows without probabilities":
        assert expected["positive_class"] == 0


@pytest.mark.parametrize(("seed", "offset"), [(21, 0.0), (22, 1e6), (23, -5.0)])
def test_regression_metrics_are_sklearns_on_the_rows_however_rollups_merge(
        seed: int, offset: float) -> None:
    rows = regression_rows(seed, offset)
    actual = numpy.array([row[0] for row in rows])
    predicted = numpy.array([row[1] for row in rows])
    expected = {
        "rmse": root_mean_squared_error(actual, predicted),
        "mae": mean_absolute_error(actual, predicted),
        "mape": mean_absolute_percentage_error(actual, predicted),
        "r2": r2_score(actual, predicted),
        "gamma_deviance": (mean_gamma_deviance(actual, predicted)
                           if min(actual.min(), predicted.min()) > 0 else None),
    }
    assert (expected["gamma_deviance"] is None) == (offset < 0)
    for rollup in groupings(rows, RegressionRollup):
        metrics = metrics_of(rollup)
        assert metrics["rows"] == len(rows)
        for name, value in expected.items():
            if value is None:
                assert metrics[name] is None, name
            else:
                assert metrics[name] == pytest.approx(value, rel=REGRESSION_TOLERANCE), name


def test_one_class_only_leaves_what_needs_two_undefined() -> None:
    rollup = ClassificationRollup()
    for _ in range(5):
        rollup.add("spam", "spam")
    metrics = metrics_of(rollup)
    assert metrics["accuracy"] == metrics["balanced_accuracy"] == 1.0
    assert metrics["precision"] is metrics["recall"] is metrics["f1"] is None
    assert metrics["average"] is metrics["positive_class"] is None
    assert metrics["auc"] is metrics["log_loss"] is None
    assert metrics["confusion_matrix"] == {"labels": ["spam"], "matrix": [[5]]}


def test_one_class_with_probabilities_has_log_loss_but_no_auc() -> None:
    rows = [(1, 1, [0.2, 0.8], [0, 1]), (1, 0, [0.7, 0.3], [0, 1]), (1, 1, [0.0, 1.0], [0, 1])]
    rollup = ClassificationRollup()
    for row in rows:
        rollup.add(*row)
    metrics = metrics_of(rollup)
    assert metrics["auc"] is None
    assert metrics["average"] == "binary" and metrics["positive_class"] == 1
    assert metrics["recall"] == recall_score([1, 1, 1], [1, 0, 1])
    assert metrics["log_loss"] == pytest.approx(
        log_loss([1, 1, 1], [row[2] for row in rows], labels=[0, 1]), rel=LOG_LOSS_TOLERANCE)


def test_an_actual_none_of_the_classes_counts_with_probability_zero() -> None:
    rollup = ClassificationRollup()
    rollup.add("a", "a", [0.9, 0.1], ["a", "b"])
    rollup.add("c", "b", [0.4, 0.6], ["a", "b"])
    assert rollup.unlisted == 1
    eps = numpy.finfo(numpy.float64).eps
    assert metrics_of(rollup)["log_loss"] == pytest.approx(
        (-math.log(0.9) - math.log(eps)) / 2, rel=LOG_LOSS_TOLERANCE)


@pytest.mark.parametrize("problem_type", ["classification", "regression"])
def test_an_empty_rollup_has_no_metrics(problem_type: str) -> None:
    rollup = rollup_for(problem_type)
    assert rollup.rows == 0
    for stored in (rollup, rollup_from_bytes(rollup.to_bytes()),
                   type(rollup).from_bytes(None)):
        metrics = metrics_of(stored)
        assert metrics["rows"] == 0
        assert all(metrics[name] is None for name in METRIC_NAMES[problem_type])
    if problem_type == "classification":
        assert metrics_of(rollup)["confusion_matrix"] is None


def test_rollup_for_knows_two_problem_types() -> None:
    assert isinstance(rollup_for("classification"), ClassificationRollup)
    assert isinstance(rollup_for("regression"), RegressionRollup)
    with pytest.raises(ValueError, match="ranking"):
        rollup_for("ranking")


def test_r2_needs_two_rows_and_actuals_that_vary() -> None:
    single = RegressionRollup()
    single.add(3.0, 2.5)
    assert metrics_of(single)["r2"] is None
    assert metrics_of(single)["rmse"] == 0.5
    constant = RegressionRollup()
    for predicted in (1.0, 2.0, 3.0):
        constant.add(2.0, predicted)
    other = RegressionRollup()
    other.add(2, 2)
    constant.merge(other)
    assert metrics_of(constant)["r2"] is None
    assert metrics_of(constant)["rows"] == 4


def test_gamma_deviance_needs_every_value_positive() -> None:
    rollup = RegressionRollup()
    rollup.add(1.0, 2.0)
    assert metrics_of(rollup)["gamma_deviance"] == pytest.approx(
        mean_gamma_deviance([1.0], [2.0]), rel=REGRESSION_TOLERANCE)
    later = RegressionRollup()
    later.add(0.0, 1.0)
    rollup.merge(later)
    assert metrics_of(rollup)["gamma_deviance"] is None


@pytest.mark.parametrize(("actual", "predicted", "named"), [
    ("abc", 1.0, "'abc'"), (None, 1.0, "None"), (True, 1.0, "True"), ([1.0], 1.0, r"\[1.0\]"),
    (float("nan"), 1.0, "nan"), (1.0, float("inf"), "inf"), (1.0, -float("inf"), "-inf"),
    (10**400, 1.0, "1000000"), (1.0, "2.5", "'2.5'"),
])
def test_regression_refuses_what_is_not_a_finite_number(
        actual: Any, predicted: Any, named: str) -> None:
    rollup = RegressionRollup()
    rollup.add(1.0, 1.5)
    with pytest.raises(ValueError, match=named):
        rollup.add(actual, predicted)
    expected = RegressionRollup()
    expected.add(1.0, 1.5)
    assert rollup == expected


@pytest.mark.parametrize(("row", "named"), [
    ((None, "a"), "actual None"),
    (("a", float("nan")), "prediction nan"),
    (({"a": 1}, "a"), r"\{'a': 1\}"),
    (("a", "a", [0.5, 0.5], None), "together"),
    (("a", "a", None, ["a", "b"]), "together"),
    (("a", "a", [0.5, 0.3, 0.2], ["a", "b"]), "3 probabilities for 2 classes"),
    (("a", "a", [0.5, 1.5], ["a", "b"]), "probability 1.5"),
    (("a", "a", [0.5, float("nan")], ["a", "b"]), "probability nan"),
    (("a", "a", [0.5, "x"], ["a", "b"]), "probability 'x'"),
    (("a", "a", [0.5, 0.5], ["a", "a"]), "repeat"),
    (("a", "a", [0.5, 0.5], ["a", None]), "class None"),
])
def test_classification_refuses_bad_values_naming_them(row: tuple[Any, ...], named: str) -> None:
    rollup = ClassificationRollup()
    rollup.add("a", "b", [0.3, 0.7], ["a", "b"])
    before = ClassificationRollup.from_bytes(rollup.to_bytes())
    with pytest.raises(ValueError, match=named):
        rollup.add(*row)
    assert rollup == before


def test_labels_of_different_types_stay_apart_through_bytes_and_json() -> None:
    rollup = ClassificationRollup()
    for label in (1, "1", True, 1.0, numpy.int64(1), numpy.bool_(True), "1", 2.5):
        rollup.add(label, label)
    rollup.add(1, True)
    for stored in (ClassificationRollup.from_bytes(rollup.to_bytes()),
                   ClassificationRollup.from_json(rollup.to_json()), rollup):
        assert stored == rollup
        matrix = metrics_of(stored)["confusion_matrix"]
        assert [(type(label), label) for label in matrix["labels"]] == [
            (bool, True), (int, 1), (float, 1.0), (float, 2.5), (str, "1")]
        assert matrix["matrix"] == [[2, 0, 0, 0, 0], [1, 2, 0, 0, 0], [0, 0, 1, 0, 0],
                                    [0, 0, 0, 1, 0], [0, 0, 0, 0, 2]]


def test_class_probabilities_keep_their_label_types() -> None:
    rollup = ClassificationRollup()
    rollup.add(1, 1, [0.2, 0.8], ["1", 1])
    rollup.add("1", 1, [0.6, 0.4], ["1", 1])
    stored = ClassificationRollup.from_bytes(rollup.to_bytes())
    assert stored == rollup and stored.unlisted == 0
    metrics = metrics_of(stored)
    assert metrics["positive_class"] == 1 and isinstance(metrics["positive_class"], int)
    assert metrics["auc"] == 1.0


def test_metric_names_are_the_scalar_metrics() -> None:
    rows = binary_with_probabilities(200)
    rollup = ClassificationRollup()
    for row in rows:
        rollup.add(*row)
    metrics = metrics_of(rollup)
    assert all(isinstance(metrics[name], float) for name in METRIC_NAMES["classification"])
    regression = RegressionRollup()
    for row in regression_rows(1, n=50):
        regression.add(*row)
    metrics = metrics_of(regression)
    assert all(isinstance(metrics[name], float) for name in METRIC_NAMES["regression"])
