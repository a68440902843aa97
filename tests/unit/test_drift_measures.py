"""Drift measured on binned histograms: the bins the baseline makes, and every measure
against scipy on the raw samples, for data with known shifts and for data without."""

from __future__ import annotations

import numpy
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from shipyard.stats.drift_bins import (
    MISSING,
    NUMBER_BINS,
    OTHER,
    CategoryBins,
    NumberBins,
    bins_for,
)
from shipyard.stats.drift_measures import Drift, DriftThresholds, drift_between

RNG = numpy.random.default_rng(17)
BASELINE = RNG.normal(10.0, 2.0, 5000)
THRESHOLDS = DriftThresholds()


def counts(bins: NumberBins | CategoryBins, values: object) -> list[int]:
    histogram = [0] * bins.size
    for value in values:  # type: ignore[attr-defined]
        histogram[bins.index(value)] += 1
    return histogram


def sums(bins: NumberBins, values: numpy.ndarray) -> list[float]:
    added = [0.0] * bins.size
    for value in values.tolist():
        added[bins.index(value)] += value
    return added


def measured(live: numpy.ndarray) -> tuple[Drift, NumberBins]:
    bins = bins_for("number", BASELINE.tolist())
    assert isinstance(bins, NumberBins)
    drift = drift_between(bins, counts(bins, BASELINE.tolist()), counts(bins, live.tolist()),
                          (sums(bins, BASELINE), sums(bins, live)))
    return drift, bins


def test_number_bins_are_the_baselines_quantiles_and_end_with_missing() -> None:
    bins = bins_for("number", BASELINE.tolist())
    assert isinstance(bins, NumberBins)
    assert bins.size == NUMBER_BINS + 1
    shares = numpy.array(counts(bins, BASELINE.tolist())[:-1]) / len(BASELINE)
    assert numpy.allclose(shares, 1 / NUMBER_BINS, atol=0.002)
    assert bins.index(None) == bins.index("7") == bins.index(float("nan")) == bins.missing
    assert bins.index(-1e9) == 0 and bins.index(1e9) == NUMBER_BINS - 1
    assert bins.labels()[-1] == MISSING
    assert bins.spread == pytest.approx(BASELINE.std())


def test_category_bins_are_the_baselines_categories_then_other_and_missing() -> None:
    bins = bins_for("string", ["a", "b", "a", None, "c"])
    assert isinstance(bins, CategoryBins)
    assert bins.labels() == ["a", "b", "c", OTHER, MISSING]
    assert [bins.index(v) for v in ("a", "c", "z", None)] == [0, 2, 3, 4]
    assert bins_for("boolean", [True, False]).labels() == ["false", "true", OTHER, MISSING]


def test_the_same_distribution_is_not_flagged() -> None:
    drift, _ = measured(RNG.normal(10.0, 2.0, 5000))
    assert not drift.flagged(THRESHOLDS)
    assert drift.psi < 0.02 and drift.js_distance < 0.05 and drift.p_value > 0.01


@pytest.mark.parametrize("live", [
    pytest.param(RNG.normal(11.0, 2.0, 5000), id="shifted mean"),
    pytest.param(RNG.normal(10.0, 4.0, 5000), id="changed variance"),
])
def test_a_shift_is_flagged_and_agrees_with_scipy_on_the_raw_samples(
    live: numpy.ndarray,
) -> None:
    drift, _ = measured(live)
    assert drift.flagged(THRESHOLDS)
    raw = stats.ks_2samp(BASELINE, live, method="asymp")
    # The binned statistic is the raw one read at the bins' edges only: never above it,
    # and below it by at most the two shares of one bin.
    assert drift.statistic <= raw.statistic + 1e-12
    assert raw.statistic - drift.statistic <= 2 / NUMBER_BINS + 0.02
    assert raw.pvalue < 0.05 and drift.p_value < 0.05
    raw_wasserstein = stats.wasserstein_distance(BASELINE, live) / BASELINE.std()
    # Off only by the spread of values inside each bin.
    assert drift.wasserstein == pytest.approx(raw_wasserstein, abs=0.05)
    assert (drift.reference_rows, drift.current_rows) == (5000, 5000)


def test_the_distances_are_computed_on_the_binned_shares() -> None:
    bins = bins_for("number", BASELINE.tolist())
    reference = counts(bins, BASELINE.tolist())
    current = counts(bins, RNG.normal(10.5, 2.0, 3000).tolist())
    drift = drift_between(bins, reference, current)
    p, q = numpy.array(reference) / 5000, numpy.array(current) / 3000
    smoothed_p, smoothed_q = numpy.where(p > 0, p, 1e-4), numpy.where(q > 0, q, 1e-4)
    assert drift.psi == pytest.approx(
        float(numpy.sum((smoothed_q - smoothed_p) * numpy.log(smoothed_q / smoothed_p))))
    assert drift.js_distance == pytest.approx(float(jensenshannon(p, q, base=2)))
    assert drift.hellinger == pytest.approx(numpy.sqrt(1 - numpy.sum(numpy.sqrt(p * q))))
    assert drift.test == "ks"


def test_a_new_category_is_flagged_by_chi_squared_as_scipy_computes_it() -> None:
    baseline = ["red"] * 500 + ["blue"] * 500
    live = ["red"] * 400 + ["blue"] * 400 + ["green"] * 200
    bins = bins_for("string", baseline)
    drift = drift_between(bins, counts(bins, baseline), counts(bins, live))
    assert drift.test == "chi2" and drift.wasserstein is None
    table = [[500, 500, 0], [400, 400, 200]]  # blue, red, other (green)
    expected = stats.chi2_contingency(table, correction=False)
    assert drift.statistic == pytest.approx(expected.statistic)
    assert drift.p_value == pytest.approx(expected.pvalue)
    assert drift.flagged(THRESHOLDS)


def test_a_small_window_is_too_small_to_judge_and_bonferroni_divides_the_level() -> None:
    drift, _ = measured(RNG.normal(14.0, 2.0, 50))
    assert drift.too_small(THRESHOLDS) and not drift.flagged(THRESHOLDS)
    borderline = Drift(0.01, 0.01, 0.01, 0.0, "ks", 0.05, 0.01, 1000, 1000)
    assert borderline.flagged(THRESHOLDS, tests=1)
    assert not borderline.flagged(THRESHOLDS, tests=10)  # 0.01 is not under 0.05 / 10


def test_histograms_of_other_sizes_are_refused() -> None:
    bins = bins_for("string", ["a"])
    with pytest.raises(ValueError, match="3 bins"):
        drift_between(bins, [1, 0], [1, 0, 0])
