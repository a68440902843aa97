"""The thresholds a service's health is told by (``HealthThresholds``), checked, and the
JSON merge patch that changes the ones a service stores (``patched_overrides``).

Kept apart from ``health``, which reads the stats, so that a manifest is checked without
loading the store (the CLI checks one before it pushes a folder).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from shipyard.errors import InvalidInput

__all__ = [
    "DEFAULT_SLOW_REQUEST_MS",
    "NAME",
    "THRESHOLD_KEYS",
    "HealthThresholds",
    "Levels",
    "patched_overrides",
]

NAME = "health_thresholds"
DEFAULT_SLOW_REQUEST_MS = 1000.0
MAX_WINDOW_MINUTES = 7 * 24 * 60
MAX_MS = 3_600_000.0
MAX_REQUESTS = 1_000_000_000


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
