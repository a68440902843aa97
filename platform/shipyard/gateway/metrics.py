"""The gateway's Prometheus metrics: what it counts of every service call, and the
registry a scrape of ``/metrics`` reads (``gateway.metrics_endpoint`` serves it).

Every call a service is asked for counts in ``shipyard_gateway_requests_total`` (by
service name, generation, role and status class) and in the latency histogram; a call
forwarded to an instance also in the overhead histogram (the gateway's own time: the
latency less the time in the instance); every copy for a challenger in
``shipyard_gateway_challenger_copies_total`` (answered, unreachable, timed_out or skipped)
and, once sent, in the requests and latency under the role ``challenger``. The instances
and builds come from the supervisor's fleet snapshot (``gateway.metrics_fleet``).

A call costs a few list increments here (``GatewayMetrics.call``): each series keeps
what it counted since the last flush, and ``flush`` (twice a second, and before a
scrape) adds it to prometheus_client's metrics in one write per bucket. With several
workers (``use_directory``, in the parent before it forks), prometheus_client's
multiprocess mode keeps each worker's metrics in a file of that folder, and a scrape,
whichever worker answers it, merges them all; a worker that dies loses at most the last
half second it counted.
"""

from __future__ import annotations

import contextlib
import os
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
    values,
)
from prometheus_client.exposition import choose_encoder

from shipyard.gateway.metrics_fleet import FleetCollector

__all__ = [
    "ANSWERED",
    "CHALLENGER",
    "LATENCY_BUCKETS",
    "MAIN",
    "MULTIPROCESS_VAR",
    "NO_GENERATION",
    "OUTCOMES",
    "OVERHEAD_BUCKETS",
    "SKIPPED",
    "TIMED_OUT",
    "UNREACHABLE",
    "CopyTally",
    "GatewayMetrics",
    "MetricsSetup",
    "use_directory",
    "worker_exited",
]

MULTIPROCESS_VAR = "PROMETHEUS_MULTIPROC_DIR"
INF = float("inf")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, 60.0, INF)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                    0.25, 1.0, INF)
MAIN = "main"
CHALLENGER = "challenger"
NO_GENERATION = "-"
"""The generation label of a call answered before it was forwarded (refused, unavailable)."""
OUTCOMES = ("answered", "unreachable", "timed_out", "skipped")
ANSWERED, UNREACHABLE, TIMED_OUT, SKIPPED = range(len(OUTCOMES))
_STATUS_CLASSES = tuple(f"{digit}xx" for digit in range(10))


@dataclass(frozen=True)
class MetricsSetup:
    """Where a worker's metrics live: ``directory`` for a gateway with several workers
    (prepared by ``use_directory``), None in one process; ``fleet_file`` is the
    supervisor's fleet snapshot (None: no instance or build metrics)."""

    directory: Path | None = None
    fleet_file: Path | None = None


def use_directory(directory: Path) -> None:
    """Keep the metrics of this process, and of the workers it forks next, in
    ``directory`` (emptied first): prometheus_client's multiprocess mode. Call it in the
    parent, before any metric exists and before forking."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ[MULTIPROCESS_VAR] = str(directory)
    # prometheus_client chooses where values live from this variable when it is first
    # imported, and the gateway imported it before it knew the folder: choose again.
    values.ValueClass = values.get_value_class()


def worker_exited(directory: Path, pid: int) -> None:
    """Forget the live gauges of a worker that is gone (its counters stay counted)."""
    with contextlib.suppress(OSError):
        multiprocess.mark_process_dead(pid, str(directory))


class _Series:
    """What one (service, generation, role) counted since the last flush, and the
    prometheus_client children it is flushed into (each made once, at its first use)."""

    __slots__ = ("generation", "latency", "latency_child", "latency_sum", "metrics",
                 "pending", "requests", "role", "service", "statuses")

    def __init__(self, metrics: GatewayMetrics, service: str, generation: str,
                 role: str) -> None:
        self.metrics = metrics
        self.service = service
        self.generation = generation
        self.role = role
        self.pending = False
        self.statuses = [0] * len(_STATUS_CLASSES)
        self.latency = [0] * len(LATENCY_BUCKETS)
        self.latency_sum = 0.0
        self.requests: list[Counter | None] = [None] * len(_STATUS_CLASSES)
        self.latency_child: Histogram | None = None

    def _touch(self) -> None:
        if not self.pending:
            self.pending = True
            self.metrics.pending.append(self)

    def flush(self) -> None:
        self.pending = False
        statuses, self.statuses = self.statuses, [0] * len(_STATUS_CLASSES)
        for index, count in enumerate(statuses):
            if count:
                child = self.requests[index]
                if child is None:
                    child = self.requests[index] = self.metrics.requests.labels(
                        self.service, self.generation, self.role, _STATUS_CLASSES[index]
                    )
                child.inc(count)
        if any(self.latency):
            if self.latency_child is None:
                self.latency_child = self.metrics.latency.labels(
                    self.service, self.generation, self.role
                )
            latency, self.latency = self.latency, [0] * len(LATENCY_BUCKETS)
            total, self.latency_sum = self.latency_sum, 0.0
            _observe_counts(self.latency_child, latency, total)


class _CallSeries(_Series):
    """The calls to one generation of a service, with the gateway's overhead in each."""

    __slots__ = ("overhead", "overhead_child", "overhead_sum")

    def __init__(self, metrics: GatewayMetrics, service: str, generation: str) -> None:
        super().__init__(metrics, service, generation, MAIN)
        self.overhead = [0] * len(OVERHEAD_BUCKETS)
        self.overhead_sum = 0.0
        self.overhead_child: Histogram | None = None

    def flush(self) -> None:
        super().flush()
        if any(self.overhead):
            if self.overhead_child is None:
                self.overhead_child = self.metrics.overhead.labels(
                    self.service, self.generation
                )
            overhead, self.overhead = self.overhead, [0] * len(OVERHEAD_BUCKETS)
            total, self.overhead_sum = self.overhead_sum, 0.0
            _observe_counts(self.overhead_child, overhead, total)


class CopyTally(_Series):
    """The copies of one service's calls sent to its challenger (one generation)."""

    __slots__ = ("outcome_children", "outcomes")

    def __init__(self, metrics: GatewayMetrics, service: str, generation: str) -> None:
        super().__init__(metrics, service, generation, CHALLENGER)
        self.outcomes = [0] * len(OUTCOMES)
        self.outcome_children: list[Counter | None] = [None] * len(OUTCOMES)

    def skipped(self) -> None:
        """A call got no copy (too many in flight, or a body over the copy limit)."""
        self.outcomes[SKIPPED] += 1
        self._touch()

    def copied(self, outcome: int, status: int, latency: float) -> None:
        """A copy ended: ``outcome`` indexes ``OUTCOMES``; ``status`` is the one its
        query record holds (502 unreachable, 504 timed out)."""
        self.outcomes[outcome] += 1
        self.statuses[status // 100 % 10] += 1
        self.latency[bisect_left(LATENCY_BUCKETS, latency)] += 1
        self.latency_sum += latency
        self._touch()

    def flush(self) -> None:
        super().flush()
        outcomes, self.outcomes = self.outcomes, [0] * len(OUTCOMES)
        for index, count in enumerate(outcomes):
            if count:
                child = self.outcome_children[index]
                if child is None:
                    child = self.outcome_children[index] = self.metrics.copies.labels(
                        self.service, self.generation, OUTCOMES[index]
                    )
                child.inc(count)


class GatewayMetrics:
    """One worker's metrics, and the registry its ``/metrics`` answers from."""

    def __init__(self, setup: MetricsSetup | None = None) -> None:
        setup = setup or MetricsSetup()
        directory = setup.directory
        if directory is not None and (
            os.environ.get(MULTIPROCESS_VAR) != str(directory)
            or not getattr(values.ValueClass, "_multiprocess", False)
        ):
            raise RuntimeError(f"use_directory({str(directory)!r}) must come first")
        # Counters carry no _created series, in one process as in several.
        disable_created_metrics()
        # In multiprocess mode, metrics belong to no registry: the scrape reads the files.
        own = CollectorRegistry() if directory is None else None
        self.requests = Counter(
            "shipyard_gateway_requests", "Service calls answered by the gateway (role main) "
            "and copies sent to challengers (role challenger), by status class.",
            ("service", "generation", "role", "status_class"), registry=own,
        )
        self.latency = Histogram(
            "shipyard_gateway_request_duration_seconds",
            "Time from a call's arrival to the end of its answer (a copy's whole exchange, "
            "for a challenger).",
            ("service", "generation", "role"), buckets=LATENCY_BUCKETS, registry=own,
        )
        self.overhead = Histogram(
            "shipyard_gateway_overhead_seconds",
            "The gateway's own time in a call forwarded to an instance: its latency less "
            "the time in the instance.",
            ("service", "generation"), buckets=OVERHEAD_BUCKETS, registry=own,
        )
        self.copies = Counter(
            "shipyard_gateway_challenger_copies",
            "Copies of calls for a service's challenger, by outcome.",
            ("service", "generation", "outcome"), registry=own,
        )
        workers = Gauge("shipyard_gateway_workers", "Gateway processes serving.",
                        registry=own, multiprocess_mode="livesum")
        workers.set(1)
        self.registry = own if own is not None else CollectorRegistry()
        if directory is not None:
            multiprocess.MultiProcessCollector(self.registry, path=str(directory))
        if setup.fleet_file is not None:
            self.registry.register(FleetCollector(setup.fleet_file))
        self.pending: list[_Series] = []
        self._calls: dict[tuple[str, str | None], _CallSeries] = {}
        self._copies: dict[tuple[str, str], CopyTally] = {}

    def call(self, service: str, generation: str | None, status: int, latency: float,
             instance: float | None) -> None:
        """Count one call (on the hot path): ``latency`` and ``instance`` (the time in the
        instance, None when it was never forwarded) in seconds."""
        series = self._calls.get((service, generation))
        if series is None:
            series = self._calls[(service, generation)] = _CallSeries(
                self, service, generation or NO_GENERATION
            )
        series.statuses[status // 100 % 10] += 1
        series.latency[bisect_left(LATENCY_BUCKETS, latency)] += 1
        series.latency_sum += latency
        if instance is not None:
            overhead = latency - instance
            series.overhead[bisect_left(OVERHEAD_BUCKETS, overhead)] += 1
            series.overhead_sum += overhead
        if not series.pending:
            series.pending = True
            self.pending.append(series)

    def copies_of(self, service: str, generation: str) -> CopyTally:
        """Where the copies of ``service``'s calls to its challenger ``generation`` count."""
        tally = self._copies.get((service, generation))
        if tally is None:
            tally = self._copies[(service, generation)] = CopyTally(self, service, generation)
        return tally

    def flush(self) -> None:
        """Add what was counted since the last flush to the metrics a scrape reads (on
        the event loop: the series are the loop's)."""
        pending, self.pending = self.pending, []
        for series in pending:
            series.flush()

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition in the format ``accept`` asks for (Prometheus text by default),
        and its content type. It reads files: run it off the event loop."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


def _observe_counts(child: Histogram, counts: Sequence[int], total: float) -> None:
    """What ``counts[i]`` observations in bucket ``i``, summing to ``total``, make: one
    write per bucket rather than one ``observe`` each. prometheus_client's ``Histogram``
    keeps each bucket's own count in ``_buckets`` and the sum in ``_sum`` (in memory or
    in a worker's file); tests/unit/test_gateway_metrics.py checks that this equals the
    same observations made one by one."""
    child._sum.inc(total)
    for bucket, count in zip(child._buckets, counts, strict=True):
        if count:
            bucket.inc(count)
