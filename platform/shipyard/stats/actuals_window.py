"""How long a prediction waits for its actual, and an actual for its prediction
(``actuals_window_days``): older scored rows (a live call's or a batch job's) are
deleted, and so are older actuals that no kept row carries. Without it both grow by one
row per scored record for as long as a service runs.

Scored rows go by whole hours, so an hour's accuracy is never made again from part of
its rows: an hour either keeps all its rows, or has none left for an actual to match
and is never made again (its rollups stay, under ``stats_retention_days``). An actual a
kept row carries stays as long as the row, so making its hour again finds it.

Each service's rows go a batch at a time, oldest first, each batch its own short
transaction: a large backlog never holds the store's write lock for long. A batch of
scored rows ends with the hour of its last row, so that an upload of actuals made
between two batches finds each hour whole or gone, never half deleted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, exists, select

from shipyard.stats.accuracy_folding import hour_of, joins_its_actual
from shipyard.stats.rollup import HOUR
from shipyard.store import ActualRow, BatchScoredRowRow, ScoredRowRow, Store

__all__ = ["prune_past_the_window"]

BATCH = 10_000

_ACTUALS = ActualRow.__table__
_SCORED_TABLES = (ScoredRowRow.__table__, BatchScoredRowRow.__table__)


def prune_past_the_window(store: Store, window_days: int, now: float | None = None) -> int:
    """Delete the scored rows of the hours that ended more than ``window_days`` ago, then
    the actuals received before then that no kept row carries (none when it is 0); how
    many rows went."""
    if window_days <= 0:
        return 0
    cutoff = (now if now is not None else time.time()) - window_days * 86400
    removed = 0
    for table in _SCORED_TABLES:
        for service_id in _services(store, table, table.c.at, cutoff):
            removed += _delete_in_batches(store, table, table.c.at, service_id,
                                          hour_of(cutoff), whole_hours=True)
    for service_id in _services(store, _ACTUALS, _ACTUALS.c.received_at, cutoff):
        unclaimed = [~exists().where(joins_its_actual(scored)) for scored in _SCORED_TABLES]
        removed += _delete_in_batches(store, _ACTUALS, _ACTUALS.c.received_at, service_id,
                                      cutoff, unclaimed)
    return removed


def _services(store: Store, table: Table, stamp: Any, cutoff: float) -> list[str]:
    """The services that have rows of ``table`` stamped before ``cutoff``."""
    with store.reading() as session:
        return list(session.scalars(
            select(table.c.service_id).where(stamp < cutoff).distinct()))


def _delete_in_batches(store: Store, table: Table, stamp: Any, service_id: str,
                       before: float, only_where: Sequence[ColumnElement[bool]] = (), *,
                       whole_hours: bool = False) -> int:
    """Delete ``service_id``'s rows of ``table`` stamped before ``before`` that meet every
    condition of ``only_where``, about ``BATCH`` at a time, oldest first. Each batch ends
    with the stamp of its ``BATCH``-th row (its index finds it), or with that row's hour
    (``whole_hours``), and the next starts past it, so rows a condition keeps are read
    once, never again and again."""
    removed = 0
    past_the_last: ColumnElement[bool] | None = None
    while True:
        with store.writing() as session:
            span = [table.c.service_id == service_id, stamp < before]
            if past_the_last is not None:
                span.append(past_the_last)
            last = session.scalar(select(stamp).where(*span).order_by(stamp)
                                  .offset(BATCH - 1).limit(1))
            if last is not None:
                if whole_hours:
                    end = hour_of(last) + HOUR
                    span.append(stamp < end)
                    past_the_last = stamp >= end
                else:
                    span.append(stamp <= last)
                    past_the_last = stamp > last
            result = session.execute(delete(table).where(*span, *only_where))
            removed += result.rowcount or 0
        if last is None:
            return removed
