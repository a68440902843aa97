"""A service's monitoring settings, in one place (``services.monitoring``): whether its
feature and target drift are tracked, the thresholds drift is flagged at, and the columns
of each record that identify it for actuals (its association id: DataRobot's
``column_names``), whether every record must carry them.

A service stores only what it set (a JSON merge patch over the stored settings, as its
health thresholds are); ``monitoring_of`` gives the defaults with those over them. A
change is read by the next call the supervisor folds: no redeploy, and a model
replacement keeps them (they belong to the service, not to a generation).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

from shipyard.errors import InvalidInput
from shipyard.stats.drift_measures import DriftThresholds

__all__ = ["MONITORING_KEYS", "MonitoringSettings", "monitoring_of", "patched_monitoring"]

logger = logging.getLogger(__name__)

NAME = "monitoring"
MAX_MIN_ROWS = 1_000_000


@dataclass(frozen=True)
class MonitoringSettings:
    feature_drift: bool = True
    """Count each scored row's features in the drift rollups (model services)."""
    target_drift: bool = True
    """Count each scored row's prediction, for target drift."""
    drift_thresholds: DriftThresholds = field(default_factory=DriftThresholds)
    association_id_columns: tuple[str, ...] = ()
    """The columns of a record that identify it: not features (the model never sees
    them); the query log keeps their values, one association id per row."""
    required_in_prediction_requests: bool = False
    """A record without its association columns is refused (400)."""

    @property
    def tracks_drift(self) -> bool:
        return self.feature_drift or self.target_drift

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> MonitoringSettings:
        """``data`` (any of the keys) over the defaults, checked."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidInput(f'{NAME} must be an object such as {{"feature_drift": false}}')
        unknown = sorted(set(data) - set(MONITORING_KEYS))
        if unknown:
            raise InvalidInput(f"unknown {NAME} key(s) {unknown}; known: "
                               f"{', '.join(MONITORING_KEYS)}")
        values: dict[str, Any] = {}
        for key in ("feature_drift", "target_drift", "required_in_prediction_requests"):
            if key in data:
                if not isinstance(data[key], bool):
                    raise InvalidInput(f"{NAME}.{key} must be true or false, not {data[key]!r}")
                values[key] = data[key]
        if "drift_thresholds" in data:
            values["drift_thresholds"] = _thresholds(data["drift_thresholds"])
        if "association_id_columns" in data:
            values["association_id_columns"] = _columns(data["association_id_columns"])
        settings = replace(cls(), **values)
        if settings.required_in_prediction_requests and not settings.association_id_columns:
            raise InvalidInput(f"{NAME}.required_in_prediction_requests needs "
                               "association_id_columns: name the columns that are required")
        return settings

    def to_dict(self) -> dict[str, Any]:
        thresholds = self.drift_thresholds
        return {"feature_drift": self.feature_drift, "target_drift": self.target_drift,
                "drift_thresholds": {spec.name: getattr(thresholds, spec.name)
                                     for spec in fields(thresholds)},
                "association_id_columns": list(self.association_id_columns),
                "required_in_prediction_requests": self.required_in_prediction_requests}


MONITORING_KEYS = tuple(spec.name for spec in fields(MonitoringSettings))
_THRESHOLDS: dict[str, tuple[type, float, float, str]] = {
    # key: (type, lowest, highest, what it is)
    "psi": (float, 0.0, 100.0, "a population stability index"),
    "js_distance": (float, 0.0, 1.0, "a Jensen-Shannon distance"),
    "p_value": (float, 0.0, 1.0, "a p-value"),
    "min_rows": (int, 1, MAX_MIN_ROWS, "a whole number of rows"),
}


MAX_ASSOCIATION_COLUMNS = 10
MAX_COLUMN_LENGTH = 128


def _columns(value: Any) -> tuple[str, ...]:
    """Column names, each once: text a header can carry (printable ASCII, no comma)."""
    if not isinstance(value, list | tuple) or len(value) > MAX_ASSOCIATION_COLUMNS:
        raise InvalidInput(f"{NAME}.association_id_columns must be a list of at most "
                           f"{MAX_ASSOCIATION_COLUMNS} column names, such as [\"customer_id\"]")
    for column in value:
        if not isinstance(column, str) or not 0 < len(column) <= MAX_COLUMN_LENGTH or any(
            not " " <= char <= "~" or char == "," for char in column
        ) or column != column.strip():
            raise InvalidInput(
                f"{NAME}.association_id_columns: {column!r} is not a column name (1 to "
                f"{MAX_COLUMN_LENGTH} printable ASCII characters, no comma, no outer spaces)")
    if len(set(value)) != len(value):
        raise InvalidInput(f"{NAME}.association_id_columns names a column twice")
    return tuple(value)


def _thresholds(value: Any) -> DriftThresholds:
    if not isinstance(value, Mapping):
        raise InvalidInput(f'{NAME}.drift_thresholds must be an object such as {{"psi": 0.25}}, '
                           f"not {value!r}")
    unknown = sorted(set(value) - set(_THRESHOLDS))
    if unknown:
        raise InvalidInput(f"unknown {NAME}.drift_thresholds key(s) {unknown}; known: "
                           f"{', '.join(_THRESHOLDS)}")
    checked: dict[str, Any] = {}
    for key, raw in value.items():
        kind, lowest, highest, what = _THRESHOLDS[key]
        whole = kind is int
        if isinstance(raw, bool) or not isinstance(raw, int | float) or (
            isinstance(raw, float) and not math.isfinite(raw)
        ) or (whole and isinstance(raw, float) and not raw.is_integer()) \
                or not lowest <= raw <= highest:
            raise InvalidInput(f"{NAME}.drift_thresholds.{key} must be {what} from "
                               f"{lowest:g} to {highest:g}, not {raw!r}")
        checked[key] = int(raw) if whole else float(raw)
    return replace(DriftThresholds(), **checked)


class MonitoredService(Protocol):
    id: str
    monitoring: Any


def monitoring_of(service: MonitoredService) -> MonitoringSettings:
    """A service's settings: the defaults, with the ones it set over them."""
    value = service.monitoring
    if isinstance(value, MonitoringSettings):
        return value
    try:
        return MonitoringSettings.from_dict(value or None)
    except InvalidInput as exc:
        # Checked when stored; only a change of the defaults could break them since.
        logger.warning("service %s: stored %s ignored: %s", service.id, NAME, exc.message)
        return MonitoringSettings()


def patched_monitoring(stored: Mapping[str, Any] | None, patch: Any) -> dict[str, Any] | None:
    """What a service stores after ``patch`` over ``stored``: a JSON merge patch (a key
    given replaces the stored one, ``drift_thresholds`` merge key by key, ``null`` puts a
    key, or for the whole patch every key, back to its default), checked whole; None when
    nothing is set."""
    if patch is None:
        return None
    if not isinstance(patch, Mapping):
        raise InvalidInput(f'{NAME} must be an object such as {{"feature_drift": false}}, '
                           "or null for the defaults")
    merged = dict(stored or {})
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif key == "drift_thresholds" and isinstance(value, Mapping):
            inner = dict(merged.get(key) or {})
            for name, level in value.items():
                if level is None:
                    inner.pop(name, None)
                else:
                    inner[name] = level
            if inner:
                merged[key] = inner
            else:
                merged.pop(key, None)
        else:
            merged[key] = value
    MonitoringSettings.from_dict(merged)
    return merged or None
