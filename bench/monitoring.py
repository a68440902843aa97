"""What model monitoring costs: drift folded at ingest for a 20-feature model, a drift
question over 30 days of a million rows a day, and actuals uploaded and joined.

    python bench/monitoring.py [--rows 100000] [--days 30] [--rows-per-day 1000000]
                               [--actuals 1000000] [--rounds 3]

Fold: a model of 15 number and 5 category features with a 5,000-record baseline is
deployed in a temporary control plane; ``--rows`` rows in calls of 50 records (JSON, as a
caller sends them, with the model's answers) are written to spool files as the gateway
writes a monitored service's calls, then ingested by the supervisor's ingest (query log,
service stats and drift in one transaction). It prints rows per second of the whole
ingest and of the drift fold alone (parsing the bodies and counting the bins), against
the goal of 20,000 rows a second.

Question: 30 days of hourly drift rollups, each holding ``--rows-per-day`` / 24 rows
(counted from real rows, then scaled), then the median time of the features' drift over
the 30 days, of the target's, and of one feature's drift per day, against 200 ms.

Actuals: ``--actuals`` rows scored over the last day are kept by association id, then
the same number of actuals are sent through ``ServiceActuals.submit`` in uploads of
100,000 (parsed, stored, joined, and every touched hour's accuracy made again); it prints
the wall time against the goal of 10 s. Then the supervisor's hourly prune of scored rows
and actuals past ``actuals_window_days``: once with nothing past it (what every hour
costs), once with all of them past it. Everything runs in temporary directories.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy
from sqlalchemy import insert

from shipyard import Settings, create_app
from shipyard.contracts.query_entries import spool_line
from shipyard.contracts.query_record import QueryRecord
from shipyard.stats.actuals_window import prune_past_the_window
from shipyard.stats.drift_folding import DriftCounts, fold_drift
from shipyard.stats.drift_measures import DriftThresholds
from shipyard.stats.rollup import HOUR
from shipyard.stats.scored_rows import ScoredCall
from shipyard.stats.windows import StatsWindow
from shipyard.store import DriftRollupRow, ScoredRowRow
from shipyard.supervisor.query_ingest import ingest_spool

NUMBERS = [f"n{i}" for i in range(15)]
CATEGORIES = [f"c{i}" for i in range(5)]
FEATURES = ([{"name": name, "type": "number"} for name in NUMBERS]
            + [{"name": name, "type": "string"} for name in CATEGORIES])
LEVELS = ["a", "b", "c", "d", "e", "f"]
CALL_ROWS = 50


def record(rng: random.Random, shift: float = 0.0) -> dict[str, Any]:
    row: dict[str, Any] = {name: rng.gauss(shift, 1.0) for name in NUMBERS}
    row.update({name: rng.choice(LEVELS) for name in CATEGORIES})
    return row


def plane(home: Path) -> tuple[Any, str]:
    """A control plane with the 20-feature model deployed as service ``wide``."""
    app = create_app(Settings(home=home))
    shipyard = app.extensions["shipyard"]
    rng = random.Random(0)
    baseline = [{**record(rng), "y": rng.choice(["yes", "no"])} for _ in range(5000)]
    shipyard.models.upload("wide", b"model", {
        "features": FEATURES, "target": "y", "problem_type": "classification",
        "baseline": baseline})
    shipyard.models.deploy("wide", 1)
    service = shipyard.services.get("wide")
    shipyard.services.update("wide", {"monitoring": {"association_id_columns": ["id"]}})
    return shipyard, service.id


def calls_of(service_id: str, rows: int, start: float, label: str) -> list[ScoredCall]:
    rng = random.Random(label)
    calls = []
    for first in range(0, rows, CALL_ROWS):
        records = [{**record(rng, 0.3), "id": f"{label}-{n}"}
                   for n in range(first, min(first + CALL_ROWS, rows))]
        answer = {"predictions": [rng.choice(["yes", "no"]) for _ in records]}
        calls.append(ScoredCall(
            service_id=service_id, at=start + first * 3600 / rows, generation="v1",
            status=200, request=json.dumps(records), response=json.dumps(answer)))
    return calls


def fold_rate(shipyard: Any, service_id: str, rows: int, label: str) -> float:
    calls = calls_of(service_id, rows, time.time() - 3600, label)
    started = time.perf_counter()
    with shipyard.store.writing() as session:
        fold_drift(session, calls)
    return rows / (time.perf_counter() - started)


def ingest_rate(shipyard: Any, service_id: str, rows: int, spool: Path, label: str) -> float:
    lines = []
    for number, call in enumerate(calls_of(service_id, rows, time.time() - 3600, label)):
        request = (call.request or "").encode()
        response = (call.response or "").encode()
        lines.append(spool_line(QueryRecord(
            at=call.at, request_id=f"{label}-{number}", service_id=service_id,
            generation="v1", method="POST", path="/api/v1.0/predict/", status=200,
            latency_ms=5.0, instance_ms=4.0, request_bytes=len(request),
            response_bytes=len(response), caller="user:admin", predictions=CALL_ROWS,
            monitored=True, request_body=request, response_body=response)))
    for first in range(0, len(lines), 200):
        (spool / f"{label}-{first:09d}.jsonl").write_text("".join(lines[first:first + 200]))
    started = time.perf_counter()
    while ingest_spool(shipyard.store, spool):
        pass
    return rows / (time.perf_counter() - started)


def drift_question(shipyard: Any, service_id: str, days: int, per_day: int,
                   rounds: int) -> dict[str, float]:
    """Median milliseconds of each question over ``days`` of hourly rollups."""
    sample = 2000
    with shipyard.store.writing() as session:
        fold_drift(session, calls_of(service_id, sample, time.time() - 3 * 86400, "sample"))
        row = session.execute(DriftRollupRow.__table__.select()).first()
        counts = DriftCounts.from_row(row)
        session.execute(DriftRollupRow.__table__.delete())
    scale = per_day / 24 / counts.rows
    now = int(time.time()) // HOUR * HOUR
    rollups = []
    for hour in range(days * 24):
        scaled = DriftCounts((counts.counts * scale).astype(numpy.int64), counts.sums * scale,
                             int(counts.rows * scale))
        rollups.append({"service_id": service_id, "start": now - (hour + 1) * HOUR,
                        "generation": "v1", "role": "main", **scaled.columns()})
    with shipyard.store.writing() as session:
        session.execute(insert(DriftRollupRow.__table__), rollups)
    window = StatsWindow(now - days * 86400, now)
    drift, thresholds = shipyard.drift, DriftThresholds()
    questions: dict[str, Callable[[], Any]] = {
        "features": lambda: drift.features(service_id, window, thresholds),
        "target": lambda: drift.target(service_id, window, thresholds),
        "one feature per day": lambda: drift.over_time(service_id, window, thresholds, "n0",
                                                       86400),
    }
    answer = drift.features(service_id, window, thresholds)
    assert answer["rows"] >= per_day * days * 0.99, answer["rows"]
    return {name: 1000 * statistics.median(_timed(ask) for _ in range(rounds))
            for name, ask in questions.items()}


def actuals_time(shipyard: Any, service_id: str, count: int) -> tuple[float, dict[str, int]]:
    start = time.time() - 86400
    rows = [{"service_id": service_id, "association_id": f"r{n}", "at": start + n * 86400 / count,
             "generation": "v1", "prediction": json.dumps("yes" if n % 3 else "no"),
             "scores": None, "challenger_generation": None, "challenger_prediction": None,
             "challenger_scores": None} for n in range(count)]
    with shipyard.store.writing() as session:
        for first in range(0, count, 50_000):
            session.execute(insert(ScoredRowRow.__table__), rows[first:first + 50_000])
    bodies = [json.dumps([{"association_id": f"r{n}", "actual_value": "yes" if n % 2 else "no"}
                          for n in range(first, min(first + 100_000, count))]).encode()
              for first in range(0, count, 100_000)]
    totals: dict[str, int] = {}
    started = time.perf_counter()
    for body in bodies:
        for key, value in shipyard.actuals.submit(service_id, body, "application/json").items():
            totals[key] = totals.get(key, 0) + value
    return time.perf_counter() - started, totals


def prune_times(shipyard: Any, window_days: int = 90) -> tuple[float, float, int]:
    """Seconds of a prune that finds nothing past the window, and of one that finds
    every row past it; how many rows the second dropped."""
    idle = _timed(lambda: prune_past_the_window(shipyard.store, window_days))
    started = time.perf_counter()
    later = time.time() + (window_days + 2) * 86400
    removed = prune_past_the_window(shipyard.store, window_days, now=later)
    return idle, time.perf_counter() - started, removed


def _timed(ask: Callable[[], Any]) -> float:
    started = time.perf_counter()
    ask()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rows-per-day", type=int, default=1_000_000)
    parser.add_argument("--actuals", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        shipyard, service_id = plane(home / "home")
        folds = [fold_rate(shipyard, service_id, args.rows, f"fold{n}")
                 for n in range(args.rounds)]
        spool = home / "spool"
        spool.mkdir()
        ingests = [ingest_rate(shipyard, service_id, args.rows, spool, f"ingest{n}")
                   for n in range(args.rounds)]
        print(f"drift fold, 20 features, {args.rows} rows: "
              f"{statistics.median(folds):,.0f} rows/s (goal >= 20,000)")
        print(f"whole ingest with drift (query log, stats, drift, ids): "
              f"{statistics.median(ingests):,.0f} rows/s")
        shipyard.close()
    with tempfile.TemporaryDirectory() as folder:
        shipyard, service_id = plane(Path(folder) / "home")
        timings = drift_question(shipyard, service_id, args.days, args.rows_per_day,
                                 args.rounds)
        for name, millis in timings.items():
            print(f"drift over {args.days} days of {args.rows_per_day:,} rows/day, {name}: "
                  f"{millis:.1f} ms (goal <= 200 ms)")
        shipyard.close()
    with tempfile.TemporaryDirectory() as folder:
        shipyard, service_id = plane(Path(folder) / "home")
        seconds, totals = actuals_time(shipyard, service_id, args.actuals)
        print(f"actuals upload and join of {args.actuals:,} rows: {seconds:.1f} s "
              f"(goal <= 10 s); {totals}")
        idle, full, removed = prune_times(shipyard)
        print(f"prune past actuals_window_days: {idle * 1000:.0f} ms with nothing past it, "
              f"{full:.1f} s for all {removed:,} rows (scored rows and actuals)")
        shipyard.close()


if __name__ == "__main__":
    main()
