"""Service stats without processes: histograms, rollups folded in batches, and every
figure a window asks for, checked against the same figure computed from the raw calls."""

from __future__ import annotations

import itertools
import json
import random
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from shipyard.contracts.query_entries import spool_line
from shipyard.contracts.query_record import BATCH_ROLE, QueryRecord
from shipyard.errors import InvalidInput
from shipyard.stats.folding import ReplicaSample, UsageSample, fold_calls, fold_usage
from shipyard.stats.histogram import RELATIVE_ERROR, Histogram
from shipyard.stats.queries import ServiceStats, covering
from shipyard.stats.rollup import DAY, HOUR, MINUTE
from shipyard.stats.windows import MAX_BUCKETS, StatsWindow, parse_bucket_size
from shipyard.store import Base, StatsRollupRow, Store
from shipyard.supervisor.query_ingest import INGESTING_SUFFIX, ingest_spool
from tests.conftest import store_url

SERVICE = "svc_stats"
DAY0 = 1_764_806_400  # a UTC midnight
SLOW_MS = 40.0


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> Iterator[Store]:
    store = Store(store_url(database_url, tmp_path))
    Base.metadata.create_all(store.engine)
    yield store
    store.dispose()


def lower_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def close(estimate: float | None, exact: float) -> bool:
    assert estimate is not None
    return abs(estimate - exact) <= RELATIVE_ERROR * exact + 0.0005  # rounded to µs


# -- histograms ------------------------------------------------------------------------


def test_quantiles_are_within_the_stated_error_and_merging_is_adding() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(3, 1.5) for _ in range(20_000)]
    whole, first, second = Histogram(), Histogram(), Histogram()
    for number, value in enumerate(values):
        whole.add(value)
        (first if number % 3 else second).add(value)
    first.merge(second)
    assert first == whole
    assert Histogram.from_bytes(whole.to_bytes()) == whole
    for q in (0.01, 0.5, 0.9, 0.99, 0.999):
        assert close(whole.quantile(q), lower_quantile(values, q)), q
    assert Histogram().quantile(0.5) is None
    whole.remove(values[0])
    assert whole.total == len(values) - 1


def test_values_at_or_under_a_microsecond_count_as_zero() -> None:
    histogram = Histogram()
    histogram.add(0.0)
    histogram.add(1e-4)
    assert histogram.quantile(0.99) == 0.0


# -- which rollups cover a window ------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_a_window_is_covered_exactly_by_the_longest_rollups(seed: int) -> None:
    rng = random.Random(seed)
    start = DAY0 + rng.randrange(0, 3 * DAY, MINUTE)
    end = start + rng.randrange(MINUTE, 5 * DAY, MINUTE)
    ranges = covering(start, end)
    covered = sorted((lo, hi) for _span, lo, hi in ranges)
    assert covered[0][0] == start and covered[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))
    assert all(lo % span == 0 and hi % span == 0 for span, lo, hi in ranges)
    # No more than a day's worth of hours and an hour's worth of minutes at each end.
    assert sum((hi - lo) // span for span, lo, hi in ranges if span == HOUR) <= 46
    assert sum((hi - lo) // span for span, lo, hi in ranges if span == MINUTE) <= 118


# -- folding and asking ----------------------------------------------------------------


def synthetic_calls(count: int, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    calls = []
    for number in range(count):
        at = DAY0 + rng.uniform(0, 2.5 * DAY) if number % 4 else DAY0 + 3600 + rng.uniform(0, 900)
        latency = rng.lognormvariate(3, 0.8)
        generation = rng.choice(["v1", "v2", None]) if number % 11 else None
        status = rng.choice([200, 200, 200, 201, 302, 404, 401, 500, 504])
        challenged = generation == "v1" and number % 3 == 0
        calls.append({
            "at": datetime.fromtimestamp(at, UTC), "service_id": SERVICE,
            "generation": generation, "status": status, "latency_ms": latency,
            "instance_ms": latency * rng.uniform(0.5, 0.99) if generation else None,
            "predictions": rng.choice([None, 1, 50]), "request_bytes": rng.randrange(1000),
            "response_bytes": rng.randrange(1000), "caller": rng.choice(["", "user:a", "key:b"]),
            "challenger_generation": "v3" if challenged else None,
            "challenger_status": rng.choice([0, 200, 500]) if challenged else None,
            "challenger_latency_ms": latency * 2 if challenged else None,
        })
    return calls


def fold_in_batches(store: Store, calls: list[dict[str, Any]], seed: int = 2) -> None:
    """Fold in batches of random sizes and shuffled order, so that minutes, hours and days
    are each written by several batches."""
    rng = random.Random(seed)
    shuffled = calls[:]
    rng.shuffle(shuffled)
    position = 0
    while position < len(shuffled):
        size = rng.randrange(1, 400)
        with store.writing() as session:
            fold_calls(session, shuffled[position:position + size])
        position += size


def expected(calls: list[dict[str, Any]], role: str = "main") -> dict[str, Any]:
    if role == "challenger":
        calls = [{**c, "status": c["challenger_status"], "latency_ms": c["challenger_latency_ms"],
                  "instance_ms": None} for c in calls]
    latencies = [c["latency_ms"] for c in calls]
    per_minute = sorted(Counter(int(c["at"].timestamp()) // MINUTE for c in calls).values())
    return {
        "total_requests": len(calls),
        "total_predictions": sum((c["predictions"] or 0) for c in calls
                                 if role == "main" or c["status"] < 400),
        "user_errors": sum(400 <= c["status"] < 500 for c in calls),
        "server_errors": sum(c["status"] >= 500 for c in calls),
        "timeouts": sum(c["status"] == 504 for c in calls),
        "num_consumers": len({c["caller"] for c in calls}),
        "latencies": latencies,
        "instance": [c["instance_ms"] for c in calls if c["instance_ms"] is not None],
        "overhead": [c["latency_ms"] - c["instance_ms"] for c in calls
                     if c["instance_ms"] is not None],
        "peak_load": per_minute[-1] if per_minute else 0,
        "median_load": per_minute[(len(per_minute) - 1) // 2] if per_minute else None,
        "slow_around": [c["latency_ms"] for c in calls
                        if abs(c["latency_ms"] - SLOW_MS) <= 2 * RELATIVE_ERROR * SLOW_MS],
        "slow": sum(c["latency_ms"] > SLOW_MS for c in calls),
    }


def assert_figures(figures: dict[str, Any], calls: list[dict[str, Any]], role: str) -> None:
    want = expected(calls, role)
    total = want["total_requests"]
    assert figures["total_requests"] == total
    assert figures["total_predictions"] == want["total_predictions"]
    assert figures["timeouts"] == want["timeouts"]
    assert figures["num_consumers"] == want["num_consumers"]
    assert figures["peak_load"] == want["peak_load"]
    assert figures["user_error_rate"] == pytest.approx(want["user_errors"] / total)
    assert figures["server_error_rate"] == pytest.approx(want["server_errors"] / total)
    assert abs(figures["slow_requests"] - want["slow"]) <= len(want["slow_around"])
    assert abs(figures["median_load"] - want["median_load"]) <= max(
        0.5, RELATIVE_ERROR * want["median_load"] + 0.5)
    for label, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        assert close(figures["response_time"][label], lower_quantile(want["latencies"], q))
        if want["instance"]:
            assert close(figures["execution_time"][label], lower_quantile(want["instance"], q))
            assert close(figures["overhead_time"][label], lower_quantile(want["overhead"], q))


WINDOWS = [
    (DAY0, DAY0 + 3 * DAY),  # whole days
    (DAY0 + 3600 + 420, DAY0 + 3600 + 780),  # minutes inside one hour
    (DAY0 + 5 * 60, DAY0 + 2 * DAY + 7 * 3600 + 17 * 60),  # minutes, hours and days
]


@pytest.mark.parametrize(("start", "end"), WINDOWS)
def test_every_stat_agrees_with_the_raw_calls(store: Store, start: int, end: int) -> None:
    calls = synthetic_calls(6000)
    fold_in_batches(store, calls)
    answer = ServiceStats(store).summary(SERVICE, StatsWindow(start, end), slow_ms=SLOW_MS)
    inside = [c for c in calls if start <= c["at"].timestamp() < end]
    assert_figures(answer["overall"], inside, "main")
    series = {(g["generation"], g["role"]): g for g in answer["generations"]}
    assert list(series) == [("v1", "main"), ("v2", "main"), ("v3", "challenger")]
    for tag in ("v1", "v2"):
        assert_figures(series[(tag, "main")], [c for c in inside if c["generation"] == tag],
                       "main")
    copies = [c for c in inside if c["challenger_generation"] and c["challenger_status"]]
    assert_figures(series[("v3", "challenger")], copies, "challenger")
    assert answer["start"] == datetime.fromtimestamp(start, UTC).isoformat()[:19] + "Z"


def test_stats_over_time_are_the_stats_of_each_bucket(store: Store) -> None:
    calls = synthetic_calls(3000)
    fold_in_batches(store, calls)
    stats = ServiceStats(store)
    window = StatsWindow(DAY0 + 3600, DAY0 + 3600 + 6 * 3600)
    chart = stats.over_time(SERVICE, window, 3600, ["total_requests", "response_time_p90",
                                                     "peak_load"], slow_ms=SLOW_MS)
    overall = chart["series"][0]
    assert (overall["generation"], overall["role"]) == (None, "main")
    assert [s["generation"] for s in chart["series"]] == [None, "v1", "v2", "v3"]
    assert len(overall["buckets"]) == 6
    for bucket, begin in zip(overall["buckets"], range(window.start, window.end, 3600),
                             strict=True):
        inside = [c for c in calls if begin <= c["at"].timestamp() < begin + 3600]
        assert bucket["total_requests"] == len(inside)
        assert close(bucket["response_time_p90"],
                     lower_quantile([c["latency_ms"] for c in inside], 0.9))
        assert bucket["peak_load"] == expected(inside)["peak_load"]
    # The same buckets from per-minute rollups (a window not on whole hours) agree.
    shifted = stats.over_time(SERVICE, StatsWindow(DAY0 + 3660, DAY0 + 3660 + 3600), 600,
                              ["total_requests"], slow_ms=SLOW_MS)
    inside = [c for c in calls if DAY0 + 3660 <= c["at"].timestamp() < DAY0 + 7260]
    assert sum(b["total_requests"] for b in shifted["series"][0]["buckets"]) == len(inside)


def test_a_generation_or_a_role_narrows_the_answer(store: Store) -> None:
    fold_in_batches(store, synthetic_calls(500))
    stats = ServiceStats(store)
    window = StatsWindow(DAY0, DAY0 + 3 * DAY)
    only = stats.summary(SERVICE, window, generation="v3", slow_ms=SLOW_MS)
    assert [(g["generation"], g["role"]) for g in only["generations"]] == [("v3", "challenger")]
    assert only["overall"]["total_requests"] == 0
    main = stats.summary(SERVICE, window, role="main", slow_ms=SLOW_MS)
    assert {g["role"] for g in main["generations"]} == {"main"}


def test_usage_samples_become_a_mean_and_a_maximum_per_generation(store: Store) -> None:
    samples = [UsageSample(SERVICE, "v1", "main", DAY0 + 10 * n, 10.0 * n, 1000 * n, 7 * n)
               for n in range(1, 13)]
    with store.writing() as session:
        fold_usage(session, samples[:6])
    with store.writing() as session:
        fold_usage(session, samples[6:])
    answer = ServiceStats(store).summary(SERVICE, StatsWindow(DAY0, DAY0 + DAY), slow_ms=1)
    (v1,) = answer["generations"]
    assert v1["cpu_percent"] == {"mean": 65.0, "max": 120.0}
    assert v1["memory_bytes"] == {"mean": 6500, "max": 12000}
    assert v1["gpu_memory_bytes"] == {"mean": 46, "max": 84}  # 45.5 rounds to even
    assert v1["total_requests"] == 0 and v1["response_time"]["p50"] is None


def test_replicas_over_time_count_the_rounds_a_generation_ran_none(store: Store) -> None:
    """A generation's replicas at each round of the usage history: scaled up to 4, then
    to zero; the buckets of an hour show the mean and the most it ran."""
    counts = [1, 1, 4, 4, 4, 4, 2, 1, 0, 0, 0, 0]
    with store.writing() as session:
        fold_usage(session, [], [ReplicaSample(SERVICE, "v1", "main", DAY0 + 300 * n, count)
                                 for n, count in enumerate(counts)])
    stats = ServiceStats(store)
    answer = stats.summary(SERVICE, StatsWindow(DAY0, DAY0 + DAY), slow_ms=1)
    (v1,) = answer["generations"]
    assert v1["replicas"] == {"mean": 1.75, "max": 4}
    chart = stats.over_time(SERVICE, StatsWindow(DAY0, DAY0 + 3600), 1800,
                            ["replicas_mean", "replicas_max"], slow_ms=1)
    (series,) = [entry for entry in chart["series"] if entry.get("generation") == "v1"]
    assert [(b["replicas_mean"], b["replicas_max"]) for b in series["buckets"]] == [
        (3.0, 4), (0.5, 2)]
    # A service that never counted replicas says so, not zero.
    assert answer["overall"]["replicas"] == {"mean": None, "max": None}


# -- exact-once ------------------------------------------------------------------------


def spool_calls(directory: Path, name: str, count: int) -> None:
    lines = [spool_line(QueryRecord(
        at=DAY0 + number, request_id=f"{name}-{number}", service_id=SERVICE, generation="v1",
        method="POST", path="/p", status=200, latency_ms=5.0, instance_ms=4.0,
        caller="user:a", predictions=2,
    )) for number in range(count)]
    lines.insert(3, "{not json\n")
    (directory / f"{name}.jsonl").write_text("".join(lines))


def totals(store: Store) -> int:
    with store.reading() as session:
        return sum(session.scalars(select(StatsRollupRow.calls).where(
            StatsRollupRow.generation == "v1")))


def test_a_replayed_spool_file_adds_nothing_and_a_corrupt_line_is_set_aside(
    store: Store, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    spool_calls(spool, "first", 100)
    copy = tmp_path / "first.jsonl"
    shutil.copy(spool / "first.jsonl", copy)
    assert ingest_spool(store, spool) == 100
    assert totals(store) == 3 * 100  # minute, hour and day rollups
    # The supervisor died after the commit, before removing the claimed file.
    shutil.copy(copy, spool / ("first" + INGESTING_SUFFIX))
    assert ingest_spool(store, spool) == 0
    assert totals(store) == 3 * 100
    quarantined = (spool / "quarantine" / "first.jsonl").read_text()
    assert quarantined == "{not json\n"
    answer = ServiceStats(store).summary(SERVICE, StatsWindow(DAY0, DAY0 + DAY), slow_ms=1)
    assert answer["overall"]["total_predictions"] == 200


def test_a_batch_jobs_calls_count_in_their_own_role_and_move_no_live_figure(
    store: Store, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    lines = [spool_line(QueryRecord(
        at=DAY0 + number, request_id=f"c-{number}", service_id=SERVICE, generation="v1",
        method="POST", path="/p", status=200, latency_ms=5.0 if live else 900.0,
        instance_ms=4.0, caller="user:a", predictions=1 if live else 500,
        role=None if live else BATCH_ROLE,
    )) for number, live in enumerate([True] * 30 + [False] * 10)]
    (spool / "calls.jsonl").write_text("".join(lines))
    assert ingest_spool(store, spool) == 40
    stats = ServiceStats(store)
    window = StatsWindow(DAY0, DAY0 + DAY)
    answer = stats.summary(SERVICE, window, slow_ms=100)
    assert answer["overall"]["total_requests"] == 30
    assert answer["overall"]["response_time"]["p99"] < 10
    figures = {(g["generation"], g["role"]): g for g in answer["generations"]}
    assert figures[("v1", "main")]["total_predictions"] == 30
    assert figures[("v1", "batch")]["total_requests"] == 10
    assert figures[("v1", "batch")]["total_predictions"] == 5000
    batch = stats.summary(SERVICE, window, role="batch", slow_ms=100)
    assert [(g["generation"], g["role"]) for g in batch["generations"]] == [("v1", "batch")]


# -- bad questions ---------------------------------------------------------------------


NOW = datetime(2026, 12, 4, 12, 30, tzinfo=UTC)


def test_the_default_window_is_the_last_week_up_to_the_next_whole_hour() -> None:
    window = StatsWindow.parse(None, None, now=NOW)
    assert window.as_dict() == {"start": "2026-11-27T13:00:00Z", "end": "2026-12-04T13:00:00Z"}
    rounded = StatsWindow.parse("2026-12-04T10:00:30Z", "2026-12-04T10:05:01Z", now=NOW)
    assert rounded.as_dict() == {"start": "2026-12-04T10:00:00Z", "end": "2026-12-04T10:06:00Z"}


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [("2026-12-04T10:00:00Z", "2026-12-04T09:00:00Z", "ends (2026-12-04T09:00:00Z) before"),
     ("yesterday", None, "start 'yesterday' is not a time")],
)
def test_a_bad_window_is_refused(start: str, end: str | None, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        StatsWindow.parse(start, end, now=NOW)


@pytest.mark.parametrize(
    ("text", "seconds"), [("PT1M", 60), ("pt15m", 900), ("PT1H", 3600), ("P1D", 86400),
                          ("P1W", 604800), ("PT1H30M", 5400), ("PT120S", 120)],
)
def test_bucket_sizes_are_iso_8601_durations(text: str, seconds: int) -> None:
    assert parse_bucket_size(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [("PT30S", "whole minutes"), ("PT90S", "whole minutes"), ("P1M", "not an ISO 8601"),
     ("1h", "not an ISO 8601"), ("PT", "not an ISO 8601"), ("P", "not an ISO 8601"),
     ("P1DT", "not an ISO 8601")],
)
def test_a_bad_bucket_size_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_bucket_size(text)


def test_too_many_buckets_an_unknown_metric_generation_or_role_are_refused(
    store: Store,
) -> None:
    fold_in_batches(store, synthetic_calls(50))
    stats = ServiceStats(store)
    window = StatsWindow(DAY0, DAY0 + 7 * DAY)
    with pytest.raises(InvalidInput, match=f"at most {MAX_BUCKETS}"):
        stats.over_time(SERVICE, window, MINUTE, ["total_requests"], slow_ms=1)
    with pytest.raises(InvalidInput, match="unknown metric 'latency'"):
        stats.over_time(SERVICE, window, HOUR, ["latency"], slow_ms=1)
    with pytest.raises(InvalidInput, match="no generation v9"):
        stats.summary(SERVICE, window, generation="v9", slow_ms=1)
    with pytest.raises(InvalidInput, match="tag such as v2"):
        stats.summary(SERVICE, window, generation="latest", slow_ms=1)
    with pytest.raises(InvalidInput, match="role must be one of main, challenger"):
        stats.summary(SERVICE, window, role="shadow", slow_ms=1)
    # A generation known only from its stats (deleted since) is still asked about.
    assert stats.summary(SERVICE, window, generation="v2", slow_ms=1)["generations"]
    assert json.dumps(stats.summary(SERVICE, window, slow_ms=1))  # plain JSON


def test_stats_past_their_retention_are_dropped_span_by_span(store: Store) -> None:
    from shipyard.stats.retention import prune_stats

    fold_in_batches(store, synthetic_calls(300))
    stats = ServiceStats(store)
    window = StatsWindow(DAY0, DAY0 + 3 * DAY)
    before = stats.summary(SERVICE, window, slow_ms=1)["overall"]["total_requests"]
    assert prune_stats(store, 0, now=DAY0 + 500 * DAY) == 0  # 0 keeps everything
    # 400 days after the second day ended: the first two days go, the third stays.
    removed = prune_stats(store, 400, now=DAY0 + 402 * DAY)
    assert removed > 0
    after = stats.summary(SERVICE, window, slow_ms=1)["overall"]["total_requests"]
    third = sum(c["at"].timestamp() >= DAY0 + 2 * DAY for c in synthetic_calls(300))
    assert (before, after) == (300, third)


def test_drift_and_accuracy_rollups_past_the_stats_retention_are_dropped_too(
    store: Store,
) -> None:
    from sqlalchemy import insert

    from shipyard.stats.retention import prune_stats
    from shipyard.store import AccuracyRollupRow, DriftRollupRow

    hours = [DAY0, DAY0 + 23 * HOUR, DAY0 + DAY, DAY0 + 2 * DAY]
    with store.writing() as session:
        session.execute(insert(DriftRollupRow), [
            {"service_id": SERVICE, "start": start, "generation": "v1", "role": "main",
             "rows": 1, "predicted_rows": 1, "data_errors": 0, "counts": b"", "sums": b""}
            for start in hours])
        session.execute(insert(AccuracyRollupRow), [
            {"service_id": SERVICE, "start": start, "generation": "v1", "role": role,
             "problem_type": "classification", "rows": 1, "rollup": b"x"}
            for start in hours for role in ("main", "batch")])
    assert prune_stats(store, 0, now=DAY0 + 500 * DAY) == 0  # 0 keeps everything
    # 400 days after the first day ended: its hours go, the next days' stay.
    assert prune_stats(store, 400, now=DAY0 + 401 * DAY) == 2 + 4
    with store.reading() as session:
        assert sorted(session.scalars(select(DriftRollupRow.start))) == hours[2:]
        assert sorted(session.scalars(select(AccuracyRollupRow.start))) == sorted(
            hours[2:] * 2)


def test_the_lines_set_aside_are_counted_for_the_supervisors_figures(
    store: Store, tmp_path: Path
) -> None:
    from shipyard.settings import Settings
    from shipyard.supervisor.housekeeping import Housekeeping

    home = tmp_path / "home"
    spool = home / "run" / "query-spool"
    spool.mkdir(parents=True)
    spool_calls(spool, "first", 10)
    spool_calls(spool, "second", 10)
    housekeeping = Housekeeping(store, Settings(home=home), prune_interval=1e9,
                                renewal_interval=1e9)
    housekeeping.run()
    assert housekeeping.lines_set_aside == 2
    assert totals(store) == 3 * 20
