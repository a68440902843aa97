"""The instances and builds in ``/metrics``: a prometheus_client collector that reads the
supervisor's fleet snapshot (``shipyard.contracts.fleet_snapshot``) each time it is
scraped, so the gateway reports what the supervisor saw at most a few seconds ago without
touching the store.

Without a snapshot (a gateway run without a supervisor, or before its first one) it
reports nothing; ``shipyard_fleet_snapshot_age_seconds`` says how old the one it read is.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from shipyard.contracts.fleet_snapshot import FleetSnapshot, FleetSnapshotError

__all__ = ["BUILD_BUCKETS", "FleetCollector"]

log = logging.getLogger(__name__)

BUILD_BUCKETS = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 2400.0, float("inf"))


class FleetCollector(Collector):
    """Gauges of instances (by state; cpu and memory of those running) and builds (by
    state; a histogram of how long those that ended took), from the snapshot at ``path``."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        try:
            snapshot = FleetSnapshot.load(self.path)
        except FleetSnapshotError as error:
            if self.path.exists():
                log.warning("/metrics shows no instances or builds: %s", error)
            return
        yield GaugeMetricFamily(
            "shipyard_fleet_snapshot_age_seconds",
            "How long ago the supervisor wrote the instances and builds shown here.",
            value=max(0.0, self.clock() - snapshot.written_at),
        )
        yield from _instances(snapshot)
        yield from _builds(snapshot)
        yield CounterMetricFamily(
            "shipyard_query_lines_set_aside",
            "Spool lines the supervisor could not ingest and quarantined, since it started.",
            value=snapshot.query_lines_set_aside,
        )


def _instances(snapshot: FleetSnapshot) -> Iterator[Metric]:
    by_state = GaugeMetricFamily(
        "shipyard_instances", "Instances by service, generation and state.",
        labels=("service", "generation", "state"),
    )
    counts = collections.Counter(
        (item.service, item.generation, item.state) for item in snapshot.instances
    )
    for labels, count in sorted(counts.items()):
        by_state.add_metric(labels, count)
    cpu = GaugeMetricFamily(
        "shipyard_instance_cpu_percent",
        "CPU use of each running instance (100 is one core), as the supervisor last "
        "measured it.",
        labels=("service", "generation", "instance"),
    )
    memory = GaugeMetricFamily(
        "shipyard_instance_memory_bytes",
        "Memory of each running instance, as the supervisor last measured it.",
        labels=("service", "generation", "instance"),
    )
    for item in snapshot.instances:
        if item.running:
            labels = (item.service, item.generation, item.instance_id)
            cpu.add_metric(labels, item.cpu_percent)
            memory.add_metric(labels, item.memory_bytes)
    yield from (by_state, cpu, memory)


def _builds(snapshot: FleetSnapshot) -> Iterator[Metric]:
    by_state = GaugeMetricFamily(
        "shipyard_builds",
        "Builds by service and state (pending, building, succeeded, failed), over the "
        "generations the store keeps.",
        labels=("service", "state"),
    )
    counts = collections.Counter((build.service, build.state) for build in snapshot.builds)
    for labels, count in sorted(counts.items()):
        by_state.add_metric(labels, count)
    yield by_state
    durations: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for build in snapshot.builds:
        if build.seconds is not None:
            durations[(build.service, build.state)].append(build.seconds)
    histogram = HistogramMetricFamily(
        "shipyard_build_duration_seconds",
        "How long the builds that ended took, by service and outcome (succeeded, "
        "failed), over the generations the store keeps.",
        labels=("service", "outcome"),
    )
    for labels, seconds in sorted(durations.items()):
        buckets = [
            (floatToGoString(bound), float(sum(1 for value in seconds if value <= bound)))
            for bound in BUILD_BUCKETS
        ]
        histogram.add_metric(labels, buckets, sum(seconds))
    yield histogram
