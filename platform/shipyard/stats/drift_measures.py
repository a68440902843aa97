"""How far a live histogram is from the baseline's, on the same bins (``drift_bins``):
PSI, Jensen-Shannon distance, Hellinger distance, Wasserstein distance over the
baseline's standard deviation (numbers), and a test with its p-value, Kolmogorov-Smirnov
for numbers and chi-squared for categories, each as scipy computes it from the counts.

``MISSING`` values count in the distances and the chi-squared test, not in the
Kolmogorov-Smirnov test (they have no place on the number line). A side with fewer than
``MIN_ROWS`` rows is too small to judge: its drift is measured but never flagged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy

from shipyard.stats.drift_bins import Bins, NumberBins

__all__ = ["MIN_ROWS", "PSI_SMOOTHING", "Drift", "DriftThresholds", "drift_between"]

MIN_ROWS = 100
PSI_SMOOTHING = 1e-4
"""Stands for an empty bin's share in PSI's logarithm (as Evidently does)."""



def _scipy() -> Any:
    """scipy, imported when a measure is first computed: its import takes half a second
    that every process reading the thresholds (the CLI too) would pay otherwise."""
    import scipy.spatial.distance
    import scipy.stats

    return scipy

@dataclass(frozen=True)
class DriftThresholds:
    """When drift is flagged: Evidently's and NannyML's defaults for large samples, and
    a test's p-value under ``p_value`` divided by the features tested (Bonferroni, as
    alibi-detect does)."""

    psi: float = 0.2
    js_distance: float = 0.1
    p_value: float = 0.05
    min_rows: int = MIN_ROWS


@dataclass(frozen=True)
class Drift:
    psi: float
    js_distance: float
    hellinger: float
    wasserstein: float | None
    """Numbers only: in baseline standard deviations."""
    test: str
    """``ks`` or ``chi2``."""
    statistic: float
    p_value: float
    reference_rows: int
    current_rows: int

    def too_small(self, thresholds: DriftThresholds) -> bool:
        return min(self.reference_rows, self.current_rows) < thresholds.min_rows

    def flagged(self, thresholds: DriftThresholds, tests: int = 1) -> bool:
        """Whether it drifted, ``tests`` being how many features were tested together."""
        if self.too_small(thresholds):
            return False
        return (self.psi >= thresholds.psi or self.js_distance >= thresholds.js_distance
                or self.p_value < thresholds.p_value / max(1, tests))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def drift_between(
    bins: Bins, reference: Sequence[int], current: Sequence[int],
    sums: tuple[Sequence[float], Sequence[float]] | None = None,
) -> Drift:
    """The drift of ``current`` counts from ``reference`` counts, both per bin of
    ``bins``. For numbers, ``sums`` (the values of each bin added up, reference then
    current) place each side's bins at their own means for the Wasserstein distance,
    which is then off only by the spread inside bins; without them, at the bins'
    centers (``NumberBins.centers``)."""
    ref = numpy.asarray(reference, dtype=float)
    cur = numpy.asarray(current, dtype=float)
    if ref.shape != (bins.size,) or cur.shape != (bins.size,):
        raise ValueError(f"both histograms must have {bins.size} bins")
    n, m = int(ref.sum()), int(cur.sum())
    if not n or not m:
        return Drift(0.0, 0.0, 0.0, None if not isinstance(bins, NumberBins) else 0.0,
                     "ks" if isinstance(bins, NumberBins) else "chi2", 0.0, 1.0, n, m)
    p, q = ref / n, cur / m
    psi = _psi(p, q)
    js = float(_scipy().spatial.distance.jensenshannon(p, q, base=2))
    hellinger = float(math.sqrt(max(0.0, 1.0 - float(numpy.sum(numpy.sqrt(p * q))))))
    if isinstance(bins, NumberBins):
        values = slice(0, bins.missing)
        wasserstein = _wasserstein(bins, ref[values], cur[values], sums)
        statistic, p_value = _ks(ref[values], cur[values])
        return Drift(psi, js, hellinger, wasserstein, "ks", statistic, p_value, n, m)
    statistic, p_value = _chi2(ref, cur)
    return Drift(psi, js, hellinger, None, "chi2", statistic, p_value, n, m)


def _psi(p: numpy.ndarray, q: numpy.ndarray) -> float:
    p = numpy.where(p > 0, p, PSI_SMOOTHING)
    q = numpy.where(q > 0, q, PSI_SMOOTHING)
    return float(numpy.sum((q - p) * numpy.log(q / p)))


def _wasserstein(
    bins: NumberBins, ref: numpy.ndarray, cur: numpy.ndarray,
    sums: tuple[Sequence[float], Sequence[float]] | None,
) -> float | None:
    if not ref.sum() or not cur.sum():
        return None
    centers = numpy.asarray(bins.centers())
    if sums is None:
        ref_at, cur_at = centers, centers
    else:
        ref_at = _means(numpy.asarray(sums[0], dtype=float)[:len(ref)], ref, centers)
        cur_at = _means(numpy.asarray(sums[1], dtype=float)[:len(cur)], cur, centers)
    distance = _scipy().stats.wasserstein_distance(ref_at, cur_at, ref, cur)
    return float(distance / bins.spread)


def _means(sums: numpy.ndarray, counts: numpy.ndarray, centers: numpy.ndarray) -> numpy.ndarray:
    return numpy.where(counts > 0, sums / numpy.where(counts > 0, counts, 1), centers)


def _ks(ref: numpy.ndarray, cur: numpy.ndarray) -> tuple[float, float]:
    """The two-sample statistic at the bins' edges and its asymptotic p-value (scipy's
    ``ks_2samp`` with ``method="asymp"``, from counts)."""
    n, m = ref.sum(), cur.sum()
    if not n or not m:
        return 0.0, 1.0
    gap = float(numpy.max(numpy.abs(numpy.cumsum(ref) / n - numpy.cumsum(cur) / m)))
    effective = n * m / (n + m)
    return gap, float(_scipy().stats.kstwobign.sf(gap * math.sqrt(effective)))


def _chi2(ref: numpy.ndarray, cur: numpy.ndarray) -> tuple[float, float]:
    table = numpy.vstack([ref, cur])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    result = _scipy().stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)
