"""What service stats cost: the ingest with and without rollups, and a stats question over
30 days of per-minute rollups as the calls behind them grow tenfold.

    python bench/stats.py [--calls 50000] [--rounds 3] [--query-calls 1000000 10000000]

Ingest: spool files of ``--calls`` synthetic calls (two generations, a challenger on a
third of them, a few callers), written as the gateway writes them, then moved into a
SQLite store by the supervisor's ingest (``ingest_spool``): once with the rollups folded
in the same transaction, once without (the fold replaced by nothing), alternating
``--rounds`` times. It prints calls per second of each and of the fold alone.

Query: for each count in ``--query-calls``, a fresh store gets 30 days of rollups for a
service with two generations (main) and a challenger, made by the stats' own fold from
that many synthetic calls spread evenly over every minute; then the median time of
``ServiceStats.summary`` over the last 30 days (a window that is not on whole days, so it
reads daily, hourly and per-minute rollups) and of ``over_time`` in hourly buckets.
Everything runs in temporary directories on this machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard.contracts.query_entries import spool_line
from shipyard.contracts.query_record import QueryRecord
from shipyard.stats import folding
from shipyard.stats.folding import Key, fold_minutes
from shipyard.stats.health_thresholds import DEFAULT_SLOW_REQUEST_MS
from shipyard.stats.queries import ServiceStats
from shipyard.stats.rollup import DAY, MINUTE, Rollup
from shipyard.stats.windows import StatsWindow
from shipyard.store import Store
from shipyard.supervisor import query_ingest

SERVICE = "svc_bench"
CALLERS = ("user:admin", "key:ak_1", "key:ak_2", "")


def new_store(directory: Path) -> Store:
    store = Store(f"sqlite:///{directory / 'registry.db'}")
    store.migrate()
    return store


# -- ingest -------------------------------------------------------------------------------


def write_spool(spool: Path, label: str, calls: int, per_file: int = 5000) -> None:
    """``calls`` calls over the last hour, in files of ``per_file`` (a busy gateway's
    flushes)."""
    rng = random.Random(label)
    start = time.time() - 3600
    for first in range(0, calls, per_file):
        lines = []
        for number in range(first, min(first + per_file, calls)):
            latency = rng.lognormvariate(3, 0.7)
            challenged = number % 3 == 0
            lines.append(spool_line(QueryRecord(
                at=start + number * 3600 / calls, request_id=f"{label}-{number}",
                service_id=SERVICE, generation="v1" if number % 2 else "v2", method="POST",
                path="/predict", status=200 if number % 20 else 500, latency_ms=latency,
                instance_ms=latency * 0.9, request_bytes=300, response_bytes=80,
                caller=CALLERS[number % len(CALLERS)], predictions=10,
                challenger_generation="v3" if challenged else None,
                challenger_status=200 if challenged else None,
                challenger_latency_ms=latency * 1.1 if challenged else None,
            )))
        (spool / f"{label}-{first:09d}.jsonl").write_text("".join(lines), encoding="utf-8")


def ingest_rate(store: Store, spool: Path, label: str, calls: int,
                fold: Callable[..., Any]) -> float:
    write_spool(spool, label, calls)
    query_ingest.fold_calls = fold  # type: ignore[attr-defined]
    started = time.perf_counter()
    ingested = 0
    while ingested < calls:
        ingested += query_ingest.ingest_spool(store, spool)
    return calls / (time.perf_counter() - started)


def fold_rate(calls: int) -> float:
    rng = random.Random(3)
    start = time.time() - 3600
    from datetime import UTC, datetime
    rows = [{
        "at": datetime.fromtimestamp(start + number * 3600 / calls, UTC),
        "service_id": SERVICE, "generation": "v1" if number % 2 else "v2",
        "status": 200, "latency_ms": (latency := rng.lognormvariate(3, 0.7)),
        "instance_ms": latency * 0.9, "predictions": 10, "request_bytes": 300,
        "response_bytes": 80, "caller": CALLERS[number % len(CALLERS)],
        "challenger_generation": "v3" if number % 3 == 0 else None,
        "challenger_status": 200 if number % 3 == 0 else None,
        "challenger_latency_ms": latency * 1.1 if number % 3 == 0 else None,
    } for number in range(calls)]
    with tempfile.TemporaryDirectory() as directory:
        store = new_store(Path(directory))
        started = time.perf_counter()
        for first in range(0, calls, 5000):
            with store.writing() as session:
                folding.fold_calls(session, rows[first:first + 5000])
        elapsed = time.perf_counter() - started
        store.dispose()
    return calls / elapsed


def bench_ingest(calls: int, rounds: int) -> None:
    real_fold = folding.fold_calls
    rates: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as directory:
        store = new_store(Path(directory))
        spool = Path(directory) / "spool"
        spool.mkdir()
        for round_number in range(rounds):
            for label, fold in (("without rollups", lambda session, rows: 0),
                                ("with rollups", real_fold)):
                rates[label].append(ingest_rate(
                    store, spool, f"{label.split()[0]}{round_number}", calls, fold))
        query_ingest.fold_calls = real_fold  # type: ignore[attr-defined]
        store.dispose()
    print(f"ingest of {calls:,} calls, median of {rounds} rounds (SQLite, one process):")
    for label, values in rates.items():
        print(f"  {label:<16} {statistics.median(values):>10,.0f} calls/s")
    print(f"  {'fold alone':<16} {fold_rate(calls):>10,.0f} calls/s")


# -- query --------------------------------------------------------------------------------


def fill_thirty_days(store: Store, calls: int, now: int) -> None:
    """``calls`` calls spread over every minute of the 30 days before ``now``: v1 and v2
    share them, v3 gets a copy of a third; summed per minute by ``Rollup.add_call`` and
    stored by the stats' own ``fold_minutes``, a day at a time."""
    rng = random.Random(calls)
    first = (now - 30 * DAY) // MINUTE * MINUTE
    minutes = 30 * DAY // MINUTE
    per_minute = calls / minutes
    owed = 0.0
    for day in range(30):
        batch: dict[Key, Rollup] = defaultdict(Rollup)
        for offset in range(day * DAY // MINUTE, (day + 1) * DAY // MINUTE):
            start = first + offset * MINUTE
            owed += per_minute
            count, owed = int(owed), owed - int(owed)
            for number in range(count):
                latency = rng.lognormvariate(3, 0.7)
                generation = "v1" if number % 2 else "v2"
                caller = CALLERS[number % len(CALLERS)]
                batch[(SERVICE, generation, "main", start)].add_call(
                    200, latency, latency * 0.9, 10, 300, 80, caller)
                batch[(SERVICE, "", "main", start)].add_call(
                    200, latency, latency * 0.9, 10, 300, 80, caller)
                if number % 3 == 0:
                    batch[(SERVICE, "v3", "challenger", start)].add_call(
                        200, latency * 1.1, None, 10, 300, 0, caller)
        with store.writing() as session:
            fold_minutes(session, batch)


def timed(action: Callable[[], Any], repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def bench_query(counts: list[int]) -> None:
    now = int(time.time())
    print("a 30-day stats question over per-minute rollups, two generations and a challenger:")
    print(f"  {'calls':>12}  {'fill':>8}  {'summary':>10}  {'hourly over-time':>17}")
    for calls in counts:
        with tempfile.TemporaryDirectory() as directory:
            store = new_store(Path(directory))
            started = time.perf_counter()
            fill_thirty_days(store, calls, now)
            filled = time.perf_counter() - started
            stats = ServiceStats(store)
            window = StatsWindow((now - 30 * DAY) // MINUTE * MINUTE, now // MINUTE * MINUTE)
            answer = stats.summary(SERVICE, window, slow_ms=DEFAULT_SLOW_REQUEST_MS)
            assert abs(answer["overall"]["total_requests"] - calls) <= 1, answer["overall"]
            summary_ms = timed(lambda s=stats, w=window: s.summary(
                SERVICE, w, slow_ms=DEFAULT_SLOW_REQUEST_MS))
            hourly = StatsWindow(window.start // 3600 * 3600, (window.end // 3600 + 1) * 3600)
            chart_ms = timed(lambda s=stats, w=hourly: s.over_time(
                SERVICE, w, 3600, ["total_requests", "response_time_p90"],
                slow_ms=DEFAULT_SLOW_REQUEST_MS), repeats=3)
            store.dispose()
        print(f"  {calls:>12,}  {filled:>7.0f}s  {summary_ms:>8.1f}ms  {chart_ms:>15.1f}ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--query-calls", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    bench_ingest(args.calls, args.rounds)
    bench_query(args.query_calls)


if __name__ == "__main__":
    main()
