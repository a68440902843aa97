"""The query log's new rows, as every node stores them: the autoscaler's load.

Each node ingests its own gateway's spool (``node_duties``), so the leading supervisor
reads the calls back from the store, by id, rather than counting only those it ingested
itself. Ids come from one sequence but transactions commit in any order, so an id below
the highest one read may still appear (another node's ingest, committed later): the ids
skipped are looked for again until ``SETTLE`` seconds have passed (an id whose transaction
rolled back never appears).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, or_, select

from shipyard.store import QueryLogRow, Store

__all__ = ["QueryLogFollower"]

SETTLE = 10.0
"""Seconds an id skipped over is looked for again."""
ROWS_PER_READ = 50_000
MAX_GAPS = 64
"""Runs of skipped ids remembered at most (the oldest are forgotten first)."""

_LOG = QueryLogRow.__table__
Gap = tuple[int, int, float]
"""Ids ``low`` to ``high`` (both in) skipped over, first at ``since`` (monotonic)."""


class QueryLogFollower:
    def __init__(self, store: Store, observe: Callable[[list[dict[str, Any]]], None]) -> None:
        self.store = store
        self.observe = observe
        self._after: int | None = None
        self._gaps: list[Gap] = []

    def poll(self) -> int:
        """Hand ``observe`` the rows stored since the last poll (none at the first: the
        load is counted from when this supervisor leads); how many."""
        with self.store.reading() as session:
            if self._after is None:
                self._after = session.scalar(select(func.max(_LOG.c.id))) or 0
                return 0
            wanted = or_(_LOG.c.id > self._after,
                         *(_LOG.c.id.between(low, high) for low, high, _ in self._gaps))
            rows = [dict(row._mapping) for row in session.execute(
                select(_LOG.c.id, _LOG.c.service_id, _LOG.c.generation, _LOG.c.at,
                       _LOG.c.latency_ms).where(wanted).order_by(_LOG.c.id)
                .limit(ROWS_PER_READ))]
        self._note([row["id"] for row in rows])
        if rows:
            self.observe(rows)
        return len(rows)

    def _note(self, ids: list[int]) -> None:
        """Move past the ids read, remembering those skipped and forgetting those found or
        long settled."""
        assert self._after is not None
        now = time.monotonic()
        found = set(ids)
        gaps: list[Gap] = []
        for low, high, since in self._gaps:
            if now - since > SETTLE:
                continue
            gaps.extend(_split(low, high, since, sorted(i for i in found if low <= i <= high)))
        for row_id in ids:
            if row_id > self._after + 1:
                gaps.append((self._after + 1, row_id - 1, now))
            self._after = max(self._after, row_id)
        self._gaps = sorted(gaps, key=lambda gap: gap[2])[-MAX_GAPS:]


def _split(low: int, high: int, since: float, found: list[int]) -> list[Gap]:
    """The runs of ``low``..``high`` left once the (sorted) ids ``found`` are taken out."""
    runs: list[Gap] = []
    for row_id in found:
        if row_id > low:
            runs.append((low, row_id - 1, since))
        low = row_id + 1
    if low <= high:
        runs.append((low, high, since))
    return runs
