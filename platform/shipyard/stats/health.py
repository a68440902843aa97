"""Service health: ``passing``, ``warning``, ``failing`` or ``unknown``, from a service's
error rates and response time over a recent window, against thresholds each service may
set (``HealthThresholds``; a service that sets none has the defaults).

    unknown   not deployed, or fewer than ``min_requests`` calls in the window
    failing   a figure over its failing threshold
    warning   a figure over its warning threshold, none over a failing one
    passing   every figure at or under its warning threshold

The figures: ``server_error_rate`` (5xx answers, timeouts included, per call),
``user_error_rate`` (4xx per call) and ``response_time_p90_ms`` (the 90th percentile of
the response time), each the service's as a whole (every call, whichever generation
answered it). "Over" is strictly over: a rate threshold of 1 never trips, one of 0 trips
on the first error. The worst check wins; each threshold crossed is a reason.

A service stores only the thresholds it sets (``health_thresholds``: a JSON merge
patch, so ``null`` puts a threshold, or all of them, back to its default), and shows them
all (``thresholds_of``). ``service_health`` answers for many services at once, reading only
the service-wide rollups of the window: a few range scans of the primary key for all of
them.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.errors import InvalidInput
from shipyard.stats.figures import summary_of
from shipyard.stats.folding import ALL_GENERATIONS
from shipyard.stats.health_thresholds import NAME, HealthThresholds, Levels
from shipyard.stats.histogram import Histogram
from shipyard.stats.rollup import MINUTE, Rollup
from shipyard.store import StatsRollupRow, Store

if TYPE_CHECKING:
    from shipyard.stats.windows import StatsWindow

# ``shipyard.stats.queries`` and ``windows`` are imported where they are used: they reach
# the domain (through the query log's time parsing), whose services import this module.

__all__ = [
    "HEALTH_STATUSES",
    "Health",
    "HealthStatus",
    "HealthSubject",
    "health_of",
    "recent_window",
    "service_health",
    "thresholds_of",
]

logger = logging.getLogger(__name__)

_CHUNK = 500
_TABLE = StatsRollupRow.__table__


class HealthStatus(StrEnum):
    PASSING = "passing"
    WARNING = "warning"
    FAILING = "failing"
    UNKNOWN = "unknown"


HEALTH_STATUSES = tuple(HealthStatus)
_SEVERITY = {HealthStatus.PASSING: 0, HealthStatus.WARNING: 1, HealthStatus.FAILING: 2}


class HealthSubject(Protocol):
    """A service as health needs it: a ``ServiceRow`` or a ``Service``."""

    @property
    def id(self) -> str: ...

    @property
    def deployed(self) -> bool: ...

    @property
    def health_thresholds(self) -> Any:
        """The overrides it stores (a row) or its thresholds (a ``Service``)."""


def thresholds_of(service: HealthSubject) -> HealthThresholds:
    """A service's thresholds: the defaults, with the ones it set over them."""
    value = service.health_thresholds
    if isinstance(value, HealthThresholds):
        return value
    try:
        return HealthThresholds.from_dict(value or None)
    except InvalidInput as exc:
        # Checked when stored; only a change of the defaults could break them since.
        logger.warning("service %s: stored %s ignored: %s", service.id, NAME, exc.message)
        return HealthThresholds()


@dataclass(frozen=True)
class Health:
    status: HealthStatus
    reasons: tuple[str, ...] = ()
    """Why it is not passing: each threshold crossed, or why it cannot be told."""
    window_minutes: int = HealthThresholds.window_minutes

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "reasons": list(self.reasons),
                "window_minutes": self.window_minutes}


def health_of(figures: Mapping[str, Any], thresholds: HealthThresholds) -> Health:
    """The health of a service whose figures over the last ``thresholds.window_minutes``
    are ``figures`` (``ServiceStats.summary``'s ``overall``)."""
    minutes = thresholds.window_minutes
    calls = figures.get("total_requests") or 0
    if calls < thresholds.min_requests:
        reason = (f"no calls in the last {_minutes(minutes)}" if not calls else
                  f"{calls} call{'s' * (calls != 1)} in the last {_minutes(minutes)}, "
                  f"fewer than min_requests ({thresholds.min_requests})")
        return Health(HealthStatus.UNKNOWN, (reason,), minutes)
    checked = (
        ("server_error_rate", figures.get("server_error_rate"), _percent),
        ("user_error_rate", figures.get("user_error_rate"), _percent),
        ("response_time_p90_ms", (figures.get("response_time") or {}).get("p90"), _ms),
    )
    status = HealthStatus.PASSING
    reasons: list[str] = []
    for key, value, shown in checked:
        if value is None:
            continue
        levels: Levels = getattr(thresholds, key)
        for level, limit in ((HealthStatus.FAILING, levels.failing),
                             (HealthStatus.WARNING, levels.warning)):
            if value > limit:
                figure = "response_time p90" if key == "response_time_p90_ms" else key
                reasons.append(f"{figure} {shown(value, precise=True)} over the {level} "
                               f"threshold {shown(limit, precise=False)}")
                status = max(status, level, key=_SEVERITY.__getitem__)
                break
    return Health(status, tuple(reasons), minutes)


def _percent(rate: float, *, precise: bool) -> str:
    return f"{rate * 100:.1f}%" if precise else f"{round(rate * 100, 4):g}%"


def _ms(value: float, *, precise: bool) -> str:
    return f"{value:.1f} ms" if precise else f"{round(value, 3):g} ms"


def _minutes(count: int) -> str:
    return "minute" if count == 1 else f"{count} minutes"


def recent_window(minutes: int, now: datetime | float | None = None) -> StatsWindow:
    """The last ``minutes`` whole minutes, the one under way included."""
    from shipyard.stats.windows import StatsWindow

    at = now.timestamp() if isinstance(now, datetime) else (time.time() if now is None
                                                             else now)
    end = math.ceil(at / MINUTE) * MINUTE
    return StatsWindow(end - minutes * MINUTE, end)


def service_health(
    source: Store | Session, services: Iterable[HealthSubject],
    now: datetime | float | None = None,
) -> dict[str, Health]:
    """The health of each of ``services`` at ``now`` (default: now), by id: a service not
    deployed is ``unknown`` without a read; the others' service-wide rollups are read
    together, per window length."""
    answers: dict[str, Health] = {}
    by_window: dict[int, list[tuple[str, HealthThresholds]]] = defaultdict(list)
    for service in services:
        thresholds = thresholds_of(service)
        if not service.deployed:
            answers[service.id] = Health(HealthStatus.UNKNOWN, ("not deployed",),
                                         thresholds.window_minutes)
        else:
            by_window[thresholds.window_minutes].append((service.id, thresholds))
    if not by_window:
        return answers
    with _session(source) as session:
        for minutes, members in by_window.items():
            window = recent_window(minutes, now)
            merged = _service_rollups(session, [service_id for service_id, _ in members],
                                      window)
            for service_id, thresholds in members:
                figures = summary_of(merged.get(service_id, Rollup()),
                                     thresholds.slow_request_ms)
                answers[service_id] = health_of(figures, thresholds)
    return answers


@contextmanager
def _session(source: Store | Session) -> Iterator[Session]:
    if isinstance(source, Store):
        with source.reading() as session:
            yield session
    else:
        yield source


def _service_rollups(
    session: Session, service_ids: list[str], window: StatsWindow
) -> dict[str, Rollup]:
    """Each service's calls in ``window`` as a whole: counts and response times only,
    read with one range scan of the primary key per range of rollups and chunk of
    services, the response times summed at the end (``Histogram.summed``)."""
    from shipyard.stats.queries import covering

    counts: dict[str, Rollup] = {}
    latencies: dict[str, list[bytes]] = defaultdict(list)
    columns = (_TABLE.c.service_id, _TABLE.c.calls, _TABLE.c.user_errors,
               _TABLE.c.server_errors, _TABLE.c.timeouts, _TABLE.c.latency)
    for span, lo, hi in covering(window.start, window.end):
        for first in range(0, len(service_ids), _CHUNK):
            query = select(*columns).where(
                _TABLE.c.service_id.in_(service_ids[first:first + _CHUNK]),
                _TABLE.c.span == span, _TABLE.c.start >= lo, _TABLE.c.start < hi,
                _TABLE.c.generation == ALL_GENERATIONS, _TABLE.c.role == "main",
            )
            for row in session.execute(query):
                rollup = counts.setdefault(row.service_id, Rollup())
                rollup.calls += row.calls
                rollup.user_errors += row.user_errors
                rollup.server_errors += row.server_errors
                rollup.timeouts += row.timeouts
                latencies[row.service_id].append(row.latency)
    for service_id, rollup in counts.items():
        rollup.latency = Histogram.summed(latencies[service_id])
    return counts
