"""A service's monitoring settings, in one place (``services.monitoring``): whether its
feature and target drift are tracked, the thresholds drift is flagged at, and the columns
of each record that identify it for actuals (its association id: DataRobot's
``column_names``), whether every record must carry them, prediction warnings and their
boundaries, and what its drift and accuracy health are told by.

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

__all__ = [
    "MONITORING_KEYS", "MonitoringHealth", "MonitoringSettings", "PredictionWarnings",
    "monitoring_of", "patched_monitoring",
]

logger = logging.getLogger(__name__)

NAME = "monitoring"
MAX_MIN_ROWS = 1_000_000


@dataclass(frozen=True)
class PredictionWarnings:
    """DataRobot's Humble AI: a prediction outside its boundaries (or made from inputs
    outside the baseline's) still answers, with ``X-Shipyard-Prediction-Warning``."""

    enabled: bool = False
    lower: float | None = None
    """A regression's lowest expected prediction; None: the baseline target's lowest,
    widened by ``margin``."""
    upper: float | None = None
    """Its highest; None: the baseline target's highest, widened by ``margin``."""
    margin: float = 0.1
    """How far past the baseline target's range a prediction may go, as a share of
    that range."""
    min_confidence: float = 0.5
    """A classification whose top probability is under this is flagged."""
    flag_inputs: bool = True
    """Flag numbers outside the baseline's range and categories it never had."""


@dataclass(frozen=True)
class MonitoringHealth:
    """What ``drift_health`` and ``accuracy_health`` are told by."""

    window_hours: int = 24
    """The window they look back over, up to now."""
    important_feature: float = 0.2
    """A drifted feature at least this important (or the target drifting) fails drift
    health; any other drift warns."""
    accuracy_metric: str | None = None
    """The metric accuracy health watches; None: accuracy for a classification, RMSE for
    a regression."""
    accuracy_warning: float = 0.05
    accuracy_failing: float = 0.10
    """How much worse than on the baseline (relative) the metric may get before health
    warns, and fails."""


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
    prediction_warnings: PredictionWarnings = field(default_factory=PredictionWarnings)
    health: MonitoringHealth = field(default_factory=MonitoringHealth)

    @property
    def tracks_drift(self) -> bool:
        return self.feature_drift or self.target_drift

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> MonitoringSettings:
        """``data`` (any of the keys, a section's any of its own) over the defaults,
        checked."""
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
                values[key] = _flag(data[key], key)
        for key, section in SECTIONS.items():
            if key in data:
                values[key] = _section(key, section, data[key])
        if "association_id_columns" in data:
            values["association_id_columns"] = _columns(data["association_id_columns"])
        settings = replace(cls(), **values)
        if settings.required_in_prediction_requests and not settings.association_id_columns:
            raise InvalidInput(f"{NAME}.required_in_prediction_requests needs "
                               "association_id_columns: name the columns that are required")
        warnings = settings.prediction_warnings
        if warnings.lower is not None and warnings.upper is not None \
                and warnings.lower >= warnings.upper:
            raise InvalidInput(f"{NAME}.prediction_warnings: lower ({warnings.lower:g}) must be "
                               f"under upper ({warnings.upper:g})")
        if settings.health.accuracy_warning > settings.health.accuracy_failing:
            raise InvalidInput(f"{NAME}.health: accuracy_warning must be at or under "
                               "accuracy_failing")
        return settings

    def to_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "feature_drift": self.feature_drift, "target_drift": self.target_drift,
            "association_id_columns": list(self.association_id_columns),
            "required_in_prediction_requests": self.required_in_prediction_requests,
        }
        for key in SECTIONS:
            section = getattr(self, key)
            answer[key] = {spec.name: getattr(section, spec.name) for spec in fields(section)}
        return answer


MONITORING_KEYS = tuple(spec.name for spec in fields(MonitoringSettings))
Spec = tuple[type, float, float, str]
SECTIONS: dict[str, tuple[type, dict[str, Spec]]] = {
    # key: (its class, {key: (type, lowest, highest, what it is)})
    "drift_thresholds": (DriftThresholds, {
        "psi": (float, 0.0, 100.0, "a population stability index"),
        "js_distance": (float, 0.0, 1.0, "a Jensen-Shannon distance"),
        "p_value": (float, 0.0, 1.0, "a p-value"),
        "min_rows": (int, 1, MAX_MIN_ROWS, "a whole number of rows"),
    }),
    "prediction_warnings": (PredictionWarnings, {
        "enabled": (bool, 0, 1, "true or false"),
        "lower": (float, -1e300, 1e300, "a number, or null for the baseline's"),
        "upper": (float, -1e300, 1e300, "a number, or null for the baseline's"),
        "margin": (float, 0.0, 10.0, "a share of the baseline target's range"),
        "min_confidence": (float, 0.0, 1.0, "a probability"),
        "flag_inputs": (bool, 0, 1, "true or false"),
    }),
    "health": (MonitoringHealth, {
        "window_hours": (int, 1, 24 * 366, "a whole number of hours"),
        "important_feature": (float, 0.0, 1.0, "an importance (they add up to 1)"),
        "accuracy_metric": (str, 0, 0, "a metric name, or null for the problem type's"),
        "accuracy_warning": (float, 0.0, 10.0, "a relative degradation (0.05: 5% worse)"),
        "accuracy_failing": (float, 0.0, 10.0, "a relative degradation (0.10: 10% worse)"),
    }),
}
NULLABLE = {("prediction_warnings", "lower"), ("prediction_warnings", "upper"),
            ("health", "accuracy_metric")}
ACCURACY_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "auc",
                    "log_loss", "rmse", "mae", "mape", "r2", "gamma_deviance")

MAX_ASSOCIATION_COLUMNS = 10
MAX_COLUMN_LENGTH = 128


def _flag(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{NAME}.{path} must be true or false, not {value!r}")
    return value


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


def _section(key: str, section: tuple[type, dict[str, Spec]], value: Any) -> Any:
    kind, specs = section
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{NAME}.{key} must be an object with any of "
                           f"{', '.join(specs)}, not {value!r}")
    unknown = sorted(set(value) - set(specs))
    if unknown:
        raise InvalidInput(f"unknown {NAME}.{key} key(s) {unknown}; known: {', '.join(specs)}")
    checked = {name: _value(f"{key}.{name}", raw, specs[name], (key, name) in NULLABLE)
               for name, raw in value.items()}
    return replace(kind(), **checked)


def _value(path: str, raw: Any, spec: Spec, nullable: bool) -> Any:
    kind, lowest, highest, what = spec
    if raw is None and nullable:
        return None
    if kind is bool:
        return _flag(raw, path)
    if kind is str:
        if raw not in ACCURACY_METRICS:
            raise InvalidInput(f"{NAME}.{path} must be one of {', '.join(ACCURACY_METRICS)}, "
                               f"not {raw!r}")
        return raw
    whole = kind is int
    if isinstance(raw, bool) or not isinstance(raw, int | float) or (
        isinstance(raw, float) and not math.isfinite(raw)
    ) or (whole and isinstance(raw, float) and not raw.is_integer()) \
            or not lowest <= raw <= highest:
        bounds = "" if highest >= 1e300 else f" from {lowest:g} to {highest:g}"
        raise InvalidInput(f"{NAME}.{path} must be {what}{bounds}, not {raw!r}")
    return int(raw) if whole else float(raw)


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
        elif key in SECTIONS and isinstance(value, Mapping):
            inner = dict(merged.get(key) or {})
            for name, level in value.items():
                if level is None and (key, name) not in NULLABLE:
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
