"""How long service stats are kept: rollups that started before the retention are
deleted, a span at a time. They outlive the raw query log (400 days by default). The
monitoring's hourly rollups (drift, and accuracy from actuals) are stats too, kept as
long."""

from __future__ import annotations

import time

from sqlalchemy import delete

from shipyard.stats.rollup import HOUR, SPANS
from shipyard.store import AccuracyRollupRow, DriftRollupRow, StatsRollupRow, Store

__all__ = ["prune_stats"]


def prune_stats(store: Store, keep_days: int, now: float | None = None) -> int:
    """Delete the rollups that ended more than ``keep_days`` ago (none when it is 0);
    how many."""
    if keep_days <= 0:
        return 0
    cutoff = int(now if now is not None else time.time()) - keep_days * 86400
    removed = 0
    for span in SPANS:
        with store.writing() as session:
            result = session.execute(delete(StatsRollupRow).where(
                StatsRollupRow.span == span, StatsRollupRow.start + span <= cutoff))
            removed += result.rowcount or 0
    for hourly in (DriftRollupRow, AccuracyRollupRow):
        with store.writing() as session:
            result = session.execute(delete(hourly).where(hourly.start + HOUR <= cutoff))
            removed += result.rowcount or 0
    return removed
