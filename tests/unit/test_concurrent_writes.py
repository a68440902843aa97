"""Changes made at once by several writers, on each database: SQLite lets one writer at a
time (``BEGIN IMMEDIATE``); on PostgreSQL, where writers run side by side, a change that
reads a row to write it back locks the row, so that the outcome is the same."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from shipyard.domain.control_plane import ControlPlane
from shipyard.domain.services import find_service
from shipyard.stats.folding import ALL_GENERATIONS, fold_calls
from shipyard.stats.rollup import MINUTE
from shipyard.store import ModelRow, ModelVersionRow, StatsRollupRow


def plane_of(app: Flask) -> ControlPlane:
    return app.extensions["shipyard"]


def in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """``work`` started in a thread; the list gets its result or its error."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(work())
        except Exception as exc:  # reported by the test
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_deploy_waits_for_a_change_of_its_service_and_numbers_after_it(
    app: Flask, client: FlaskClient
) -> None:
    assert client.post("/api/v1/services", json={"name": "svc"}).status_code == 201
    assert client.post("/api/v1/services/svc/enable").status_code == 200
    plane = plane_of(app)
    with plane.store.writing() as session:
        service = find_service(session, "svc")
        service.last_generation_number += 1  # what a deploy does, left open
        thread, outcome = in_thread(lambda: plane.deployments.deploy("svc").tag)
        time.sleep(0.5)
        assert thread.is_alive()  # it waits for this change of the service to end
    thread.join(timeout=30)
    assert outcome == ["v2"]  # numbered after the change it waited for, never beside it


METADATA = {"features": [{"name": "size", "type": "number"}], "target": "kind"}


def test_two_uploads_of_one_model_number_their_versions_one_after_the_other(app: Flask
                                                                          ) -> None:
    models = plane_of(app).models
    assert models.upload("animals", b"first", METADATA).version == 1
    with plane_of(app).store.writing() as session:
        # An upload of the same model, still open: its model row locked, version 2 added.
        model = session.scalar(select(ModelRow).where(ModelRow.name == "animals")
                               .with_for_update())
        assert model is not None
        session.add(ModelVersionRow(
            id="mv_held", model_id=model.id, version=2, created_at=datetime.now(UTC),
            content=b"second", sha256="0" * 64, size=6, details={}, baseline=None))
        thread, outcome = in_thread(lambda: models.upload("animals", b"third", METADATA))
        time.sleep(0.5)
        assert thread.is_alive()
    thread.join(timeout=30)
    assert [getattr(found, "version", found) for found in outcome] == [3]


def test_a_first_upload_at_once_with_another_takes_the_model_the_other_made(app: Flask
                                                                          ) -> None:
    models = plane_of(app).models
    with plane_of(app).store.writing() as session:
        # Another first upload of the model, still open: its model row made, no version.
        session.add(ModelRow(id="mdl_other", name="animals", created_at=datetime.now(UTC),
                             project_id=None))
        session.flush()
        thread, outcome = in_thread(lambda: models.upload("animals", b"mine", METADATA))
        time.sleep(0.5)
        assert thread.is_alive()
    thread.join(timeout=30)
    assert [getattr(found, "version", found) for found in outcome] == [1]
    with plane_of(app).store.reading() as session:
        assert session.scalars(select(ModelVersionRow.model_id)).all() == ["mdl_other"]


def call_at(at: datetime, service_id: str) -> dict[str, Any]:
    """A call's ``query_log`` values, as the ingest folds them."""
    return {"at": at, "service_id": service_id, "generation": "v1", "role": "main",
            "status": 200, "latency_ms": 5.0, "instance_ms": 4.0, "predictions": 0,
            "request_bytes": 10, "response_bytes": 20, "caller": "", "warnings": 0,
            "challenger_generation": None, "challenger_status": None,
            "challenger_latency_ms": None}


def test_two_ingests_folding_one_minute_add_up(app: Flask, client: FlaskClient) -> None:
    created = client.post("/api/v1/services", json={"name": "svc"})
    assert created.status_code == 201
    service_id = created.get_json()["id"]
    store = plane_of(app).store
    minute = datetime(2026, 12, 5, 13, 0, tzinfo=UTC)
    with store.writing() as session:  # one node's ingest, still open
        fold_calls(session, [call_at(minute, service_id)] * 2)
        thread, outcome = in_thread(lambda: _fold(store, [call_at(minute, service_id)] * 3))
        time.sleep(0.5)
        assert thread.is_alive()  # the other node's waits, then reads what this one wrote
    thread.join(timeout=30)
    assert outcome == [None]
    with store.reading() as session:
        calls = session.scalars(select(StatsRollupRow.calls).where(
            StatsRollupRow.service_id == service_id, StatsRollupRow.span == MINUTE,
            StatsRollupRow.generation == ALL_GENERATIONS)).all()
    assert calls == [5]


def _fold(store: Any, rows: list[dict[str, Any]]) -> None:
    with store.writing() as session:
        fold_calls(session, rows)
