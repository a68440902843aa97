"""``ServiceStats``: a service's stats over a window, per generation and role and for
the service as a whole (``summary``), or bucket by bucket (``over_time``), each answered
by merging rollups.

A window is covered by as few rollups as possible: whole days by daily rollups, the
whole hours left at either end by hourly ones, the minutes left by per-minute ones, so a
question reads at most a few hundred rows per generation whatever its traffic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from shipyard.domain.generation_refs import parse_tag
from shipyard.errors import InvalidInput
from shipyard.stats.figures import METRICS, metric_values, summary_of
from shipyard.stats.folding import ALL_GENERATIONS
from shipyard.stats.histogram import Histogram
from shipyard.stats.rollup import DAY, HISTOGRAMS, HOUR, MINUTE, ROLES, SPANS, Rollup
from shipyard.stats.windows import StatsWindow, iso
from shipyard.store import GenerationRow, StatsRollupRow, Store

__all__ = ["ServiceStats", "covering"]

_TABLE = StatsRollupRow.__table__
Series = tuple[str, str]
"""(generation, role)."""


def covering(start: int, end: int) -> list[tuple[int, int, int]]:
    """(span, first start, end) ranges of rollups that cover ``[start, end)`` exactly,
    the longest spans first; ``start`` and ``end`` are whole minutes."""
    ranges: list[tuple[int, int, int]] = []
    pieces = [(start, end)]
    for span in (DAY, HOUR):
        left: list[tuple[int, int]] = []
        for lo, hi in pieces:
            first = -(-lo // span) * span
            last = hi // span * span
            if first < last:
                ranges.append((span, first, last))
                left += [(lo, first), (last, hi)]
            else:
                left.append((lo, hi))
        pieces = [(lo, hi) for lo, hi in left if lo < hi]
    ranges += [(MINUTE, lo, hi) for lo, hi in pieces]
    return ranges


class ServiceStats:
    def __init__(self, store: Store) -> None:
        self.store = store

    def summary(
        self, service_id: str, window: StatsWindow, *, generation: str | None = None,
        role: str | None = None, slow_ms: float,
    ) -> dict[str, Any]:
        """The service's figures over ``window``: ``overall`` (every call, main role),
        and one entry per generation and role (the challenger's beside the main ones)."""
        with self.store.reading() as session:
            self._check(session, service_id, generation, role)
            merged = self._merged(session, service_id, covering(window.start, window.end),
                                  generation, role, bucket=None, histograms=HISTOGRAMS,
                                  callers=True)
        series = merged.get(0, {})
        overall = series.pop((ALL_GENERATIONS, "main"), Rollup())
        return {
            **window.as_dict(),
            "slow_request_ms": slow_ms,
            "overall": summary_of(overall, slow_ms),
            "generations": [
                {"generation": tag, "role": kind, **summary_of(rollup, slow_ms)}
                for (tag, kind), rollup in sorted(series.items(),
                                                  key=lambda item: _series_order(item[0]))
            ],
        }

    def over_time(
        self, service_id: str, window: StatsWindow, bucket_size: int, metrics: list[str],
        *, generation: str | None = None, role: str | None = None, slow_ms: float,
    ) -> dict[str, Any]:
        """``metrics`` per bucket of ``bucket_size`` seconds, for the service and per
        generation and role; a bucket without data has zeros and Nones."""
        for name in metrics:
            if name not in METRICS:
                raise InvalidInput(
                    f"unknown metric {name!r}; the metrics are {', '.join(METRICS)}"
                )
        starts = window.bucket_starts(bucket_size)
        span = max(s for s in SPANS
                   if bucket_size % s == 0 and window.start % s == 0 and window.end % s == 0)
        with self.store.reading() as session:
            self._check(session, service_id, generation, role)
            merged = self._merged(session, service_id, [(span, window.start, window.end)],
                                  generation, role, bucket=(window.start, bucket_size),
                                  histograms=histograms_for(metrics),
                                  callers="num_consumers" in metrics)
        names = sorted({key for buckets in merged.values() for key in buckets},
                       key=_series_order)
        if generation is None and role in (None, "main"):
            names = [(ALL_GENERATIONS, "main"), *(n for n in names if n[0] != ALL_GENERATIONS)]
        bounds = [(iso(begin), iso(min(begin + bucket_size, window.end))) for begin in starts]
        empty = metric_values(Rollup(), metrics, slow_ms)
        series = []
        for key in names:
            buckets = []
            for index, (begin, end) in enumerate(bounds):
                rollup = merged.get(index, {}).get(key)
                values = empty if rollup is None else metric_values(rollup, metrics, slow_ms)
                buckets.append({"start": begin, "end": end, **values})
            tag, kind = key
            series.append({"generation": tag or None, "role": kind, "buckets": buckets})
        return {**window.as_dict(), "bucket_size": bucket_size, "metrics": metrics,
                "slow_request_ms": slow_ms, "series": series}

    def _check(
        self, session: Session, service_id: str, generation: str | None, role: str | None
    ) -> None:
        if role is not None and role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if generation is None:
            return
        number = parse_tag(generation)
        known = session.scalar(select(
            exists().where(GenerationRow.service_id == service_id,
                           GenerationRow.number == number)
            | exists().where(_TABLE.c.service_id == service_id,
                             _TABLE.c.generation == generation)
        ))
        if not known:
            raise InvalidInput(f"the service has no generation {generation}")

    def _merged(
        self, session: Session, service_id: str, ranges: Iterable[tuple[int, int, int]],
        generation: str | None, role: str | None, *, bucket: tuple[int, int] | None,
        histograms: Iterable[str], callers: bool,
    ) -> dict[int, dict[Series, Rollup]]:
        """The rollups in ``ranges``, merged per bucket (0 when ``bucket`` is None) and
        series; of their histograms, only ``histograms``, and their callers only when
        ``callers`` (what is left out stays empty)."""
        # One range scan of the primary key per range: an OR of them would scan them all.
        queries = []
        for span, lo, hi in ranges:
            query = select(_TABLE).where(_TABLE.c.service_id == service_id,
                                         _TABLE.c.span == span, _TABLE.c.start >= lo,
                                         _TABLE.c.start < hi)
            if generation is not None:
                query = query.where(_TABLE.c.generation == generation)
            if role is not None:
                query = query.where(_TABLE.c.role == role)
            queries.append(query)
        merging: dict[int, dict[Series, _Merging]] = defaultdict(dict)
        wanted = tuple(histograms)
        rows = (row for query in queries for row in session.execute(query))
        for row in rows:
            index = 0 if bucket is None else (row.start - bucket[0]) // bucket[1]
            series = merging[index]
            key = (row.generation, row.role)
            target = series.get(key)
            if target is None:
                target = series[key] = _Merging(wanted, callers)
            target.add(row)
        return {index: {key: target.result() for key, target in series.items()}
                for index, series in merging.items()}


class _Merging:
    """The rows of one series (in one bucket) as they are read: their numbers merged at
    once, the histograms wanted kept to be summed together at the end."""

    __slots__ = ("callers", "rollup", "stored")

    def __init__(self, histograms: Iterable[str], callers: bool) -> None:
        self.rollup = Rollup()
        self.stored: dict[str, list[bytes]] = {name: [] for name in histograms}
        self.callers = callers

    def add(self, row: Any) -> None:
        minute = row.span == MINUTE
        self.rollup.merge_numbers(row, as_minute=minute, callers=self.callers)
        for name, stored in self.stored.items():
            if not (minute and name == "load"):
                stored.append(getattr(row, name))

    def result(self) -> Rollup:
        for name, stored in self.stored.items():
            # One row (a chart's bucket of one rollup) needs no summing.
            summed = (Histogram.from_bytes(stored[0]) if len(stored) == 1
                      else Histogram.summed(stored))
            if getattr(self.rollup, name).counts:  # the load of minutes, merged already
                getattr(self.rollup, name).merge(summed)
            else:
                setattr(self.rollup, name, summed)
        return self.rollup


def histograms_for(metrics: Iterable[str]) -> tuple[str, ...]:
    """The histograms ``metrics`` are computed from."""
    wanted = set()
    for name in metrics:
        if name.startswith("response_time") or name == "slow_requests":
            wanted.add("latency")
        elif name.startswith("execution_time"):
            wanted.add("instance_time")
        elif name.startswith("overhead_time"):
            wanted.add("overhead")
        elif name == "median_load":
            wanted.add("load")
    return tuple(name for name in HISTOGRAMS if name in wanted)


def _series_order(series: Series) -> tuple[int, int]:
    """Main before challenger, then by generation number."""
    tag, role = series
    number = int(tag[1:]) if tag.startswith("v") and tag[1:].isdigit() else 0
    return (ROLES.index(role), number)
