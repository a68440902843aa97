"""Accuracy rollups: what the joined (prediction, actual) pairs of one (service,
generation, role) over one span of time leave behind, small enough for a database column
and merged by adding, so that the accuracy of any window is a merge of its hours
(``accuracy_metrics.metrics_of`` turns one into scikit-learn's metrics).

``ClassificationRollup`` counts rows per distinct (actual, predicted) pair: the label
metrics computed from those counts as ``sample_weight`` are exactly scikit-learn's on
the rows. A label is a JSON scalar kept with its type (``1``, ``1.0``, ``"1"`` and
``True`` are four labels), stored as its JSON text. A row that comes with class
probabilities also adds, per class ``c``, its probability ``p_c`` to a histogram of the
rows whose actual is ``c`` (``positives``) or is not (``negatives``): the one-vs-rest AUC
of ``c`` comes from those two, and log loss from every class's ``positives`` (the
probability each row gave its actual). Probabilities are clipped to ``[eps, 1 - eps]``
(as ``sklearn.metrics.log_loss`` clips them) and counted by their logit, rounded to
``SCORE_STEP``:

- a bucket spans at most ``SCORE_STEP / 4`` (2.5e-4) in probability, and far less near
  0 and 1 where confident models put their scores, so AUC only loses the order of a
  positive and a negative within one bucket (measured under 1e-5 on typical data);
- ``-log p`` moves at most ``(1 - p) * SCORE_STEP / 2`` when the logit moves half a step,
  and ``1 - p <= -log p``, so every row's loss, and hence log loss, is within
  ``SCORE_STEP / 2`` (5e-4) relative of the unrounded one (measured under 1e-5: the
  roundings cancel out).

A rollup holds at most one entry per row and one per bucket: it grows with its rows until
their scores fill the buckets, then stops. ``to_json`` writes each
histogram as gaps between indices and counts, and ``to_bytes`` compresses that (about
2 bytes a row for 5000 rows of three classes, 0.4 for 100 000).

``RegressionRollup`` keeps sums: scikit-learn has no mergeable form of its regression
metrics, so these agree with it to floating-point error (1e-9 relative and better). The
actuals' spread for R² is kept as a mean and a sum of squared deviations merged as Chan
et al. do, not as Σy and Σy², whose difference loses most digits for actuals far from
zero (prices around 1e6 with a spread of 1 keep 4 of 16).
"""

from __future__ import annotations

import itertools
import json
import math
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy

__all__ = [
    "EPS", "PROBLEM_TYPES", "SCORE_STEP", "AccuracyRollup", "ClassificationRollup", "Label",
    "RegressionRollup", "label_key", "label_of", "rollup_for", "rollup_from_bytes", "score_of",
]

Label = str | int | float | bool
PROBLEM_TYPES = ("classification", "regression")
SCORE_STEP = 1e-3
"""The width of a probability bucket, in logit (see the module)."""
EPS = float(numpy.finfo(numpy.float64).eps)
"""Where scikit-learn clips probabilities (log loss) and absolute actuals (MAPE)."""
_VERSION = 1


def label_key(value: Any, what: str = "label") -> str:
    """The stored form of a label: its JSON text, which keeps its type. numpy scalars count
    as the Python scalars they hold; anything else that is not a JSON scalar, None and
    non-finite numbers raise ``ValueError`` naming the value."""
    if isinstance(value, numpy.generic):
        value = value.item()
    if isinstance(value, str):
        return json.dumps(str(value))
    if isinstance(value, bool | int):
        return json.dumps(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{what} {value!r} is not a finite number")
        return json.dumps(float(value))
    raise ValueError(f"{what} {value!r} is not a string, number or boolean")


def label_of(key: str) -> Label:
    """The label stored as ``key`` (``label_key``), with its type."""
    value: Label = json.loads(key)
    return value


def _number(value: Any, what: str) -> float:
    if isinstance(value, numpy.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} {value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{what} {value!r} is not a finite number") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} {value!r} is not a finite number")
    return number


def _score_index(probability: float) -> int:
    p = min(max(probability, EPS), 1.0 - EPS)
    return math.floor((math.log(p) - math.log1p(-p)) / SCORE_STEP + 0.5)


def score_of(index: int) -> float:
    """The probability standing for bucket ``index``."""
    return 1.0 / (1.0 + math.exp(-index * SCORE_STEP))


@dataclass
class ClassificationRollup:
    pairs: dict[tuple[str, str], int] = field(default_factory=dict)
    """Rows per (actual, predicted), both as ``label_key``."""
    classes: list[str] = field(default_factory=list)
    """The classes probabilities were given for, as ``label_key``, in the order first seen."""
    positives: dict[str, dict[int, int]] = field(default_factory=dict)
    """Per class, rows whose actual is that class per bucket of its probability."""
    negatives: dict[str, dict[int, int]] = field(default_factory=dict)
    """Per class, rows whose actual is another per bucket of its probability."""
    unlisted: int = 0
    """Rows with probabilities whose actual is none of their classes (probability 0)."""
    rows: int = 0
    scored_with_probabilities: int = 0

    def add(
        self, actual: Any, predicted: Any, probabilities: Sequence[float] | None = None,
        classes: Sequence[Any] | None = None, *, count: int = 1,
    ) -> None:
        """Count one row (``count`` alike rows, without probabilities);
        ``probabilities[i]`` is the probability of ``classes[i]``. Raises ``ValueError``
        naming a bad value, leaving the rollup as it was."""
        actual_key = label_key(actual, "actual")
        pair = (actual_key, label_key(predicted, "prediction"))
        scores = (None if probabilities is None and classes is None
                  else _scores(probabilities, classes))
        if scores is not None and count != 1:
            raise ValueError("rows with probabilities are counted one by one")
        self.pairs[pair] = self.pairs.get(pair, 0) + count
        self.rows += count
        if scores is None:
            return
        self.scored_with_probabilities += 1
        listed = False
        for key, index in scores:
            if key not in self.positives and key not in self.negatives:
                self.classes.append(key)
            listed = listed or key == actual_key
            counts = (self.positives if key == actual_key else self.negatives).setdefault(key, {})
            counts[index] = counts.get(index, 0) + 1
        if not listed:
            self.unlisted += 1

    def merge(self, other: ClassificationRollup) -> None:
        for pair, count in other.pairs.items():
            self.pairs[pair] = self.pairs.get(pair, 0) + count
        self.classes.extend(key for key in other.classes if key not in self.classes)
        for mine, theirs in ((self.positives, other.positives),
                             (self.negatives, other.negatives)):
            for key, counts in theirs.items():
                _add_counts(mine.setdefault(key, {}), counts)
        self.unlisted += other.unlisted
        self.rows += other.rows
        self.scored_with_probabilities += other.scored_with_probabilities

    def to_json(self) -> str:
        """Labels as JSON values (their types kept); histograms aligned with
        ``classes``, each a flat ``[gap, count, gap, count, ...]`` list of its indices in
        order, each index given as its distance from the one before (the first, from 0)."""
        return _dumps({
            "kind": "classification", "v": _VERSION, "rows": self.rows,
            "scored_with_probabilities": self.scored_with_probabilities,
            "unlisted": self.unlisted,
            "pairs": [[label_of(a), label_of(p), n] for (a, p), n in sorted(self.pairs.items())],
            "classes": [label_of(key) for key in self.classes],
            "positives": [_flat(self.positives.get(key, {})) for key in self.classes],
            "negatives": [_flat(self.negatives.get(key, {})) for key in self.classes],
        })

    @classmethod
    def from_json(cls, text: str | bytes) -> ClassificationRollup:
        data = _loads(text, "classification")
        rollup = cls(rows=data["rows"], unlisted=data["unlisted"],
                     scored_with_probabilities=data["scored_with_probabilities"])
        rollup.pairs = {(label_key(a), label_key(p)): n for a, p, n in data["pairs"]}
        rollup.classes = [label_key(c) for c in data["classes"]]
        for side, name in ((rollup.positives, "positives"), (rollup.negatives, "negatives")):
            for key, flat in zip(rollup.classes, data[name], strict=True):
                if flat:
                    side[key] = dict(zip(itertools.accumulate(flat[0::2]), flat[1::2],
                                         strict=True))
        return rollup

    def to_bytes(self) -> bytes:
        """``to_json``, compressed."""
        return zlib.compress(self.to_json().encode())

    @classmethod
    def from_bytes(cls, data: bytes | None) -> ClassificationRollup:
        return cls.from_json(zlib.decompress(data)) if data else cls()


@dataclass
class RegressionRollup:
    rows: int = 0
    mean: float = 0.0
    """Of the actuals."""
    spread: float = 0.0
    """Σ(y - mean)² over the actuals."""
    squared_error: float = 0.0
    absolute_error: float = 0.0
    percentage_error: float = 0.0
    """Σ|y - ŷ| / max(|y|, EPS), as ``mean_absolute_percentage_error`` has it."""
    gamma_deviance: float = 0.0
    """Σ 2 (log(ŷ/y) + y/ŷ - 1) over the rows where both are positive."""
    gamma_rows: int = 0
    outside_gamma: int = 0
    """Rows where y or ŷ is not positive: gamma deviance is undefined for the window."""

    def add(self, actual: Any, predicted: Any) -> None:
        """Count one row. Raises ``ValueError`` naming a value that is not a finite number,
        leaving the rollup as it was."""
        y = _number(actual, "actual")
        y_hat = _number(predicted, "prediction")
        error = y - y_hat
        self.rows += 1
        gap = y - self.mean
        self.mean += gap / self.rows
        self.spread += gap * (y - self.mean)
        self.squared_error += error * error
        self.absolute_error += abs(error)
        self.percentage_error += abs(error) / max(abs(y), EPS)
        if y > 0 and y_hat > 0:
            self.gamma_deviance += 2 * (math.log(y_hat / y) + y / y_hat - 1)
            self.gamma_rows += 1
        else:
            self.outside_gamma += 1

    def merge(self, other: RegressionRollup) -> None:
        rows = self.rows + other.rows
        if other.rows:
            gap = other.mean - self.mean
            self.spread += other.spread + gap * gap * self.rows * other.rows / rows
            self.mean += gap * other.rows / rows
        self.rows = rows
        self.squared_error += other.squared_error
        self.absolute_error += other.absolute_error
        self.percentage_error += other.percentage_error
        self.gamma_deviance += other.gamma_deviance
        self.gamma_rows += other.gamma_rows
        self.outside_gamma += other.outside_gamma

    def to_json(self) -> str:
        return _dumps({"kind": "regression", "v": _VERSION, **asdict(self)})

    @classmethod
    def from_json(cls, text: str | bytes) -> RegressionRollup:
        data = _loads(text, "regression")
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})

    def to_bytes(self) -> bytes:
        """``to_json``, compressed."""
        return zlib.compress(self.to_json().encode())

    @classmethod
    def from_bytes(cls, data: bytes | None) -> RegressionRollup:
        return cls.from_json(zlib.decompress(data)) if data else cls()


AccuracyRollup = ClassificationRollup | RegressionRollup


def rollup_for(problem_type: str) -> AccuracyRollup:
    """The empty rollup of ``problem_type`` (one of ``PROBLEM_TYPES``)."""
    if problem_type == "classification":
        return ClassificationRollup()
    if problem_type == "regression":
        return RegressionRollup()
    raise ValueError(f"problem type {problem_type!r} is not one of {', '.join(PROBLEM_TYPES)}")


def rollup_from_bytes(data: bytes) -> AccuracyRollup:
    """A stored rollup (``to_bytes``) of either kind."""
    text = zlib.decompress(data)
    kind = json.loads(text).get("kind")
    if kind == "classification":
        return ClassificationRollup.from_json(text)
    if kind == "regression":
        return RegressionRollup.from_json(text)
    raise ValueError(f"not a stored accuracy rollup (kind {kind!r})")


def _scores(
    probabilities: Sequence[float] | None, classes: Sequence[Any] | None,
) -> list[tuple[str, int]]:
    if probabilities is None or classes is None:
        raise ValueError("probabilities and classes go together")
    keys = [label_key(name, "class") for name in classes]
    values = [_number(p, "probability") for p in probabilities]
    if not keys or len(keys) != len(values):
        raise ValueError(f"{len(values)} probabilities for {len(keys)} classes")
    if len(set(keys)) != len(keys):
        raise ValueError(f"classes {list(classes)!r} repeat a class")
    for value in values:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"probability {value!r} is not between 0 and 1")
    return [(key, _score_index(value)) for key, value in zip(keys, values, strict=True)]


def _add_counts(counts: dict[int, int], more: dict[int, int]) -> None:
    for index, count in more.items():
        counts[index] = counts.get(index, 0) + count


def _flat(counts: dict[int, int]) -> list[int]:
    flat, before = [], 0
    for index, count in sorted(counts.items()):
        flat += (index - before, count)
        before = index
    return flat


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


def _loads(text: str | bytes, kind: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    if data.get("kind") != kind or data.get("v") != _VERSION:
        raise ValueError(f"not a stored {kind} rollup of version {_VERSION}")
    return data
