"""The instances and builds in ``/metrics``: the fleet snapshot contract, the supervisor's
snapshot of a real store (written as the supervisor and the API write it), and the
gateway's collector that reads it back at scrape time."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from shipyard.contracts.fleet_snapshot import (
    BuildFigures,
    FleetSnapshot,
    FleetSnapshotError,
    InstanceFigures,
    write_fleet_snapshot,
)
from shipyard.contracts.run_paths import fleet_file
from shipyard.gateway.metrics_fleet import FleetCollector
from shipyard.store import GenerationRow, InstanceRow, ServiceRow
from shipyard.supervisor.fleet_snapshot import fleet_snapshot, publish_fleet_snapshot

SNAPSHOT = FleetSnapshot(
    written_at=1000.0,
    instances=(
        InstanceFigures("i-1", "add", "v1", "healthy", True, 12.5, 50_000_000),
        InstanceFigures("i-2", "add", "v1", "healthy", True, 7.5, 40_000_000),
        InstanceFigures("i-3", "add", "v2", "exited", False, 3.0, 10),
    ),
    builds=(
        BuildFigures("add", "v1", "succeeded", 42.0),
        BuildFigures("add", "v2", "failed", 7.0),
        BuildFigures("add", "v3", "building"),
        BuildFigures("echo", "v1", "succeeded", 400.0),
    ),
    query_lines_set_aside=3,
)


def families(collector: FleetCollector) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    registry = CollectorRegistry()
    registry.register(collector)
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_a_snapshot_survives_its_file(tmp_path: Path) -> None:
    path = tmp_path / "run" / "fleet.json"
    write_fleet_snapshot(path, SNAPSHOT)
    assert FleetSnapshot.load(path) == SNAPSHOT
    assert [p.name for p in path.parent.iterdir()] == ["fleet.json"]  # no temporary left


@pytest.mark.parametrize(("change", "reason"), [
    ({"version": 2}, "version 2 is not 1"),
    ({"instances": {}}, "must be a JSON list"),
    ({"builds": [{"service": "add", "generation": "v1", "state": ""}]}, "state must be"),
    ({"builds": [{"service": "add", "generation": "v1", "state": "failed", "seconds": -1}]},
     "seconds must be"),
    ({"written_at": "now"}, "written_at must be"),
])
def test_a_malformed_snapshot_is_refused(change: dict[str, object], reason: str) -> None:
    with pytest.raises(FleetSnapshotError, match=reason):
        FleetSnapshot.from_dict({**SNAPSHOT.to_dict(), **change})


def test_the_collector_shows_instances_usage_and_builds(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    write_fleet_snapshot(path, SNAPSHOT)
    shown = families(FleetCollector(path, clock=lambda: 1003.5))
    assert shown["shipyard_fleet_snapshot_age_seconds"] == {(): 3.5}
    assert shown["shipyard_query_lines_set_aside_total"] == {(): 3}
    assert shown["shipyard_instances"] == {
        (("generation", "v1"), ("service", "add"), ("state", "healthy")): 2,
        (("generation", "v2"), ("service", "add"), ("state", "exited")): 1,
    }
    # Usage only for instances that run.
    assert shown["shipyard_instance_cpu_percent"] == {
        (("generation", "v1"), ("instance", "i-1"), ("service", "add")): 12.5,
        (("generation", "v1"), ("instance", "i-2"), ("service", "add")): 7.5,
    }
    assert shown["shipyard_instance_memory_bytes"][
        (("generation", "v1"), ("instance", "i-1"), ("service", "add"))] == 50_000_000
    assert shown["shipyard_builds"] == {
        (("service", "add"), ("state", "succeeded")): 1,
        (("service", "add"), ("state", "failed")): 1,
        (("service", "add"), ("state", "building")): 1,
        (("service", "echo"), ("state", "succeeded")): 1,
    }
    buckets = shown["shipyard_build_duration_seconds_bucket"]
    assert buckets[(("le", "30.0"), ("outcome", "succeeded"), ("service", "add"))] == 0
    assert buckets[(("le", "60.0"), ("outcome", "succeeded"), ("service", "add"))] == 1
    assert buckets[(("le", "+Inf"), ("outcome", "succeeded"), ("service", "echo"))] == 1
    assert shown["shipyard_build_duration_seconds_sum"][
        (("outcome", "failed"), ("service", "add"))] == 7.0
    assert not any(labels and dict(labels).get("outcome") == "building"
                   for labels in buckets)


def test_without_a_snapshot_the_collector_shows_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert families(FleetCollector(tmp_path / "none.json")) == {}
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"version": 1, "written_at": 1, "instances": [{}]}))
    with caplog.at_level(logging.WARNING):
        assert families(FleetCollector(broken)) == {}
    assert "instance_id must be" in caplog.text


# -- the supervisor's snapshot of a real store ------------------------------------------


def test_the_supervisor_snapshots_instances_and_builds_by_name_and_tag(
    app: Flask, client: FlaskClient
) -> None:
    assert client.post("/api/v1/services", json={"name": "svc"}).status_code == 201
    assert client.post("/api/v1/services/svc/enable").status_code == 200
    for _ in range(3):
        assert client.post("/api/v1/services/svc/deploy").status_code == 202
    plane = app.extensions["shipyard"]
    started = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    with plane.store.writing() as session:
        service = session.scalars(select(ServiceRow)).one()
        v1, v2, v3 = session.scalars(
            select(GenerationRow).order_by(GenerationRow.number)).all()
        # As the builder records them: v1 built in 90 s, v2 failed after 5 s, v3 building.
        v1.build_state, v1.build_started_at = "succeeded", started
        v1.build_finished_at = started + timedelta(seconds=90)
        v2.build_state, v2.build_started_at = "failed", started
        v2.build_finished_at = started + timedelta(seconds=5)
        v3.build_state, v3.build_started_at = "building", started
        session.add(InstanceRow(id="i-1", service_id=service.id, generation_id=v1.id,
                                state="healthy", handle={"pid": 1}, cpu_percent=25.0,
                                memory_bytes=1 << 20))
        session.add(InstanceRow(id="i-0", service_id=service.id, generation_id=v1.id,
                                state="exited", cpu_percent=9.0, memory_bytes=7))
    with plane.store.reading() as session:
        snapshot = fleet_snapshot(session, now=5.0)
    assert snapshot == FleetSnapshot(
        written_at=5.0,
        instances=(InstanceFigures("i-0", "svc", "v1", "exited", False, 9.0, 7),
                   InstanceFigures("i-1", "svc", "v1", "healthy", True, 25.0, 1 << 20)),
        builds=(BuildFigures("svc", "v1", "succeeded", 90.0),
                BuildFigures("svc", "v2", "failed", 5.0),
                BuildFigures("svc", "v3", "building", None)),
    )

    home = plane.settings.home
    with plane.store.reading() as session:
        publish_fleet_snapshot(session, home)
    shown = families(FleetCollector(fleet_file(home)))
    assert shown["shipyard_instance_cpu_percent"] == {
        (("generation", "v1"), ("instance", "i-1"), ("service", "svc")): 25.0}
    assert shown["shipyard_build_duration_seconds_count"] == {
        (("outcome", "failed"), ("service", "svc")): 1,
        (("outcome", "succeeded"), ("service", "svc")): 1,
    }
    assert 0 <= shown["shipyard_fleet_snapshot_age_seconds"][()] < 60


def test_a_snapshot_that_cannot_be_written_is_skipped(
    app: Flask, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "elsewhere"
    blocked.mkdir()
    (blocked / "run").write_text("a file where the run folder should be")
    with app.extensions["shipyard"].store.reading() as session, \
            caplog.at_level(logging.WARNING):
        publish_fleet_snapshot(session, blocked)
    assert "cannot write the fleet snapshot" in caplog.text
