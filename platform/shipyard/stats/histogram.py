"""``Histogram``: a mergeable histogram of positive values (latencies in milliseconds,
calls per minute) in log-spaced buckets.

Bucket ``i`` holds the values in ``(GAMMA**(i-1), GAMMA**i]``, and a quantile is answered
with the value ``2 * GAMMA**i / (GAMMA + 1)``, which is within ``RELATIVE_ERROR`` (under
2%) of every value of its bucket. Values at or under ``SMALLEST`` share bucket
``ZERO_INDEX``. Merging two histograms adds their counts, so a histogram of an hour is
the sum of its minutes'.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable

import numpy

__all__ = ["GAMMA", "RELATIVE_ERROR", "SMALLEST", "Histogram"]

GAMMA = 1.04
RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1)
"""How far a quantile may be from the true value, relatively (0.0196)."""
SMALLEST = 1e-3
ZERO_INDEX = math.floor(math.log(SMALLEST) / math.log(GAMMA))
_LOG_GAMMA = math.log(GAMMA)


class Histogram:
    """Counts per bucket index (see the module)."""

    __slots__ = ("counts",)

    def __init__(self, counts: dict[int, int] | None = None) -> None:
        self.counts: dict[int, int] = counts if counts is not None else {}

    @staticmethod
    def index_of(value: float) -> int:
        if value <= SMALLEST:
            return ZERO_INDEX
        return math.ceil(math.log(value) / _LOG_GAMMA)

    def add(self, value: float, count: int = 1) -> None:
        index = self.index_of(value)
        self.counts[index] = self.counts.get(index, 0) + count

    def remove(self, value: float, count: int = 1) -> None:
        index = self.index_of(value)
        left = self.counts.get(index, 0) - count
        if left > 0:
            self.counts[index] = left
        else:
            self.counts.pop(index, None)

    def merge(self, other: Histogram) -> None:
        counts = self.counts
        for index, count in other.counts.items():
            counts[index] = counts.get(index, 0) + count

    @classmethod
    def summed(cls, stored: Iterable[bytes]) -> Histogram:
        """The sum of stored histograms (``to_bytes``), in one pass of numpy over all of
        them: what a question does with the hundreds of rollups it reads."""
        data = b"".join(stored)
        if not data:
            return cls()
        pairs = numpy.frombuffer(data, dtype=numpy.int64).reshape(-1, 2)
        low = int(pairs[:, 0].min())
        sums = numpy.bincount(pairs[:, 0] - low, weights=pairs[:, 1])
        present = numpy.flatnonzero(sums)
        return cls({int(index) + low: int(sums[index]) for index in present})

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0 to 1), within ``RELATIVE_ERROR``; None when empty."""
        return self.quantiles([q])[0]

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        wanted = list(qs)
        total = self.total
        if not total:
            return [None] * len(wanted)
        ordered = sorted(self.counts.items())
        answers: list[float | None] = []
        for q in wanted:
            rank = q * (total - 1)
            seen = 0
            for index, count in ordered:
                seen += count
                if seen > rank:
                    answers.append(_value_of(index))
                    break
        return answers

    def count_above(self, threshold: float) -> int:
        """How many values lie above ``threshold``, to the bucket it falls in: a bucket
        counts when its representative value is above it."""
        return sum(count for index, count in self.counts.items()
                   if _value_of(index) > threshold)

    def to_bytes(self) -> bytes:
        flat = array("q")
        for index, count in sorted(self.counts.items()):
            flat.append(index)
            flat.append(count)
        return flat.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes | None) -> Histogram:
        if not data:
            return cls()
        flat = array("q")
        flat.frombytes(data)
        return cls(dict(zip(flat[0::2], flat[1::2], strict=True)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Histogram) and self.counts == other.counts

    def __repr__(self) -> str:
        return f"Histogram({self.counts!r})"


def _value_of(index: int) -> float:
    if index <= ZERO_INDEX:
        return 0.0
    return 2 * GAMMA**index / (GAMMA + 1)
