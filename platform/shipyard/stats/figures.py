"""The figures of a merged ``Rollup``: DataRobot's service stats where they apply
(``summary_of``), and the same figures flat, one number each, for charts over time
(``METRICS``, ``metric_values``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shipyard.stats.histogram import Histogram
from shipyard.stats.rollup import Rollup

__all__ = ["METRICS", "QUANTILES", "metric_values", "summary_of"]

QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


def summary_of(rollup: Rollup, slow_ms: float) -> dict[str, Any]:
    calls = rollup.calls
    return {
        "total_requests": calls,
        "total_predictions": rollup.predictions,
        "prediction_warnings": rollup.warnings,
        "slow_requests": rollup.latency.count_above(slow_ms),
        "response_time": _quantiles(rollup.latency),
        "execution_time": _quantiles(rollup.instance_time),
        "overhead_time": _quantiles(rollup.overhead),
        "user_error_rate": _rate(rollup.user_errors, calls),
        "server_error_rate": _rate(rollup.server_errors, calls),
        "timeouts": rollup.timeouts,
        "num_consumers": len(rollup.callers),
        "median_load": _whole(rollup.load.quantile(0.5)),
        "peak_load": rollup.peak_load,
        "bytes_in": rollup.bytes_in,
        "bytes_out": rollup.bytes_out,
        "cpu_percent": _usage(rollup, rollup.cpu_sum, rollup.cpu_max),
        "memory_bytes": _usage(rollup, rollup.memory_sum, rollup.memory_max, whole=True),
        "gpu_memory_bytes": _usage(rollup, rollup.gpu_memory_sum, rollup.gpu_memory_max,
                                   whole=True),
        "replicas": _replicas(rollup),
    }


def _quantile_metric(name: str, q: float) -> Callable[[Rollup, float], float | None]:
    return lambda rollup, _slow: _rounded(getattr(rollup, name).quantile(q))


METRICS: dict[str, Callable[[Rollup, float], Any]] = {
    "total_requests": lambda r, _s: r.calls,
    "total_predictions": lambda r, _s: r.predictions,
    "prediction_warnings": lambda r, _s: r.warnings,
    "slow_requests": lambda r, slow: r.latency.count_above(slow),
    **{f"response_time_{label}": _quantile_metric("latency", q)
       for label, q in QUANTILES.items()},
    **{f"execution_time_{label}": _quantile_metric("instance_time", q)
       for label, q in QUANTILES.items()},
    **{f"overhead_time_{label}": _quantile_metric("overhead", q)
       for label, q in QUANTILES.items()},
    "user_error_rate": lambda r, _s: _rate(r.user_errors, r.calls),
    "server_error_rate": lambda r, _s: _rate(r.server_errors, r.calls),
    "timeouts": lambda r, _s: r.timeouts,
    "num_consumers": lambda r, _s: len(r.callers),
    "median_load": lambda r, _s: _whole(r.load.quantile(0.5)),
    "peak_load": lambda r, _s: r.peak_load,
    "bytes_in": lambda r, _s: r.bytes_in,
    "bytes_out": lambda r, _s: r.bytes_out,
    "cpu_percent_mean": lambda r, _s: _mean(r, r.cpu_sum),
    "cpu_percent_max": lambda r, _s: r.cpu_max if r.usage_samples else None,
    "memory_bytes_mean": lambda r, _s: _mean(r, r.memory_sum, whole=True),
    "memory_bytes_max": lambda r, _s: r.memory_max if r.usage_samples else None,
    "gpu_memory_bytes_mean": lambda r, _s: _mean(r, r.gpu_memory_sum, whole=True),
    "gpu_memory_bytes_max": lambda r, _s: r.gpu_memory_max if r.usage_samples else None,
    "replicas_mean": lambda r, _s: _replicas(r)["mean"],
    "replicas_max": lambda r, _s: r.replicas_max if r.replica_samples else None,
}
"""Every metric ``stats/over-time`` charts: a number per bucket, None where there is no
data (no calls for a latency, no sample for usage)."""


def metric_values(rollup: Rollup, names: list[str], slow_ms: float) -> dict[str, Any]:
    return {name: METRICS[name](rollup, slow_ms) for name in names}


def _quantiles(histogram: Histogram) -> dict[str, float | None]:
    values = histogram.quantiles(QUANTILES.values())
    return {label: _rounded(value) for label, value in zip(QUANTILES, values, strict=True)}


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _whole(value: float | None) -> int | None:
    """A count of calls from a histogram: exact up to 24, within 2% above."""
    return None if value is None else round(value)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _mean(rollup: Rollup, total: float, *, whole: bool = False) -> float | int | None:
    if not rollup.usage_samples:
        return None
    mean = total / rollup.usage_samples
    return round(mean) if whole else round(mean, 2)


def _replicas(rollup: Rollup) -> dict[str, float | int | None]:
    """The replicas it ran, on average and at most, where they were counted."""
    if not rollup.replica_samples:
        return {"mean": None, "max": None}
    return {"mean": round(rollup.replicas_sum / rollup.replica_samples, 2),
            "max": rollup.replicas_max}


def _usage(
    rollup: Rollup, total: float, peak: float, *, whole: bool = False
) -> dict[str, float | int | None]:
    if not rollup.usage_samples:
        return {"mean": None, "max": None}
    return {"mean": _mean(rollup, total, whole=whole), "max": round(peak) if whole else peak}
