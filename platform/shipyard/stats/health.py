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

A service stores only the thresholds it sets (``patched_overrides``: a JSON merge patch,
so ``null`` puts a threshold, or all of them, back to its default), and shows them all
(``thresholds_of``). ``service_health`` answers for many services at once, reading only
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
from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.errors import InvalidInput
from shipyard.stats.figures import DEFAULT_SLOW_REQUEST_MS, summary_of
from shipyard.stats.folding import ALL_GENERATIONS
from shipyard.stats.histogram import Histogram
from shipyard.stats.rollup import MINUTE, Rollup
from shipyard.store import StatsRollupRow, Store

if TYPE_CHECKING:
    from shipyard.stats.windows import StatsWindow

# ``shipyard.stats.queries`` and ``windows`` are imported where they are used: they reach
# the domain (through the query log's time parsing), whose services import this module.

__all__ = [
    "HEALTH_STATUSES",
    "THRESHOLD_KEYS",
    "Health",
    "HealthStatus",
    "HealthSubject",
    "HealthThresholds",
    "Levels",
    "health_of",
    "patched_overrides",
    "recent_window",
    "service_health",
    "thresholds_of",
]

logger = logging.getLogger(__name__)

NAME = "health_thresholds"
MAX_WINDOW_MINUTES = 7 * 24 * 60
MAX_MS = 3_600_000.0
MAX_REQUESTS = 1_000_000_000
_CHUNK = 500
_TABLE = StatsRollupRow.__table__


class HealthStatus(StrEnum):
    PASSING = "passing"
    WARNING = "warning"
    FAILING = "failing"
    UNKNOWN = "unknown"


HEALTH_STATUSES = tuple(HealthStatus)
_SEVERITY = {HealthStatus.PASSING: 0, HealthStatus.WARNING: 1, HealthStatus.FAILING: 2}


@dataclass(frozen=True)
class Levels:
    """A figure's two thresholds; the warning one at or under the failing one."""

    warning: float
    failing: float

    def to_dict(self) -> dict[str, float]:
        return {"warning": self.warning, "failing": self.failing}


@dataclass(frozen=True)
class HealthThresholds:
    """What a service's health is told by; the defaults warn past 1 call in 100 failing
    or a second's wait, and fail past 1 in 20 or 5 seconds (4xx, often the callers'
    doing, are given more room)."""

    window_minutes: int = 60
    """The window health looks back over, up to now."""
    min_requests: int = 1
    """Fewer calls than this in the window: ``unknown`` (1: a service without calls)."""
    server_error_rate: Levels = Levels(0.01, 0.05)
    user_error_rate: Levels = Levels(0.10, 0.25)
    response_time_p90_ms: Levels = Levels(1000.0, 5000.0)
    slow_request_ms: float = DEFAULT_SLOW_REQUEST_MS
    """The response time over which a call counts as slow in the service's stats."""

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any] | None, *, base: HealthThresholds | None = None
    ) -> HealthThresholds:
        """``data`` (any of the keys, a figure's levels one or both) over ``base`` (the
        defaults when None), checked: every number in its range, warning at or under
        failing, no unknown key."""
        start = base or cls()
        if data is None:
            return start
        if not isinstance(data, Mapping):
            raise InvalidInput(f"{NAME} must be an object such as "
                               '{"server_error_rate": {"warning": 0.02}}')
        unknown = sorted(set(data) - set(THRESHOLD_KEYS))
        if unknown:
            raise InvalidInput(
                f"unknown {NAME} key(s) {unknown}; known: {', '.join(THRESHOLD_KEYS)}"
            )
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in _LEVELS:
                values[key] = _levels(key, value, getattr(start, key))
            else:
                values[key] = _scalar(key, value)
        return replace(start, **values)

    def to_dict(self) -> dict[str, Any]:
        return {spec.name: (value.to_dict() if isinstance(value, Levels) else value)
                for spec in fields(self) for value in [getattr(self, spec.name)]}


THRESHOLD_KEYS = tuple(spec.name for spec in fields(HealthThresholds))
_LEVELS = ("server_error_rate", "user_error_rate", "response_time_p90_ms")
_SCALARS: dict[str, tuple[type, float, float, str]] = {
    # key: (type, lowest, highest, what it is)
    "window_minutes": (int, 1, MAX_WINDOW_MINUTES, "a whole number of minutes"),
    "min_requests": (int, 1, MAX_REQUESTS, "a whole number of calls"),
    "slow_request_ms": (float, 0, MAX_MS, "milliseconds"),
}
_RANGES: dict[str, tuple[float, float, str]] = {
    "server_error_rate": (0.0, 1.0, "a rate"),
    "user_error_rate": (0.0, 1.0, "a rate"),
    "response_time_p90_ms": (0.0, MAX_MS, "milliseconds"),
}


def _number(path: str, value: Any, kind: type, lowest: float, highest: float,
            what: str) -> float:
    whole = kind is int
    if isinstance(value, bool) or not isinstance(value, int | float) or (
        isinstance(value, float) and not math.isfinite(value)
    ) or (whole and isinstance(value, float) and not value.is_integer()):
        raise InvalidInput(f"{NAME}.{path} must be {what} from {lowest:g} to {highest:g}, "
                           f"not {value!r}")
    if not lowest <= value <= highest:
        raise InvalidInput(f"{NAME}.{path} must be from {lowest:g} to {highest:g} ({what}), "
                           f"not {value:g}")
    return int(value) if whole else float(value)


def _scalar(key: str, value: Any) -> float:
    kind, lowest, highest, what = _SCALARS[key]
    return _number(key, value, kind, lowest, highest, what)


def _levels(key: str, value: Any, start: Levels) -> Levels:
    if not isinstance(value, Mapping):
        example = f'{{"warning": {start.warning:g}, "failing": {start.failing:g}}}'
        raise InvalidInput(f"{NAME}.{key} must be an object with warning and/or failing, "
                           f"such as {example}, not {value!r}")
    unknown = sorted(set(value) - {"warning", "failing"})
    if unknown:
        raise InvalidInput(f"unknown {NAME}.{key} key(s) {unknown}; known: warning, failing")
    lowest, highest, what = _RANGES[key]
    levels = Levels(**{
        level: (_number(f"{key}.{level}", value[level], float, lowest, highest, what)
                if level in value else getattr(start, level))
        for level in ("warning", "failing")
    })
    if levels.warning > levels.failing:
        raise InvalidInput(
            f"{NAME}.{key}: the warning threshold {levels.warning:g} is over the failing "
            f"threshold {levels.failing:g}; a warning must come at or before failing"
        )
    return levels


def patched_overrides(stored: Mapping[str, Any] | None, patch: Any) -> dict[str, Any] | None:
    """What a service stores after ``patch`` over ``stored`` (the thresholds it set):
    a JSON merge patch, so a key given replaces the stored one, a figure's levels merge,
    ``null`` puts a key (or, for the whole patch, every key) back to its default. Checked
    whole, over the defaults; None when nothing differs from them by choice."""
    if patch is None:
        return None
    if not isinstance(patch, Mapping):
        raise InvalidInput(f"{NAME} must be an object such as "
                           '{"server_error_rate": {"warning": 0.02}}, or null for the defaults')
    merged = _merged(stored or {}, patch)
    checked = HealthThresholds.from_dict(merged)
    overrides: dict[str, Any] = {}
    for key, value in merged.items():
        current = getattr(checked, key)
        overrides[key] = ({level: getattr(current, level) for level in value}
                          if isinstance(current, Levels) else current)
    return overrides or None


def _merged(stored: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7396: ``patch`` over ``stored``, a figure's levels merged one by one."""
    result = dict(stored)
    for key, value in patch.items():
        below = result.get(key)
        if value is None:
            result.pop(key, None)
        elif key in _LEVELS and isinstance(value, Mapping):
            levels = {**(below if isinstance(below, Mapping) else {}), **value}
            levels = {level: limit for level, limit in levels.items() if limit is not None}
            if levels:
                result[key] = levels
            else:
                result.pop(key, None)
        else:
            result[key] = value
    return result


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
