"""``DriftProfile``: how one model generation's live rows are binned, and the reference they
are compared with.

A profile is made from the model's baseline (its records of features, no target): each
feature's bins (``drift_bins``) and the baseline's counts in them. The prediction's bins
and reference come from the model's own predictions on that baseline, which only the
service's instance can make (the control plane never runs a model): until the supervisor
has them, a profile has features only, and target drift is unknown. The instance tells
the features' importance at the same time, where its model has any.

Its bins lie end to end in one flat array, features in the model's order and then the
prediction, so that a rollup of live rows is two numpy arrays (counts, and the values of
each number's bin summed) that merge by adding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy

from shipyard.stats.drift_bins import Bins, CategoryBins, NumberBins, bins_for, category_of

__all__ = ["PREDICTION", "DriftProfile", "Slot", "profile_from_baseline"]

PREDICTION = "prediction"
"""The name the prediction goes by beside the features (target drift)."""
NUMBER_TYPES = ("number", "integer")


@dataclass(frozen=True)
class Slot:
    """One feature (or the prediction) and where its bins lie in the flat arrays."""

    name: str
    type: str
    """The model's type for it: number, integer, string or boolean (the prediction:
    number for a regression, string for a classification)."""
    bins: Bins
    offset: int

    @property
    def numeric(self) -> bool:
        return isinstance(self.bins, NumberBins)

    @property
    def span(self) -> slice:
        return slice(self.offset, self.offset + self.bins.size)

    def to_dict(self) -> dict[str, Any]:
        if isinstance(self.bins, NumberBins):
            bins: dict[str, Any] = {"edges": list(self.bins.edges), "low": self.bins.low,
                                    "high": self.bins.high, "spread": self.bins.spread}
        else:
            bins = {"categories": list(self.bins.categories)}
        return {"name": self.name, "type": self.type, "bins": bins}


@dataclass(frozen=True)
class DriftProfile:
    problem_type: str
    features: tuple[Slot, ...]
    prediction: Slot | None
    reference_counts: numpy.ndarray
    reference_sums: numpy.ndarray
    baseline_rows: int
    importance: Mapping[str, float] | None = None
    """Each feature's importance to the model (adding up to 1), as its instance said."""
    baseline_accuracy: Mapping[str, Any] | None = None
    """The model's metrics on its baseline, where the baseline holds the target."""

    @property
    def size(self) -> int:
        last = self.prediction or (self.features[-1] if self.features else None)
        return 0 if last is None else last.offset + last.bins.size

    def slot(self, name: str) -> Slot | None:
        if name == PREDICTION:
            return self.prediction
        return next((slot for slot in self.features if slot.name == name), None)

    def same_bins(self, other: DriftProfile) -> bool:
        """Whether rollups made by ``other`` can be merged with this one's."""
        return self.to_dict()["slots"] == other.to_dict()["slots"]

    def with_predictions(
        self, predictions: Sequence[Any], importance: Mapping[str, float] | None = None,
        baseline_accuracy: Mapping[str, Any] | None = None,
    ) -> DriftProfile:
        """This profile with the prediction's bins and reference, from the model's
        ``predictions`` on the baseline records, the features' ``importance`` and the
        model's metrics on its baseline."""
        kind = "number" if self.problem_type == "regression" else "string"
        offset = self.features[-1].offset + self.features[-1].bins.size if self.features else 0
        slot = Slot(PREDICTION, kind, bins_for(kind, predictions), offset)
        counts = numpy.zeros(slot.bins.size, dtype=numpy.int64)
        sums = numpy.zeros(slot.bins.size, dtype=numpy.float64)
        count_values(slot, list(predictions), counts, sums, -offset)
        features = slice(0, offset)
        return DriftProfile(
            self.problem_type, self.features, slot,
            numpy.concatenate([self.reference_counts[features], counts]),
            numpy.concatenate([self.reference_sums[features], sums]), self.baseline_rows,
            dict(importance) if importance is not None else self.importance,
            dict(baseline_accuracy) if baseline_accuracy is not None
            else self.baseline_accuracy,
        )

    def to_dict(self) -> dict[str, Any]:
        slots = [slot.to_dict() for slot in self.features]
        return {
            "problem_type": self.problem_type,
            "slots": slots + ([self.prediction.to_dict()] if self.prediction else []),
            "has_prediction": self.prediction is not None,
            "reference_counts": self.reference_counts.tolist(),
            "reference_sums": self.reference_sums.tolist(),
            "baseline_rows": self.baseline_rows,
            "importance": dict(self.importance) if self.importance is not None else None,
            "baseline_accuracy": (dict(self.baseline_accuracy)
                                  if self.baseline_accuracy is not None else None),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftProfile:
        slots: list[Slot] = []
        offset = 0
        for raw in data["slots"]:
            bins_data = raw["bins"]
            bins: Bins
            if "edges" in bins_data:
                bins = NumberBins(tuple(bins_data["edges"]), bins_data["low"],
                                  bins_data["high"], bins_data["spread"])
            else:
                bins = CategoryBins(tuple(bins_data["categories"]))
            slots.append(Slot(raw["name"], raw["type"], bins, offset))
            offset += bins.size
        prediction = slots.pop() if data["has_prediction"] else None
        return cls(
            data["problem_type"], tuple(slots), prediction,
            numpy.asarray(data["reference_counts"], dtype=numpy.int64),
            numpy.asarray(data["reference_sums"], dtype=numpy.float64), data["baseline_rows"],
            data.get("importance"), data.get("baseline_accuracy"),
        )


def profile_from_baseline(
    features: Sequence[Mapping[str, str]], problem_type: str,
    baseline: Sequence[Mapping[str, Any]],
) -> DriftProfile:
    """The features-only profile of a model with ``features`` ({name, type}) and
    ``baseline`` records."""
    slots: list[Slot] = []
    offset = 0
    for feature in features:
        name, kind = feature["name"], feature.get("type", "string")
        bins = bins_for(kind, (record.get(name) for record in baseline))
        slots.append(Slot(name, kind, bins, offset))
        offset += bins.size
    counts = numpy.zeros(offset, dtype=numpy.int64)
    sums = numpy.zeros(offset, dtype=numpy.float64)
    for slot in slots:
        count_values(slot, [record.get(slot.name) for record in baseline], counts, sums, 0)
    return DriftProfile(problem_type, tuple(slots), None, counts, sums, len(baseline))


def count_values(
    slot: Slot, values: Sequence[Any], counts: numpy.ndarray, sums: numpy.ndarray, base: int
) -> numpy.ndarray:
    """Add ``values`` of ``slot`` into ``counts`` and ``sums`` (flat arrays whose slot
    ``base`` is the profile's slot 0); which of them were missing or of the wrong type
    (counted in the ``missing`` bin)."""
    if not values:
        return numpy.zeros(0, dtype=bool)
    start = base + slot.offset
    bins = slot.bins
    if isinstance(bins, NumberBins):
        numbers = numpy.fromiter((_number(value) for value in values), dtype=numpy.float64,
                                 count=len(values))
        known = ~numpy.isnan(numbers)
        indexes = numpy.full(len(values), bins.missing, dtype=numpy.int64)
        indexes[known] = numpy.searchsorted(numpy.asarray(bins.edges, dtype=numpy.float64),
                                            numbers[known], side="left")
        counts[start:start + bins.size] += numpy.bincount(indexes, minlength=bins.size)
        sums[start:start + bins.size] += numpy.bincount(
            indexes[known], weights=numbers[known], minlength=bins.size)
        return ~known
    index = _category_index(bins)
    other, missing = len(bins.categories), bins.missing
    fits = _CATEGORY_TYPES.get(slot.type)
    found = [missing if value is None or (fits is not None and not isinstance(value, fits))
             or (isinstance(value, float) and value != value)
             else index.get(category_of(value), other) for value in values]
    placed = numpy.asarray(found, dtype=numpy.int64)
    counts[start:start + bins.size] += numpy.bincount(placed, minlength=bins.size)
    return placed == missing


# A category's values of another type (a number for a string feature) are missing: the
# model service refuses them, and a custom service's model cannot have seen them.
_CATEGORY_TYPES: dict[str, type | tuple[type, ...]] = {"string": str, "boolean": bool}


def _number(value: Any) -> float:
    """``value`` as a float; NaN (counted as missing) for anything not a finite number."""
    if type(value) is float or (isinstance(value, int) and not isinstance(value, bool)):
        number = float(value)
        return number if number - number == 0 else numpy.nan
    return numpy.nan


_INDEXES: dict[tuple[str, ...], dict[str, int]] = {}


def _category_index(bins: CategoryBins) -> dict[str, int]:
    found = _INDEXES.get(bins.categories)
    if found is None:
        if len(_INDEXES) > 1024:
            _INDEXES.clear()
        found = _INDEXES[bins.categories] = {name: i for i, name in enumerate(bins.categories)}
    return found

