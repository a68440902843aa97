"""``Rollup``: what is known of one (service, generation, role) over one span of time (a
minute, an hour or a day), and how two are merged.

Counters add up; latencies are ``Histogram``s; callers are ``Callers``. ``load`` is the
histogram of the calls of each minute with calls inside the span, and ``peak_load`` its
largest, so that the median and peak requests per minute of any window come from merged
rollups too (a minute's own rollup leaves ``load`` empty: its load is its ``calls``).
Usage is summed per sample (one instance's reading), for a mean and a maximum per
instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from math import ceil, log
from typing import Any

from shipyard.stats.callers import Callers, caller_digest
from shipyard.stats.histogram import GAMMA, SMALLEST, ZERO_INDEX, Histogram
from shipyard.stats.spans import DAY, HOUR, MINUTE, ROLES, SPANS

__all__ = ["COUNTERS", "DAY", "HOUR", "MAXIMA", "MINUTE", "ROLES", "SPANS", "Rollup"]


COUNTERS = (
    "calls", "predictions", "warnings", "ok", "user_errors", "server_errors", "timeouts",
    "bytes_in", "bytes_out", "usage_samples", "cpu_sum", "memory_sum", "gpu_memory_sum",
    "replica_samples", "replicas_sum",
)
MAXIMA = ("peak_load", "cpu_max", "memory_max", "gpu_memory_max", "replicas_max")
HISTOGRAMS = ("latency", "instance_time", "overhead", "load")
_PER_LOG_GAMMA = 1 / log(GAMMA)


@dataclass
class Rollup:
    calls: int = 0
    predictions: int = 0
    warnings: int = 0
    """Predictions their instance flagged (prediction warnings)."""
    ok: int = 0
    """Calls answered without an error status (1xx to 3xx)."""
    user_errors: int = 0
    """4xx."""
    server_errors: int = 0
    """5xx, timeouts included."""
    timeouts: int = 0
    """504: the instance did not answer in time."""
    bytes_in: int = 0
    bytes_out: int = 0
    usage_samples: int = 0
    cpu_sum: float = 0.0
    memory_sum: float = 0.0
    gpu_memory_sum: float = 0.0
    peak_load: int = 0
    cpu_max: float = 0.0
    memory_max: int = 0
    gpu_memory_max: int = 0
    replica_samples: int = 0
    """Rounds of the usage history that counted its replicas (a live generation's,
    however many it ran: none when scaled to zero)."""
    replicas_sum: int = 0
    replicas_max: int = 0
    latency: Histogram = field(default_factory=Histogram)
    instance_time: Histogram = field(default_factory=Histogram)
    overhead: Histogram = field(default_factory=Histogram)
    load: Histogram = field(default_factory=Histogram)
    callers: Callers = field(default_factory=Callers)

    def add_call(
        self, status: int, latency_ms: float, instance_ms: float | None, predictions: int,
        bytes_in: int, bytes_out: int, caller: str, warnings: int = 0,
    ) -> None:
        # The ingest's inner loop: histogram adds are inlined (``Histogram.index_of``).
        self.calls += 1
        self.predictions += predictions
        self.warnings += warnings
        if status >= 500:
            self.server_errors += 1
            if status == 504:
                self.timeouts += 1
        elif status >= 400:
            self.user_errors += 1
        else:
            self.ok += 1
        self.bytes_in += bytes_in
        self.bytes_out += bytes_out
        counts = self.latency.counts
        index = ceil(log(latency_ms) * _PER_LOG_GAMMA) if latency_ms > SMALLEST else ZERO_INDEX
        counts[index] = counts.get(index, 0) + 1
        if instance_ms is not None:
            counts = self.instance_time.counts
            index = (ceil(log(instance_ms) * _PER_LOG_GAMMA) if instance_ms > SMALLEST
                     else ZERO_INDEX)
            counts[index] = counts.get(index, 0) + 1
            overhead = latency_ms - instance_ms
            counts = self.overhead.counts
            index = (ceil(log(overhead) * _PER_LOG_GAMMA) if overhead > SMALLEST
                     else ZERO_INDEX)
            counts[index] = counts.get(index, 0) + 1
        self.callers.digests.add(caller_digest(caller))

    def add_usage(self, cpu_percent: float, memory_bytes: int, gpu_memory_bytes: int) -> None:
        self.usage_samples += 1
        self.cpu_sum += cpu_percent
        self.memory_sum += memory_bytes
        self.gpu_memory_sum += gpu_memory_bytes
        self.cpu_max = max(self.cpu_max, cpu_percent)
        self.memory_max = max(self.memory_max, memory_bytes)
        self.gpu_memory_max = max(self.gpu_memory_max, gpu_memory_bytes)

    def add_replicas(self, count: int) -> None:
        self.replica_samples += 1
        self.replicas_sum += count
        self.replicas_max = max(self.replicas_max, count)

    def merge(self, other: Rollup) -> None:
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in MAXIMA:
            setattr(self, name, max(getattr(self, name), getattr(other, name)))
        for name in HISTOGRAMS:
            getattr(self, name).merge(getattr(other, name))
        self.callers.merge(other.callers)

    def merge_numbers(self, row: Any, *, as_minute: bool = False, callers: bool = True) -> None:
        """Merge the numbers and callers of a stored row (``columns``) in place, leaving
        its histograms to the caller (``Histogram.summed``), but for a minute's
        (``as_minute``), whose calls are one minute's load; ``callers`` False leaves the
        callers out too (a chart that does not count consumers)."""
        self.calls += row.calls
        self.predictions += row.predictions
        self.warnings += row.warnings
        self.ok += row.ok
        self.user_errors += row.user_errors
        self.server_errors += row.server_errors
        self.timeouts += row.timeouts
        self.bytes_in += row.bytes_in
        self.bytes_out += row.bytes_out
        self.usage_samples += row.usage_samples
        self.cpu_sum += row.cpu_sum
        self.memory_sum += row.memory_sum
        self.gpu_memory_sum += row.gpu_memory_sum
        self.cpu_max = max(self.cpu_max, row.cpu_max)
        self.memory_max = max(self.memory_max, row.memory_max)
        self.gpu_memory_max = max(self.gpu_memory_max, row.gpu_memory_max)
        self.replica_samples += row.replica_samples
        self.replicas_sum += row.replicas_sum
        self.replicas_max = max(self.replicas_max, row.replicas_max)
        if callers:
            self.callers.digests.update(Callers.from_bytes(row.callers).digests)
        if not as_minute:
            self.peak_load = max(self.peak_load, row.peak_load)
        elif row.calls:
            self.load.add(row.calls)
            self.peak_load = max(self.peak_load, row.calls)

    def columns(self) -> dict[str, object]:
        """The stored form: numbers as they are, histograms and callers as bytes."""
        values: dict[str, object] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            values[spec.name] = (value.to_bytes() if isinstance(value, Histogram | Callers)
                                 else value)
        return values

    @classmethod
    def from_columns(cls, row: Any) -> Rollup:
        """A stored row (with the columns ``columns`` gives) as a ``Rollup``."""
        values = {name: getattr(row, name) for name in _NUMBERS}
        values.update({name: Histogram.from_bytes(getattr(row, name)) for name in HISTOGRAMS})
        return cls(**values, callers=Callers.from_bytes(row.callers))


_NUMBERS = COUNTERS + MAXIMA
