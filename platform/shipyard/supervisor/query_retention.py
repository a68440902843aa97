"""How long the query log keeps calls: older rows are deleted, a batch at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from shipyard.store import QueryLogRow, Store

__all__ = ["prune_query_log"]

BATCH = 10_000


def prune_query_log(store: Store, keep_days: int, now: datetime | None = None) -> int:
    """Delete the calls recorded more than ``keep_days`` ago (none when it is 0); how
    many. Each batch is its own short transaction, so a large backlog never holds the
    store's write lock for long."""
    if keep_days <= 0:
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    removed = 0
    while True:
        with store.writing() as session:
            ids = session.scalars(
                select(QueryLogRow.id).where(QueryLogRow.at < cutoff).limit(BATCH)
            ).all()
            if ids:
                session.execute(delete(QueryLogRow).where(QueryLogRow.id.in_(ids)))
        removed += len(ids)
        if len(ids) < BATCH:
            return removed
