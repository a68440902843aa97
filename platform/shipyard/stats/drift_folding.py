"""``fold_drift``: the rows monitored calls scored, counted into hourly drift rollups in
the ingest's transaction (so that a row counts once exactly as its call is stored once).

Each scored call's rows count in the (service, generation, role, hour) rollup of the
generation that answered (``main``) and of the challenger that got a copy, each by that
generation's profile (a batch job's call counts as the generation's ``main`` here, unlike in
the stats: its rows are data the model scored, as a live call's are), as far as the
service's monitoring settings track them (read here, so that a change counts from the next
call folded). A call is first parsed and its
values gathered per rollup, then each rollup is counted with numpy in one pass per
feature, read, added to and written back once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from shipyard.stats.drift_profile import DriftProfile, count_values
from shipyard.stats.drift_profiles import generation_model, load_profile
from shipyard.stats.monitoring_settings import MonitoringSettings, monitoring_of
from shipyard.stats.rollup import HOUR
from shipyard.stats.scored_rows import ScoredCall, ScoredRows, predictions_of, scored_rows
from shipyard.store import DriftRollupRow, ServiceRow, lock_services

__all__ = ["DriftCounts", "DriftKey", "fold_drift"]

DriftKey = tuple[str, str, str, int]
"""(service id, generation, role, start of the hour)."""

_TABLE = DriftRollupRow.__table__


@dataclass
class DriftCounts:
    """One rollup's figures: ``counts`` and ``sums`` laid out by its profile."""

    counts: numpy.ndarray
    sums: numpy.ndarray
    rows: int = 0
    predicted_rows: int = 0
    data_errors: int = 0

    @classmethod
    def empty(cls, size: int) -> DriftCounts:
        return cls(numpy.zeros(size, dtype=numpy.int64), numpy.zeros(size, dtype=numpy.float64))

    @classmethod
    def from_row(cls, row: Any) -> DriftCounts:
        return cls(numpy.frombuffer(row.counts, dtype=numpy.int64).copy(),
                   numpy.frombuffer(row.sums, dtype=numpy.float64).copy(),
                   row.rows, row.predicted_rows, row.data_errors)

    def add(self, other: DriftCounts) -> None:
        """Add ``other`` in; the shorter is padded (a profile gains the prediction's bins
        at its end once the supervisor has the model's predictions on the baseline)."""
        size = max(len(self.counts), len(other.counts))
        self.counts = _padded(self.counts, size) + _padded(other.counts, size)
        self.sums = _padded(self.sums, size) + _padded(other.sums, size)
        self.rows += other.rows
        self.predicted_rows += other.predicted_rows
        self.data_errors += other.data_errors

    def columns(self) -> dict[str, Any]:
        return {"rows": self.rows, "predicted_rows": self.predicted_rows,
                "data_errors": self.data_errors, "counts": self.counts.tobytes(),
                "sums": self.sums.tobytes()}


def _padded(values: numpy.ndarray, size: int) -> numpy.ndarray:
    if len(values) >= size:
        return values
    return numpy.concatenate([values, numpy.zeros(size - len(values), dtype=values.dtype)])


@dataclass
class _Gathered:
    """The values of one rollup's rows, gathered before they are counted."""

    profile: DriftProfile
    columns: dict[str, list[Any]] = field(default_factory=dict)
    predictions: list[Any] = field(default_factory=list)
    rows: int = 0
    data_errors: int = 0

    def add(self, rows: ScoredRows, predictions: list[Any] | None, features: bool) -> None:
        if features:
            for slot in self.profile.features:
                self.columns.setdefault(slot.name, []).extend(rows.columns.get(slot.name, ()))
        self.rows += rows.count
        if predictions is not None:
            self.predictions.extend(predictions)

    def counted(self) -> DriftCounts:
        """The counts, with every row that had a feature missing or of the wrong type
        counted as a data error (its other features still count)."""
        profile = self.profile
        counts = DriftCounts.empty(profile.size)
        faulty = numpy.zeros(self.rows, dtype=bool)
        for slot in profile.features:
            missing = count_values(slot, self.columns.get(slot.name, []), counts.counts,
                                   counts.sums, 0)
            if len(missing) == self.rows:
                faulty |= missing
        if profile.prediction is not None and self.predictions:
            count_values(profile.prediction, self.predictions, counts.counts, counts.sums, 0)
            counts.predicted_rows = len(self.predictions)
        counts.rows = self.rows
        counts.data_errors = self.data_errors + int(faulty.sum())
        return counts


def fold_drift(session: Session, calls: Iterable[ScoredCall]) -> int:
    """Count the rows of ``calls`` into the drift rollups; how many rollups changed."""
    profiles: dict[tuple[str, str], DriftProfile | None] = {}
    routes: dict[tuple[str, str], str | None] = {}
    settings: dict[str, MonitoringSettings | None] = {}
    gathered: dict[DriftKey, _Gathered] = {}
    for call in calls:
        if call.service_id not in settings:
            service = session.get(ServiceRow, call.service_id)
            settings[call.service_id] = None if service is None else monitoring_of(service)
        tracked = settings[call.service_id]
        if tracked is None or not tracked.tracks_drift:
            continue
        hour = int(call.at) // HOUR * HOUR
        rows: ScoredRows | None = None
        for role, generation, status, answer in (
            ("main", call.generation, call.status, call.response),
            ("challenger", call.challenger_generation, call.challenger_status,
             call.challenger_response),
        ):
            if not generation or status is None or not 200 <= status < 300:
                continue
            place = (call.service_id, generation)
            if place not in profiles:
                profiles[place] = load_profile(session, *place)
                model = generation_model(session, *place)
                routes[place] = model.predict_path if model is not None else None
            profile, route = profiles[place], routes[place]
            if profile is None or route is None or not call.scores_at(route):
                continue
            key = (call.service_id, generation, role, hour)
            target = gathered.get(key)
            if target is None:
                target = gathered[key] = _Gathered(profile)
            if rows is None:
                features = [{"name": slot.name, "type": slot.type} for slot in profile.features]
                rows = scored_rows(call.request, features)
            if rows is None:
                target.data_errors += 1
                continue
            predictions = predictions_of(answer, rows.count) if tracked.target_drift else None
            target.add(rows, predictions, tracked.feature_drift)
    if not gathered:
        return 0
    _write(session, {key: part.counted() for key, part in gathered.items()})
    return len(gathered)


def _write(session: Session, fresh: dict[DriftKey, DriftCounts]) -> None:
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    # Read, added to, written back: the services' rows are locked first, so that the
    # ingests of several nodes (on PostgreSQL) take turns (see ``fold_minutes``).
    lock_services(session, {key[0] for key in fresh})
    for key, counts in fresh.items():
        service_id, generation, role, start = key
        stored = session.execute(select(_TABLE).where(
            _TABLE.c.service_id == service_id, _TABLE.c.start == start,
            _TABLE.c.generation == generation, _TABLE.c.role == role)).first()
        if stored is not None:
            total = DriftCounts.from_row(stored)
            total.add(counts)
            counts = total
        values = counts.columns()
        values.update(service_id=service_id, start=start, generation=generation, role=role)
        (updates if stored is not None else inserts).append(values)
    if inserts:
        session.execute(insert(_TABLE), inserts)
    if updates:
        session.execute(update(DriftRollupRow), updates)
