"""Scored rows and actuals past ``actuals_window_days`` are dropped: the scored rows by
whole hours, the actuals only once no kept row carries them; the accuracy already made
from them stays, and an hour that keeps its rows is made again whole."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from shipyard.settings import Settings
from shipyard.stats import actuals_window
from shipyard.stats.accuracy_folding import hour_of
from shipyard.stats.actuals_window import prune_past_the_window
from shipyard.store import ActualRow, BatchScoredRowRow, ScoredRowRow, Store
from shipyard.supervisor.housekeeping import Housekeeping
from tests.credentials import SigningClient
from tests.unit.test_accuracy import (  # noqa: F401 (flowers is a fixture)
    ONE_HOUR_AGO,
    TWO_HOURS_AGO,
    accuracy,
    flowers,
    keep,
    scored_call,
    send,
)
from tests.unit.test_batch_accuracy import batch_call, by_generation

DAY = 86400
WINDOW = 90
# The window ends 10 s into the last hour: the hour before goes, that one stays whole.
NOW = ONE_HOUR_AGO + WINDOW * DAY + 10
CUTOFF = NOW - WINDOW * DAY

OLD = [f"old-{n}" for n in range(10)]
NEW = [f"new-{n}" for n in range(5)]


def ids_in(app: Flask, column: Any) -> list[str]:
    with app.extensions["shipyard"].store.reading() as session:
        return sorted(session.scalars(select(column)))


def received_at(app: Flask, stamps: dict[str, float]) -> None:
    """Stamp actuals as received at another time, as if sent then."""
    with app.extensions["shipyard"].store.writing() as session:
        for association_id, stamp in stamps.items():
            session.execute(update(ActualRow).where(ActualRow.association_id
                                                    == association_id)
                            .values(received_at=stamp))


def test_rows_past_the_window_go_by_whole_hours_and_actuals_once_nothing_carries_them(
    app: Flask, client: SigningClient, flowers: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(actuals_window, "BATCH", 4)  # several batches of each kind
    keep(app, [scored_call(flowers, TWO_HOURS_AGO + 60, OLD, ["big"] * 10),
               scored_call(flowers, ONE_HOUR_AGO + 5, NEW, ["big"] * 5),
               batch_call(flowers, TWO_HOURS_AGO + 90, "v1", ["job-0"], ["big"])])
    sent = send(client, "flowers", [{"association_id": ident, "actual_value": "big"}
                                    for ident in [*OLD, *NEW, "job-0", "stale", "waiting"]])
    assert sent.get_json()["matched"] == 16
    # Each sent before the window but "waiting", which waits still for its prediction.
    received_at(app, {ident: CUTOFF - 100 - n for n, ident
                      in enumerate([*OLD, *NEW, "job-0", "stale"])})
    received_at(app, {"waiting": CUTOFF + 100})
    before = accuracy(client, "flowers")
    assert (by_generation(before, "main")["v1"]["rows"], before["overall"]["accuracy"]) == (
        15, 1.0)
    assert by_generation(before, "batch")["v1"]["rows"] == 1

    store: Store = app.extensions["shipyard"].store
    assert prune_past_the_window(store, 0, now=NOW + 1000 * DAY) == 0  # 0 keeps them all
    # 10 live rows and a job's of the hour before the window's end, and the 12 actuals
    # that nothing kept carries and were received before it.
    assert prune_past_the_window(store, WINDOW, now=NOW) == 11 + 12
    assert ids_in(app, ScoredRowRow.association_id) == NEW  # one scored before the end too
    assert ids_in(app, BatchScoredRowRow.association_id) == []
    assert ids_in(app, ActualRow.association_id) == sorted([*NEW, "waiting"])
    assert prune_past_the_window(store, WINDOW, now=NOW) == 0

    # The accuracy already made stays; an actual for a dropped row matches nothing, and
    # makes nothing again.
    assert accuracy(client, "flowers") == before
    late = send(client, "flowers", [{"association_id": "old-0", "actual_value": "small"}])
    assert late.get_json() == {"received": 1, "matched": 0, "unmatched": 1, "updated": 0}
    assert accuracy(client, "flowers") == before
    # A correction in the kept hour makes it again from all its rows: the 4 others' kept
    # actuals count still.
    fixed = send(client, "flowers", [{"association_id": "new-0", "actual_value": "small"}])
    assert fixed.get_json()["matched"] == 1
    after = accuracy(client, "flowers")
    assert by_generation(after, "main")["v1"]["rows"] == 15
    assert after["overall"]["accuracy"] == pytest.approx(14 / 15)


class WatchedStore:
    """A store that, after each write, notes how many scored rows each hour holds."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.seen: list[Counter[int]] = []

    def reading(self) -> Any:
        return self.store.reading()

    @contextlib.contextmanager
    def writing(self) -> Iterator[Any]:
        with self.store.writing() as session:
            yield session
        with self.store.reading() as session:
            self.seen.append(Counter(hour_of(at) for at in session.scalars(
                select(ScoredRowRow.at))))


def test_each_batch_of_scored_rows_ends_with_a_whole_hour(
    app: Flask, flowers: str, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    monkeypatch.setattr(actuals_window, "BATCH", 4)
    three_hours_ago = TWO_HOURS_AGO - 3600
    # One call a row, each at a time of its own: 5 rows in one hour, 10 in the next, and
    # 5 in the hour the window ends in.
    keep(app, [scored_call(flowers, start + 60 + n, [f"{start}-{n}"], ["big"])
               for start, count in ((three_hours_ago, 5), (TWO_HOURS_AGO, 10),
                                    (ONE_HOUR_AGO, 5)) for n in range(count)])
    watched = WatchedStore(app.extensions["shipyard"].store)
    assert prune_past_the_window(watched, WINDOW, now=NOW) == 15  # type: ignore[arg-type]
    whole = {three_hours_ago: 5, TWO_HOURS_AGO: 10, ONE_HOUR_AGO: 5}
    # The 4th row's hour goes whole with it (5 rows), then the next hour's (10 rows).
    assert watched.seen == [Counter({TWO_HOURS_AGO: 10, ONE_HOUR_AGO: 5}),
                            Counter({ONE_HOUR_AGO: 5}), Counter({ONE_HOUR_AGO: 5})]
    assert all(count == whole[hour] for seen in watched.seen for hour, count in seen.items())


def test_the_supervisors_housekeeping_drops_them_by_the_setting(
    app: Flask, flowers: str, tmp_path: Path,  # noqa: F811
) -> None:
    long_ago = time.time() - 31 * DAY
    keep(app, [scored_call(flowers, long_ago, ["gone"], ["big"]),
               scored_call(flowers, time.time() - 60, ["kept"], ["big"])])
    store: Store = app.extensions["shipyard"].store
    settings = Settings(home=tmp_path / "home", actuals_window_days=30)
    Housekeeping(store, settings, renewal_interval=1e9).run()
    assert ids_in(app, ScoredRowRow.association_id) == ["kept"]
