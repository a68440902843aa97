"""Folding into the rollups: the calls the supervisor ingests (``fold_calls``), in the
same transaction that stores them, so that a call counts once exactly as it is stored
once; and usage samples (``fold_usage``).

Each call adds to the minute, hour and day rollups of its (service, generation, role):
``main`` for the generation that answered (and, as generation "", for the service as a
whole, calls refused before any generation answered included), ``challenger`` for the
generation that got a copy. A batch is first summed in memory per rollup, then each
touched stored rollup is read, merged and written back once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from shipyard.stats.rollup import DAY, HOUR, MINUTE, Rollup
from shipyard.store import StatsRollupRow, lock_services

__all__ = [
    "ALL_GENERATIONS", "Key", "ReplicaSample", "UsageSample", "fold_calls", "fold_minutes",
    "fold_usage",
]

ALL_GENERATIONS = ""
"""The generation of the rollups of a service as a whole."""

_NONE = "-"
"""Stands for no generation while a batch is summed (a call refused before any
generation answered); such calls are kept only in the service's whole."""

Key = tuple[str, str, str, int]
"""(service id, generation, role, start of the minute)."""

_TABLE = StatsRollupRow.__table__
_CHUNK = 200


@dataclass(frozen=True)
class UsageSample:
    service_id: str
    generation: str
    role: str
    at: float
    """Epoch seconds."""
    cpu_percent: float
    memory_bytes: int
    gpu_memory_bytes: int = 0


@dataclass(frozen=True)
class ReplicaSample:
    """How many replicas a generation ran at one round of the usage history."""

    service_id: str
    generation: str
    role: str
    at: float
    replicas: int


def fold_calls(session: Session, rows: Iterable[Mapping[str, Any]]) -> int:
    """Add ``rows`` (``query_log`` values) to the rollups; how many minutes changed."""
    minutes: dict[Key, Rollup] = defaultdict(Rollup)
    for row in rows:
        minute = int(row["at"].timestamp()) // MINUTE * MINUTE
        service_id = row["service_id"]
        predictions = row["predictions"] or 0
        role = row.get("role") or "main"
        minutes[(service_id, row["generation"] or _NONE, role, minute)].add_call(
            row["status"], row["latency_ms"], row["instance_ms"], predictions,
            row["request_bytes"], row["response_bytes"], row["caller"] or "",
            row.get("warnings") or 0,
        )
        challenger = row["challenger_generation"]
        challenger_status = row["challenger_status"]
        if challenger and challenger_status:
            minutes[(service_id, challenger, "challenger", minute)].add_call(
                challenger_status, row["challenger_latency_ms"] or 0.0, None,
                predictions if challenger_status < 400 else 0, row["request_bytes"], 0,
                row["caller"] or "",
            )
    # The service as a whole: its live calls, with or without a generation.
    for (service_id, _generation, role, minute), rollup in list(minutes.items()):
        if role == "main":
            minutes[(service_id, ALL_GENERATIONS, role, minute)].merge(rollup)
    for key in [key for key in minutes if key[1] == _NONE]:
        del minutes[key]
    fold_minutes(session, minutes)
    return len(minutes)


def fold_usage(session: Session, samples: Iterable[UsageSample],
               replicas: Iterable[ReplicaSample] = ()) -> None:
    minutes: dict[Key, Rollup] = defaultdict(Rollup)
    for sample in samples:
        minute = int(sample.at) // MINUTE * MINUTE
        minutes[(sample.service_id, sample.generation, sample.role, minute)].add_usage(
            sample.cpu_percent, sample.memory_bytes, sample.gpu_memory_bytes)
    for count in replicas:
        minute = int(count.at) // MINUTE * MINUTE
        minutes[(count.service_id, count.generation, count.role, minute)].add_replicas(
            count.replicas)
    fold_minutes(session, minutes)


def fold_minutes(session: Session, minutes: dict[Key, Rollup]) -> None:
    """Merge per-minute rollups, keyed (service id, generation, role, minute start), into
    the stored minute, hour and day rollups."""
    if not minutes:
        return
    # Read, merged, written back: on PostgreSQL the ingests of several nodes and the
    # leader's usage samples fold at once, and would lose each other's counts (or clash
    # inserting one new minute). Their services' rows, locked in one order, make them
    # take turns, each reading what the one before committed.
    lock_services(session, {key[0] for key in minutes})
    stored = _stored(session, MINUTE, minutes)
    longer: dict[int, dict[Key, Rollup]] = {HOUR: defaultdict(Rollup), DAY: defaultdict(Rollup)}
    # What each minute's calls were before and are after this batch, for the load of
    # the hours and days it belongs to.
    loads: dict[int, dict[Key, list[tuple[int, int]]]] = {HOUR: defaultdict(list),
                                                          DAY: defaultdict(list)}
    for key, fresh in minutes.items():
        before = stored[key].calls if key in stored else 0
        for span in (HOUR, DAY):
            outer = (*key[:3], key[3] // span * span)
            longer[span][outer].merge(fresh)
            if fresh.calls:
                loads[span][outer].append((before, before + fresh.calls))
    _write(session, MINUTE, minutes, stored)
    for span in (HOUR, DAY):
        for outer, changes in loads[span].items():
            rollup = longer[span][outer]
            for _before, after in changes:
                rollup.peak_load = max(rollup.peak_load, after)
        stored_outer = _stored(session, span, longer[span])
        for outer, changes in loads[span].items():
            target = stored_outer.get(outer)
            if target is None:
                continue
            for before, _after in changes:
                if before:
                    target.load.remove(before)
        for outer, changes in loads[span].items():
            for _before, after in changes:
                longer[span][outer].load.add(after)
        _write(session, span, longer[span], stored_outer)


def _stored(session: Session, span: int, keys: Iterable[Key]) -> dict[Key, Rollup]:
    """The stored rollups of ``keys`` at ``span``: one lookup by primary key prefix per
    service and chunk of starts."""
    wanted = set(keys)
    starts: dict[str, set[int]] = defaultdict(set)
    for service_id, _generation, _role, start in wanted:
        starts[service_id].add(start)
    found: dict[Key, Rollup] = {}
    for service_id, service_starts in starts.items():
        ordered = sorted(service_starts)
        for first in range(0, len(ordered), _CHUNK):
            query = select(_TABLE).where(
                _TABLE.c.service_id == service_id, _TABLE.c.span == span,
                _TABLE.c.start.in_(ordered[first:first + _CHUNK]),
            )
            for row in session.execute(query):
                key = (row.service_id, row.generation, row.role, row.start)
                if key in wanted:
                    found[key] = Rollup.from_columns(row)
    return found


def _write(
    session: Session, span: int, fresh: dict[Key, Rollup], stored: dict[Key, Rollup]
) -> None:
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for key, rollup in fresh.items():
        service_id, generation, role, start = key
        previous = stored.get(key)
        if previous is not None:
            previous.merge(rollup)
            rollup = previous
        values = rollup.columns()
        values.update(service_id=service_id, span=span, start=start, generation=generation,
                      role=role)
        (updates if previous is not None else inserts).append(values)
    if inserts:
        session.execute(insert(_TABLE), inserts)
    if updates:
        session.execute(
            update(StatsRollupRow),
            updates,
        )
