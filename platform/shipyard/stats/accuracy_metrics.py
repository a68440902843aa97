"""The accuracy of a window from its merged rollup (``accuracy_rollup``): scikit-learn's
metrics, computed on the rollup's distinct keys with their counts as ``sample_weight``.

Classification: ``accuracy``, ``balanced_accuracy``, and ``precision``, ``recall``,
``f1`` (``zero_division=0``) averaged as ``average`` says: ``binary`` for two labels,
with ``positive_class`` the last of the classes probabilities were given for, else the
second of the labels in order (booleans, then numbers, then strings); ``weighted`` for
more; None for a single label, whose positive class is unknown. The labels are those of
the rows and of the classes. ``auc`` is the positive class's one-vs-rest AUC when binary,
else the mean of every class's (scikit-learn's ``multi_class="ovr"``, macro) over the
classes with both positives and negatives. ``auc`` and ``log_loss`` use the rows with
probabilities only (``scored_with_probabilities``) and are as precise as the module
``accuracy_rollup`` says. Regression: ``rmse``, ``mae``, ``mape``, ``r2`` (None for under
two rows or constant actuals) and ``gamma_deviance`` (None when a value is not positive).

A metric that cannot be computed is None, never an error; an empty rollup gives all None.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy

from shipyard.stats.accuracy_rollup import (
    AccuracyRollup,
    ClassificationRollup,
    RegressionRollup,
    label_of,
    score_of,
)

__all__ = ["METRIC_NAMES", "metrics_of"]


def _sklearn() -> Any:
    """scikit-learn's metrics, imported when first asked for: the import takes a third of
    a second that every process importing the stats would pay otherwise."""
    from sklearn import metrics

    return metrics

METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "classification": (
        "accuracy", "balanced_accuracy", "precision", "recall", "f1", "auc", "log_loss",
    ),
    "regression": ("rmse", "mae", "mape", "r2", "gamma_deviance"),
}
"""The scalar metrics of each problem type, for charts over time."""


def metrics_of(rollup: AccuracyRollup) -> dict[str, Any]:
    """The metrics of ``rollup`` (see the module), with ``rows``."""
    if isinstance(rollup, ClassificationRollup):
        return _classification(rollup)
    if isinstance(rollup, RegressionRollup):
        return _regression(rollup)
    raise TypeError(f"not an accuracy rollup: {type(rollup).__name__}")


def _classification(rollup: ClassificationRollup) -> dict[str, Any]:
    metrics: dict[str, Any] = dict.fromkeys(METRIC_NAMES["classification"])
    metrics.update(rows=rollup.rows, scored_with_probabilities=rollup.scored_with_probabilities,
                   average=None, positive_class=None, confusion_matrix=None)
    if not rollup.rows:
        return metrics
    labels = sorted({key for pair in rollup.pairs for key in pair} | set(rollup.classes),
                    key=_order)
    codes = {key: code for code, key in enumerate(labels)}
    actual = numpy.array([codes[a] for a, _ in rollup.pairs])
    predicted = numpy.array([codes[p] for _, p in rollup.pairs])
    weight = numpy.fromiter(rollup.pairs.values(), dtype=numpy.int64, count=len(rollup.pairs))
    with warnings.catch_warnings():
        # What scikit-learn warns of is answered here: a label only ever predicted is left
        # out of balanced accuracy, a single label is a matrix of one.
        warnings.simplefilter("ignore", UserWarning)
        sklearn = _sklearn()
        metrics["accuracy"] = float(
            sklearn.accuracy_score(actual, predicted, sample_weight=weight))
        metrics["balanced_accuracy"] = float(
            _sklearn().balanced_accuracy_score(actual, predicted, sample_weight=weight))
        matrix = _sklearn().confusion_matrix(actual, predicted, labels=list(range(len(labels))),
                                  sample_weight=weight)
    positive = None
    if len(labels) == 2:
        positive = rollup.classes[-1] if rollup.classes else labels[1]
        metrics.update(average="binary", positive_class=label_of(positive))
    elif len(labels) > 2:
        metrics["average"] = "weighted"
    if metrics["average"]:
        precision, recall, f1, _ = _sklearn().precision_recall_fscore_support(
            actual, predicted, average=metrics["average"],
            pos_label=codes[positive] if positive is not None else 1,
            sample_weight=weight, zero_division=0)
        metrics.update(precision=float(precision), recall=float(recall), f1=float(f1))
    metrics["confusion_matrix"] = {"labels": [label_of(key) for key in labels],
                                   "matrix": matrix.tolist()}
    metrics["auc"] = _auc(rollup, positive)
    metrics["log_loss"] = _log_loss(rollup)
    return metrics


def _order(key: str) -> tuple[int, Any, str]:
    """Booleans, then numbers (1 before 1.0), then strings, each in its natural order."""
    value = label_of(key)
    rank = 0 if isinstance(value, bool) else 2 if isinstance(value, str) else 1
    return rank, value, key


def _auc(rollup: ClassificationRollup, positive: str | None) -> float | None:
    if not rollup.classes:
        return None
    if positive is not None:
        return _one_vs_rest(rollup, positive)
    areas = [area for key in rollup.classes
             if (area := _one_vs_rest(rollup, key)) is not None]
    return float(numpy.mean(areas)) if areas else None


def _one_vs_rest(rollup: ClassificationRollup, key: str) -> float | None:
    positives, negatives = rollup.positives.get(key), rollup.negatives.get(key)
    if not positives or not negatives:
        return None
    scores = numpy.array([*positives, *negatives])
    truth = numpy.repeat([1, 0], [len(positives), len(negatives)])
    weight = numpy.array([*positives.values(), *negatives.values()])
    return float(_sklearn().roc_auc_score(truth, scores, sample_weight=weight))


def _log_loss(rollup: ClassificationRollup) -> float | None:
    """From the probability each row gave its actual, as a two-column matrix: row ``i``
    is ``[1 - p_i, p_i]`` with actual 1."""
    if not rollup.scored_with_probabilities:
        return None
    given = [(score_of(index), count) for counts in rollup.positives.values()
             for index, count in counts.items()]
    if rollup.unlisted:
        given.append((0.0, rollup.unlisted))
    p = numpy.array([score for score, _ in given])
    weight = numpy.array([count for _, count in given])
    return float(_sklearn().log_loss(numpy.ones(len(p), dtype=int),
                                     numpy.column_stack([1 - p, p]),
                                     labels=[0, 1], sample_weight=weight))


def _regression(rollup: RegressionRollup) -> dict[str, Any]:
    metrics: dict[str, Any] = dict.fromkeys(METRIC_NAMES["regression"])
    metrics["rows"] = n = rollup.rows
    if not n:
        return metrics
    metrics.update(rmse=math.sqrt(rollup.squared_error / n), mae=rollup.absolute_error / n,
                   mape=rollup.percentage_error / n)
    if n >= 2 and rollup.spread > 0:
        metrics["r2"] = 1.0 - rollup.squared_error / rollup.spread
    if rollup.gamma_rows and not rollup.outside_gamma:
        metrics["gamma_deviance"] = rollup.gamma_deviance / rollup.gamma_rows
    return metrics
