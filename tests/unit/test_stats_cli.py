"""``shipyard stats``'s pieces that need no server: sparklines and bucket sizes (the
command itself runs against a real ``shipyard up`` in tests/integration/test_stats.py)."""

from __future__ import annotations

import pytest

from shipyard.cli.stats import SPARK, iso_bucket, sparkline


def test_a_sparkline_scales_from_zero_to_the_largest_and_leaves_gaps_blank() -> None:
    assert sparkline([0, 1, 2, 4, 8]) == SPARK[0] + SPARK[1] + SPARK[2] + SPARK[4] + SPARK[7]
    assert sparkline([None, 3, None]) == f" {SPARK[7]} "
    assert sparkline([0, 0]) == SPARK[0] * 2
    assert sparkline([]) == ""


def test_a_long_series_is_averaged_down_to_the_width() -> None:
    line = sparkline([float(n % 2) for n in range(100)] + [None] * 100, width=10)
    assert len(line) == 10
    assert line[:5] == SPARK[7] * 5  # each the mean of a 0 and a 1: the largest
    assert line[5:] == " " * 5


@pytest.mark.parametrize(("short", "iso"), [
    ("1m", "PT1M"), ("15m", "PT15M"), ("1h", "PT1H"), ("1d", "P1D"), ("2w", "P2W"),
    ("30s", "PT30S"), ("PT1H", "PT1H"), ("P1D", "P1D"),
])
def test_short_bucket_sizes_become_iso_8601(short: str, iso: str) -> None:
    assert iso_bucket(short) == iso
