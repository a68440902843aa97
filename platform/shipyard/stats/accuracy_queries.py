"""``ServiceAccuracy``: a model service's accuracy from actuals, per generation and role
(the challenger too: its answers are logged), over a window and bucket by bucket, by
merging hourly accuracy rollups.

A window is whole hours of the predictions' times (an actual counts where its prediction
was made). ``overall`` merges the main rows of every generation of the newest
generation's problem type.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select

from shipyard.errors import InvalidInput, NotFound
from shipyard.stats.accuracy_metrics import METRIC_NAMES, metrics_of
from shipyard.stats.accuracy_rollup import AccuracyRollup, rollup_for, rollup_from_bytes
from shipyard.stats.rollup import HOUR, ROLES
from shipyard.stats.windows import StatsWindow, iso
from shipyard.store import AccuracyRollupRow, Store

__all__ = ["ServiceAccuracy"]

_TABLE = AccuracyRollupRow.__table__


class ServiceAccuracy:
    def __init__(self, store: Store) -> None:
        self.store = store

    def summary(self, service_id: str, window: StatsWindow, *, generation: str | None = None,
                role: str | None = None) -> dict[str, Any]:
        start, end = _hours(window)
        rows = self._rows(service_id, start, end, generation, role)
        problem = _problem_type(rows)
        merged: dict[tuple[str, str], AccuracyRollup] = {}
        overall = rollup_for(problem) if problem else None
        for row in rows:
            rollup = rollup_from_bytes(row.rollup)
            key = (row.generation, row.role)
            if key in merged:
                merged[key].merge(rollup)  # type: ignore[arg-type]
            else:
                merged[key] = rollup
            if overall is not None and row.role == "main" and row.problem_type == problem:
                overall.merge(rollup)  # type: ignore[arg-type]
        return {
            "service_id": service_id, "start": iso(start), "end": iso(end),
            "problem_type": problem,
            "overall": metrics_of(overall) if overall is not None else None,
            "generations": [{"generation": tag, "role": kind, **metrics_of(rollup)}
                            for (tag, kind), rollup in sorted(merged.items(), key=_order)],
        }

    def over_time(self, service_id: str, window: StatsWindow, bucket_size: int,
                  metrics: list[str] | None, *, generation: str | None = None,
                  role: str | None = None) -> dict[str, Any]:
        if bucket_size % HOUR:
            raise InvalidInput("bucket_size must be whole hours for accuracy (PT1H, P1D)")
        start, end = _hours(window)
        rows = self._rows(service_id, start, end, generation, role)
        problem = _problem_type(rows)
        known = METRIC_NAMES.get(problem or "", ())
        names = metrics or list(known)
        wrong = [name for name in names if name not in known]
        if wrong and problem:
            raise InvalidInput(f"unknown metric(s) {wrong} for a {problem} model; known: "
                               f"{', '.join(known)}")
        starts = StatsWindow(start, end).bucket_starts(bucket_size)
        series: dict[tuple[str, str], dict[int, AccuracyRollup]] = {}
        for row in rows:
            bucket = start + (row.start - start) // bucket_size * bucket_size
            buckets = series.setdefault((row.generation, row.role), {})
            rollup = rollup_from_bytes(row.rollup)
            if bucket in buckets:
                buckets[bucket].merge(rollup)  # type: ignore[arg-type]
            else:
                buckets[bucket] = rollup
        answer = []
        for (tag, kind), buckets in sorted(series.items(), key=_order):
            points = []
            for first in starts:
                rollup = buckets.get(first)
                values = metrics_of(rollup) if rollup is not None else {}
                points.append({"start": iso(first), "end": iso(min(first + bucket_size, end)),
                               "rows": values.get("rows", 0),
                               **{name: values.get(name) for name in names}})
            answer.append({"generation": tag, "role": kind, "buckets": points})
        return {"service_id": service_id, "start": iso(start), "end": iso(end),
                "problem_type": problem, "bucket_size_seconds": bucket_size,
                "metrics": names, "series": answer}

    def _rows(self, service_id: str, start: int, end: int, generation: str | None,
              role: str | None) -> list[Any]:
        if role is not None and role not in ROLES:
            raise InvalidInput(f"unknown role {role!r}; known: {', '.join(ROLES)}")
        query = select(_TABLE).where(_TABLE.c.service_id == service_id,
                                     _TABLE.c.start >= start, _TABLE.c.start < end)
        if generation:
            query = query.where(_TABLE.c.generation == generation)
        if role:
            query = query.where(_TABLE.c.role == role)
        with self.store.reading() as session:
            rows = list(session.execute(query.order_by(_TABLE.c.start)))
        if generation and not rows:
            with self.store.reading() as session:
                known = session.scalar(select(_TABLE.c.generation).where(
                    _TABLE.c.service_id == service_id, _TABLE.c.generation == generation
                ).limit(1))
            if known is None:
                raise NotFound(f"generation {generation!r} has no accuracy: no actual was "
                               "joined to its predictions")
        return rows


def _hours(window: StatsWindow) -> tuple[int, int]:
    return window.start // HOUR * HOUR, math.ceil(window.end / HOUR) * HOUR


def _problem_type(rows: list[Any]) -> str | None:
    """The problem type of the newest generation in ``rows``."""
    newest = max(rows, key=lambda row: _number(row.generation), default=None)
    return None if newest is None else newest.problem_type


def _order(item: tuple[tuple[str, str], Any]) -> tuple[int, int]:
    (tag, kind), _ = item
    return (_number(tag), ROLES.index(kind) if kind in ROLES else len(ROLES))


def _number(tag: str) -> int:
    return int(tag[1:]) if tag[1:].isdigit() else 0
