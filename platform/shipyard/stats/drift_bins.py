"""The bins a feature's live values are counted in, made from the model's baseline, so
that drift over any window compares two histograms on the same bins.

A number is binned by the baseline's quantiles (``NUMBER_BINS`` of them where the
baseline has that many distinct values): bin ``i`` holds the values in
``(edges[i-1], edges[i]]``, the first everything up to ``edges[0]``, the last everything
above the last edge. A category is binned by the baseline's categories (its
``MAX_CATEGORIES`` most frequent), then ``OTHER`` for one the baseline never had. Either
kind ends with a ``MISSING`` bin (no value, or a value of the wrong type).
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_CATEGORIES", "MISSING", "NUMBER_BINS", "OTHER", "Bins", "CategoryBins", "NumberBins",
    "bins_for", "category_of",
]

NUMBER_BINS = 20
MAX_CATEGORIES = 50
OTHER = "other"
MISSING = "missing"


@dataclass(frozen=True)
class NumberBins:
    edges: tuple[float, ...]
    """Ascending and distinct: ``len(edges) + 1`` bins of values, then ``MISSING``."""
    low: float
    high: float
    """The baseline's smallest and largest value: where the outer bins are placed."""
    spread: float
    """The baseline's standard deviation (1 where it has none), which Wasserstein
    distances are divided by."""

    @property
    def size(self) -> int:
        return len(self.edges) + 2

    @property
    def missing(self) -> int:
        return len(self.edges) + 1

    def index(self, value: Any) -> int:
        if not isinstance(value, int | float) or isinstance(value, bool) \
                or not math.isfinite(value):
            return self.missing
        return bisect_left(self.edges, value)

    def centers(self) -> list[float]:
        """A value standing for each bin of values (not ``MISSING``): the middle of its
        edges, the baseline's low and high for the outer ones."""
        bounds = [min(self.low, self.edges[0]) if self.edges else self.low, *self.edges,
                  max(self.high, self.edges[-1]) if self.edges else self.high]
        return [(lo + hi) / 2 for lo, hi in itertools.pairwise(bounds)]

    def labels(self) -> list[str]:
        bounds = ["-inf", *(f"{edge:g}" for edge in self.edges), "inf"]
        return [f"({lo}, {hi}]" for lo, hi in itertools.pairwise(bounds)] + [MISSING]


@dataclass(frozen=True)
class CategoryBins:
    categories: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.categories) + 2

    @property
    def missing(self) -> int:
        return len(self.categories) + 1

    def index(self, value: Any) -> int:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return self.missing
        text = value if isinstance(value, str) else category_of(value)
        try:
            return self.categories.index(text)
        except ValueError:
            return len(self.categories)

    def labels(self) -> list[str]:
        return [*self.categories, OTHER, MISSING]


Bins = NumberBins | CategoryBins


def bins_for(kind: str, baseline: Iterable[Any]) -> Bins:
    """The bins of a feature of ``kind`` (``number`` or ``integer`` are numbers; anything
    else is a category) from its ``baseline`` values."""
    values = list(baseline)
    if kind in ("number", "integer"):
        numbers = sorted(float(v) for v in values if isinstance(v, int | float)
                         and not isinstance(v, bool) and math.isfinite(v))
        return _number_bins(numbers)
    counted = Counter(category_of(v) for v in values if v is not None)
    return CategoryBins(tuple(sorted(name for name, _ in counted.most_common(MAX_CATEGORIES))))


def category_of(value: Any) -> str:
    """The category a value counts as: booleans as JSON spells them, the rest as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _number_bins(numbers: Sequence[float]) -> NumberBins:
    if not numbers:
        return NumberBins((), 0.0, 0.0, 1.0)
    cuts = {numbers[min(len(numbers) - 1, math.ceil(len(numbers) * k / NUMBER_BINS) - 1)]
            for k in range(1, NUMBER_BINS)}
    edges = tuple(sorted(cut for cut in cuts if cut < numbers[-1]))
    mean = sum(numbers) / len(numbers)
    spread = math.sqrt(sum((x - mean) ** 2 for x in numbers) / len(numbers))
    return NumberBins(edges, numbers[0], numbers[-1], spread or 1.0)
