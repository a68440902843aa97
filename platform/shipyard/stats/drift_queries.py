"""``ServiceDrift``: a service's feature and target drift over a window, answered by adding
up its hourly drift rollups and comparing them with the profile's reference.

Drift windows are whole hours (the rollups' span): a window's start is taken back to its
hour and its end on to the next. Without a ``generation``, a question covers the newest
generation with a profile and every other whose rows were binned the same way (the same
model baseline): the live data of the model now serving, across redeploys of its code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy
from sqlalchemy import select

from shipyard.errors import InvalidInput, NotFound
from shipyard.stats.drift_folding import DriftCounts
from shipyard.stats.drift_measures import Drift, DriftThresholds, drift_between
from shipyard.stats.drift_profile import PREDICTION, DriftProfile, Slot
from shipyard.stats.drift_profiles import stored_profiles
from shipyard.stats.rollup import HOUR, ROLES
from shipyard.stats.spans import DRIFT_METRICS
from shipyard.stats.windows import StatsWindow, iso
from shipyard.store import DriftRollupRow, Store

__all__ = ["DRIFT_METRICS", "ServiceDrift"]



@dataclass(frozen=True)
class _Scope:
    profile: DriftProfile
    generations: tuple[str, ...]
    role: str
    start: int
    end: int


class ServiceDrift:
    def __init__(self, store: Store) -> None:
        self.store = store

    def features(
        self, service_id: str, window: StatsWindow, thresholds: DriftThresholds, *,
        generation: str | None = None, role: str | None = None, metric: str = "psi",
    ) -> dict[str, Any]:
        """Each feature's drift, most drifted first by ``metric``."""
        if metric not in DRIFT_METRICS:
            raise InvalidInput(f"unknown metric {metric!r}; known: {', '.join(DRIFT_METRICS)}")
        scope = self._scope(service_id, window, generation, role)
        current = self._counts(service_id, scope, scope.start, scope.end)
        tests = len(scope.profile.features)
        features = [self._entry(scope.profile, slot, current, thresholds, tests)
                    for slot in scope.profile.features]
        sign = 1 if metric == "p_value" else -1
        features.sort(key=lambda entry: (entry[metric] is None,
                                         sign * (entry[metric] or 0.0), entry["name"]))
        return {**self._head(service_id, scope, current, thresholds), "metric": metric,
                "drifted": sum(entry["drifted"] for entry in features), "features": features}

    def target(
        self, service_id: str, window: StatsWindow, thresholds: DriftThresholds, *,
        generation: str | None = None, role: str | None = None,
    ) -> dict[str, Any]:
        """The prediction's drift; ``target`` is null until the supervisor has had the
        model's predictions on its baseline."""
        scope = self._scope(service_id, window, generation, role)
        current = self._counts(service_id, scope, scope.start, scope.end)
        slot = scope.profile.prediction
        entry = None if slot is None else self._entry(scope.profile, slot, current, thresholds, 1)
        return {**self._head(service_id, scope, current, thresholds), "target": entry}

    def over_time(
        self, service_id: str, window: StatsWindow, thresholds: DriftThresholds, feature: str,
        bucket_size: int, *, generation: str | None = None, role: str | None = None,
    ) -> dict[str, Any]:
        """One feature's (or ``prediction``'s) drift bucket by bucket."""
        if bucket_size % HOUR:
            raise InvalidInput("bucket_size must be whole hours for drift (PT1H, P1D)")
        scope = self._scope(service_id, window, generation, role)
        slot = self._slot(scope.profile, feature)
        by_hour = self._hourly(service_id, scope)
        tests = 1 if feature == PREDICTION else len(scope.profile.features)
        series = []
        for start in StatsWindow(scope.start, scope.end).bucket_starts(bucket_size):
            current = DriftCounts.empty(scope.profile.size)
            for hour in range(start, min(start + bucket_size, scope.end), HOUR):
                if hour in by_hour:
                    current.add(by_hour[hour])
            entry = self._entry(scope.profile, slot, current, thresholds, tests)
            series.append({"start": iso(start), "end": iso(min(start + bucket_size, scope.end)),
                           **{key: entry[key] for key in (
                               "psi", "js_distance", "hellinger", "wasserstein", "p_value",
                               "current_rows", "drifted", "too_small")}})
        return {**self._head(service_id, scope, None, thresholds), "feature": feature,
                "bucket_size_seconds": bucket_size, "series": series}

    def distribution(
        self, service_id: str, window: StatsWindow, feature: str, *,
        generation: str | None = None, role: str | None = None,
    ) -> dict[str, Any]:
        """The reference's and the window's histograms of one feature, on the same bins."""
        scope = self._scope(service_id, window, generation, role)
        slot = self._slot(scope.profile, feature)
        current = self._counts(service_id, scope, scope.start, scope.end)
        reference = scope.profile.reference_counts[slot.span]
        live = _slice(current.counts, slot)
        return {
            "service_id": service_id, "start": iso(scope.start), "end": iso(scope.end),
            "generations": list(scope.generations), "role": scope.role, "feature": feature,
            "type": slot.type, "bins": slot.bins.labels(),
            "reference": _histogram(reference), "current": _histogram(live),
        }

    def _scope(self, service_id: str, window: StatsWindow, generation: str | None,
               role: str | None) -> _Scope:
        role = role or "main"
        if role not in ROLES:
            raise InvalidInput(f"unknown role {role!r}; known: {', '.join(ROLES)}")
        with self.store.reading() as session:
            profiles = stored_profiles(session, service_id)
        if generation:
            profile = profiles.get(generation)
            if profile is None:
                raise NotFound(
                    f"generation {generation!r} has no drift profile: drift is kept for the "
                    "generations of a model service whose model has a baseline, once they "
                    "have served")
            chosen = (generation,)
        else:
            if not profiles:
                raise NotFound(
                    "this service has no drift yet: drift is kept for model services whose "
                    "model has a baseline, from their first scored call")
            newest = max(profiles, key=_number)
            profile = profiles[newest]
            chosen = tuple(sorted((tag for tag, other in profiles.items()
                                   if other.same_bins(profile)), key=_number))
        start = window.start // HOUR * HOUR
        end = math.ceil(window.end / HOUR) * HOUR
        return _Scope(profile, chosen, role, start, end)

    def _rows(self, service_id: str, scope: _Scope) -> list[Any]:
        table = DriftRollupRow.__table__
        with self.store.reading() as session:
            return list(session.execute(select(table).where(
                table.c.service_id == service_id, table.c.role == scope.role,
                table.c.generation.in_(scope.generations),
                table.c.start >= scope.start, table.c.start < scope.end)))

    def _counts(self, service_id: str, scope: _Scope, start: int, end: int) -> DriftCounts:
        total = DriftCounts.empty(scope.profile.size)
        for row in self._rows(service_id, scope):
            if start <= row.start < end:
                total.add(DriftCounts.from_row(row))
        return total

    def _hourly(self, service_id: str, scope: _Scope) -> dict[int, DriftCounts]:
        hours: dict[int, DriftCounts] = {}
        for row in self._rows(service_id, scope):
            counts = DriftCounts.from_row(row)
            if row.start in hours:
                hours[row.start].add(counts)
            else:
                hours[row.start] = counts
        return hours

    def _head(self, service_id: str, scope: _Scope, current: DriftCounts | None,
              thresholds: DriftThresholds) -> dict[str, Any]:
        head: dict[str, Any] = {
            "service_id": service_id, "start": iso(scope.start), "end": iso(scope.end),
            "generations": list(scope.generations), "role": scope.role,
            "baseline_rows": scope.profile.baseline_rows,
            "thresholds": {"psi": thresholds.psi, "js_distance": thresholds.js_distance,
                           "p_value": thresholds.p_value, "min_rows": thresholds.min_rows},
        }
        if current is not None:
            head.update(rows=current.rows, data_errors=current.data_errors,
                        too_small=current.rows < thresholds.min_rows)
        return head

    @staticmethod
    def _slot(profile: DriftProfile, feature: str) -> Slot:
        slot = profile.slot(feature)
        if slot is None:
            known = [slot.name for slot in profile.features]
            if feature == PREDICTION:
                raise NotFound("the prediction has no drift profile yet: the supervisor takes "
                               "the model's predictions on its baseline once it serves")
            raise NotFound(f"unknown feature {feature!r}; known: {', '.join(known)} "
                           f"and {PREDICTION!r}")
        return slot

    @staticmethod
    def _entry(profile: DriftProfile, slot: Slot, current: DriftCounts,
               thresholds: DriftThresholds, tests: int) -> dict[str, Any]:
        span = slot.span
        sums = None
        if slot.numeric:
            values = slice(0, slot.bins.missing)
            sums = (profile.reference_sums[span][values], _slice(current.sums, slot)[values])
        drift: Drift = drift_between(slot.bins, profile.reference_counts[span],
                                     _slice(current.counts, slot), sums)
        importance = (profile.importance or {}).get(slot.name)
        return {"name": slot.name, "type": slot.type, "importance": importance,
                **drift.to_dict(),
                "too_small": drift.too_small(thresholds),
                "drifted": drift.flagged(thresholds, tests)}


def _slice(values: numpy.ndarray, slot: Slot) -> numpy.ndarray:
    part = values[slot.span]
    if len(part) < slot.bins.size:  # rows counted before the profile had this slot
        part = numpy.concatenate([part, numpy.zeros(slot.bins.size - len(part), part.dtype)])
    return part


def _histogram(counts: Sequence[int] | numpy.ndarray) -> dict[str, Any]:
    total = int(numpy.sum(counts))
    return {"rows": total, "counts": [int(c) for c in counts],
            "shares": [float(c) / total if total else 0.0 for c in counts]}


def _number(tag: str) -> int:
    return int(tag[1:]) if tag[1:].isdigit() else 0
