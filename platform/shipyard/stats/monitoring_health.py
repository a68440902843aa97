"""Drift health and accuracy health: ``passing``, ``warning``, ``failing`` or ``unknown``,
beside a service's health (``shipyard.stats.health``), each told over the last
``monitoring.health.window_hours`` whole hours (the one under way included) by the
service's monitoring settings (``MonitoringHealth``).

Drift health, of the main role's rows of the generations drift is asked about by default
(``ServiceDrift``: the newest with a profile, and those binned like it):

    unknown   a custom service, a model service without drift yet, drift not tracked,
              or fewer than ``drift_thresholds.min_rows`` scored rows in the window
    failing   the target (the prediction) drifted, or a feature whose importance is at
              least ``important_feature``
    warning   another feature drifted (one whose importance is unknown too)
    passing   nothing drifted

Accuracy health compares a metric (``accuracy_metric``, or accuracy for a classification
and RMSE for a regression) over the window's actuals (``ServiceAccuracy``'s ``overall``)
with the model's own on its baseline (the newest generation's profile's
``baseline_accuracy``), as a relative degradation: ``(reference - live) / |reference|``
for a metric where higher is better, ``(live - reference) / |reference|`` where lower is
(a reference of 0: the difference itself).

    unknown   no actuals in the window (or fewer joined rows than ``min_rows``), no
              reference, or a metric the actuals cannot tell
    failing   a degradation at or over ``accuracy_failing``
    warning   at or over ``accuracy_warning``
    passing   under it (better than on the baseline included)

``drift_health_of`` and ``accuracy_health_of`` tell them from the answers of the drift and
accuracy questions; ``monitoring_health`` asks those questions for services of a store.
Each reason says why a health is not passing, or why it cannot be told.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shipyard.stats.health import Health, HealthStatus
from shipyard.stats.monitoring_settings import MonitoringSettings, monitoring_of
from shipyard.stats.rollup import HOUR

if TYPE_CHECKING:
    from shipyard.stats.drift_profile import DriftProfile
    from shipyard.stats.windows import StatsWindow
    from shipyard.store import Store

# The drift and accuracy queries (and the windows) are imported where they are used: they
# reach the domain, whose services import this module.

__all__ = [
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "HourlyHealth",
    "MonitoredService",
    "accuracy_health_of",
    "default_metric",
    "degradation",
    "drift_health_of",
    "monitoring_health",
    "monitoring_health_of",
    "recent_hours",
]

HIGHER_IS_BETTER = frozenset({"accuracy", "balanced_accuracy", "precision", "recall", "f1",
                              "auc", "r2"})
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae", "mape", "gamma_deviance"})
DEFAULT_METRICS = {"classification": "accuracy", "regression": "rmse"}
_SEVERITY = {HealthStatus.PASSING: 0, HealthStatus.WARNING: 1, HealthStatus.FAILING: 2}
_PRECISION = 9
"""Decimals a degradation is compared at: 0.04 under 0.8 is 5%, not 4.9999…%."""


@dataclass(frozen=True)
class HourlyHealth(Health):
    """A ``Health`` told over whole hours, shown with ``window_hours``."""

    @classmethod
    def of(cls, status: HealthStatus, reasons: Iterable[str], hours: int) -> HourlyHealth:
        return cls(status, tuple(reasons), hours * 60)

    @property
    def window_hours(self) -> int:
        return self.window_minutes // 60

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "reasons": list(self.reasons),
                "window_hours": self.window_hours}


class MonitoredService(Protocol):
    """A service as its monitoring health needs it: a ``ServiceRow`` or a ``Service``."""

    @property
    def id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def monitoring(self) -> Any:
        """The settings it stores (a row) or its settings (a ``Service``)."""


# -- drift ------------------------------------------------------------------------------


def drift_health_of(
    features: Mapping[str, Any], target: Mapping[str, Any] | None,
    settings: MonitoringSettings,
) -> HourlyHealth:
    """The drift health of a model service whose drift over the last
    ``settings.health.window_hours`` is ``features`` (``ServiceDrift.features``) and
    ``target`` (``ServiceDrift.target``; None when not asked)."""
    health = settings.health
    hours = health.window_hours
    rows = features.get("rows") or 0
    min_rows = settings.drift_thresholds.min_rows
    if rows < min_rows:
        reason = (f"no scored rows in the last {_hours(hours)}" if not rows else
                  f"{rows} scored row{'s' * (rows != 1)} in the last {_hours(hours)}, "
                  f"fewer than min_rows ({min_rows})")
        return HourlyHealth.of(HealthStatus.UNKNOWN, (reason,), hours)
    status = HealthStatus.PASSING
    reasons: list[str] = []
    prediction = (target or {}).get("target")
    if prediction and prediction.get("drifted"):
        status = HealthStatus.FAILING
        reasons.append(f"the prediction (target) drifted (PSI {_psi(prediction)})")
    for entry in features.get("features") or ():
        if not entry.get("drifted"):
            continue
        importance = entry.get("importance")
        if importance is None:
            level, shown = HealthStatus.WARNING, "importance unknown"
        else:
            level = (HealthStatus.FAILING if importance >= health.important_feature
                     else HealthStatus.WARNING)
            shown = f"importance {importance:.2f}"
        reasons.append(f"{entry['name']} drifted (PSI {_psi(entry)}, {shown})")
        status = max(status, level, key=_SEVERITY.__getitem__)
    return HourlyHealth.of(status, reasons, hours)


def _psi(entry: Mapping[str, Any]) -> str:
    psi = entry.get("psi")
    return "unknown" if psi is None else f"{psi:.2f}"


# -- accuracy ---------------------------------------------------------------------------


def default_metric(problem_type: str | None, settings: MonitoringSettings) -> str | None:
    """The metric accuracy health watches for a model of ``problem_type``."""
    return settings.health.accuracy_metric or DEFAULT_METRICS.get(problem_type or "")


def degradation(metric: str, live: float, reference: float) -> float:
    """How much worse ``live`` is than ``reference`` (negative: better): relative to the
    reference, or the difference itself for a reference of 0."""
    worse = reference - live if metric in HIGHER_IS_BETTER else live - reference
    return worse if reference == 0 else worse / abs(reference)


def accuracy_health_of(
    summary: Mapping[str, Any] | None, profile: DriftProfile | None,
    settings: MonitoringSettings, *, generation: str | None = None,
) -> HourlyHealth:
    """The accuracy health of a model service whose accuracy over the last
    ``settings.health.window_hours`` is ``summary`` (``ServiceAccuracy.summary``; None
    when not asked) and whose newest generation (``generation``, a tag) has ``profile``
    (None when it has none)."""
    from shipyard.stats.accuracy_metrics import METRIC_NAMES  # scikit-learn: model services

    health = settings.health
    hours = health.window_hours
    summary = summary or {}
    overall = summary.get("overall") or {}
    problem = summary.get("problem_type") or (profile.problem_type if profile else None)
    metric = default_metric(problem, settings)
    reasons: list[str] = []
    rows = overall.get("rows") or 0
    min_rows = settings.drift_thresholds.min_rows
    if not rows:
        reasons.append(f"no actuals in the last {_hours(hours)}")
    elif rows < min_rows:
        reasons.append(f"{rows} prediction{'s' * (rows != 1)} with actuals in the last "
                       f"{_hours(hours)}, fewer than min_rows ({min_rows})")
    if problem in METRIC_NAMES and metric not in METRIC_NAMES[problem]:
        reasons.append(f"{metric} is not a metric of a {problem} model; known: "
                       f"{', '.join(METRIC_NAMES[problem])}")
        return HourlyHealth.of(HealthStatus.UNKNOWN, reasons, hours)
    reference = _reference(profile, metric, generation, reasons)
    if reasons or metric is None or reference is None:
        return HourlyHealth.of(HealthStatus.UNKNOWN, reasons, hours)
    live = overall.get(metric)
    if not _finite(live):
        return HourlyHealth.of(HealthStatus.UNKNOWN, (
            f"{metric} cannot be told from the actuals in the last {_hours(hours)}",), hours)
    worse = degradation(metric, live, reference)
    rounded = round(worse, _PRECISION)
    if rounded >= health.accuracy_failing:
        status = HealthStatus.FAILING
    elif rounded >= health.accuracy_warning:
        status = HealthStatus.WARNING
    else:
        return HourlyHealth.of(HealthStatus.PASSING, (), hours)
    side = "under" if metric in HIGHER_IS_BETTER else "over"
    gap = f"{worse * 100:.1f}%" if reference != 0 else _number(abs(live - reference))
    return HourlyHealth.of(status, (f"{metric} {_number(live)}, {gap} {side} "
                                    f"{_number(reference)} on the baseline",), hours)


def _reference(profile: DriftProfile | None, metric: str | None, generation: str | None,
               reasons: list[str]) -> float | None:
    """The baseline's ``metric``, or None with the reason added to ``reasons``."""
    of = f"{generation}'s" if generation else "the model's"
    if profile is None or profile.prediction is None:
        reasons.append(f"no reference: {of} accuracy on its baseline is taken with its "
                       "drift reference, once it serves")
        return None
    if profile.baseline_accuracy is None:
        reasons.append(f"no reference: {of} model baseline holds no target")
        return None
    value = profile.baseline_accuracy.get(metric) if metric else None
    if not _finite(value):
        reasons.append(f"no reference: {metric or 'the metric'} is not known on {of} "
                       "baseline")
        return None
    return float(value)


# -- asking -----------------------------------------------------------------------------


def recent_hours(hours: int, now: datetime | float | None = None) -> StatsWindow:
    """The last ``hours`` whole hours, the one under way included."""
    from shipyard.stats.windows import StatsWindow

    at = now.timestamp() if isinstance(now, datetime) else (time.time() if now is None
                                                             else now)
    end = math.ceil(at / HOUR) * HOUR
    return StatsWindow(end - hours * HOUR, end)


def monitoring_health_of(
    store: Store, service: MonitoredService, now: datetime | float | None = None
) -> tuple[HourlyHealth, HourlyHealth]:
    """The drift health and the accuracy health of ``service`` at ``now`` (default:
    now); a custom service is unknown unless one of its generations declares a model
    (``shipyard.domain.service_interface``) and has served."""
    from shipyard.errors import NotFound
    from shipyard.stats.accuracy_queries import ServiceAccuracy
    from shipyard.stats.drift_profiles import stored_profiles
    from shipyard.stats.drift_queries import ServiceDrift

    settings = monitoring_of(service)
    hours = settings.health.window_hours
    with store.reading() as session:
        profiles = stored_profiles(session, service.id)
    if service.kind != "model" and not profiles:
        return (_custom("drift", hours), _custom("accuracy", hours))
    window = recent_hours(hours, now)
    newest = max(profiles, key=_tag_number, default=None)
    profile = profiles[newest] if newest is not None else None
    summary = ServiceAccuracy(store).summary(service.id, window)
    accuracy = accuracy_health_of(summary, profile, settings, generation=newest)
    if not settings.tracks_drift:
        return HourlyHealth.of(HealthStatus.UNKNOWN, (
            "drift is not tracked: monitoring.feature_drift and target_drift are off",
        ), hours), accuracy
    drift = ServiceDrift(store)
    thresholds = settings.drift_thresholds
    try:
        if profile is None:
            raise NotFound("no drift profile")
        features = drift.features(service.id, window, thresholds)
        target = drift.target(service.id, window, thresholds) if profile.prediction else None
    except NotFound:
        return HourlyHealth.of(HealthStatus.UNKNOWN, (
            "no drift yet: drift is kept for model services whose model has a baseline, "
            "from their first scored call",
        ), hours), accuracy
    return drift_health_of(features, target, settings), accuracy


def monitoring_health(
    store: Store, services: Iterable[MonitoredService], now: datetime | float | None = None
) -> dict[str, tuple[HourlyHealth, HourlyHealth]]:
    """The drift health and the accuracy health of each of ``services``, by id."""
    return {service.id: monitoring_health_of(store, service, now) for service in services}


def _custom(what: str, hours: int) -> HourlyHealth:
    return HourlyHealth.of(HealthStatus.UNKNOWN,
                           (f"a custom service: {what} is kept for model services",), hours)


def _tag_number(tag: str) -> int:
    return int(tag[1:]) if tag[1:].isdigit() else 0


def _finite(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _number(value: float) -> str:
    if value != 0 and abs(value) < 0.01:
        return f"{value:.3g}"
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _hours(count: int) -> str:
    return "hour" if count == 1 else f"{count} hours"
