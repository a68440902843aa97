"""Starting a batch job through the API, refused before anything runs: who may start one,
what the upload must be, and what is left on disk when it is refused (nothing). The jobs
that run are tested end to end in tests/integration/test_batch_jobs.py."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shipyard import Settings
from shipyard.domain.batch_jobs import BatchJobState, batch_jobs_dir
from shipyard.iam.access_keys import AccessKeys
from shipyard.iam.vault import Vault
from shipyard.store import BatchJobRow
from shipyard.supervisor.batch_scoring import BatchScoring, GatewayAccess
from tests.credentials import Credentials, SigningClient

CSV = b"id,a,b\n1,2,3\n"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(home=tmp_path / "home", port=0, max_batch_bytes=1000,
                    database_url=database_url)


@pytest.fixture
def service(client: SigningClient) -> str:
    created = client.post("/api/v1/services", json={"name": "scorer", "kind": "custom"})
    assert created.status_code == 201, created.get_json()
    return "scorer"


def jobs_on_disk(settings: Settings) -> list[Path]:
    root = batch_jobs_dir(settings.home)
    return list(root.iterdir()) if root.exists() else []


def start(client: FlaskClient, body: bytes = CSV, media: str = "text/csv", **query: str
          ) -> tuple[int, str]:
    path = "/api/v1/services/scorer/batch-jobs"
    answer = client.post(f"{path}?{urlencode(query)}" if query else path, data=body,
                         headers={"Content-Type": media})
    payload = answer.get_json()
    return answer.status_code, payload["error"]["message"] if "error" in payload else ""


def test_an_upload_is_refused_with_a_reason_and_leaves_nothing(
    client: SigningClient, service: str, settings: Settings
) -> None:
    status, message = start(client, media="application/zip")
    assert status == 400 and "cannot tell the input's format" in message
    status, message = start(client, b"x" * 1001)
    assert status == 413 and "over the upload limit of 1000 bytes" in message
    status, message = start(client, chunk_size="many")
    assert status == 400 and "chunk_size must be a whole number" in message
    status, message = start(client, challenger="maybe")
    assert status == 400 and "'challenger' must be true or false, not 'maybe'" in message
    status, message = start(client, generations="2")
    assert status == 400 and "generation must be a tag such as v2" in message
    for name in ("prediction", "probability_setosa", "probabilities"):
        status, message = start(client, passthrough=f"id,{name}")
        assert status == 400 and f"passthrough column {name!r} would clash" in message
    status, message = start(client, passthrough="id,id")
    assert status == 400 and "passthrough names 'id' twice" in message
    # A service that serves nothing has no generation to score with.
    status, message = start(client)
    assert status == 409 and "serves no generation: deploy it first" in message
    status, message = start(client, generations="v1")
    assert status == 404 and "has no generation v1" in message
    assert jobs_on_disk(settings) == []


def test_only_a_user_or_a_service_that_may_call_it_starts_a_job(
    app: Flask, client: SigningClient, service: str, bob: SigningClient,
    anonymous_client: FlaskClient,
) -> None:
    status, message = start(bob)
    assert status == 403 and "you may not call service 'scorer'" in message
    key = client.post("/api/v1/services/scorer/api-keys", json={"name": "k"}).get_json()
    by_key = anonymous_client.post(
        "/api/v1/services/scorer/batch-jobs", data=CSV,
        headers={"Content-Type": "text/csv", "X-Api-Key": key["api_key"]})
    assert by_key.status_code == 403
    assert "an API key cannot start one" in by_key.get_json()["error"]["message"]
    assert start(anonymous_client)[0] == 401


def test_a_signed_upload_must_sign_its_hash(
    app: Flask, service: str, admin_credentials: Credentials
) -> None:
    import requests

    prepared = requests.Request("POST", "http://localhost/api/v1/services/scorer/batch-jobs",
                                data=CSV, headers={"Content-Type": "text/csv"}).prepare()
    admin_credentials.aws4auth()(prepared)
    headers = {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}
    headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    answer = app.test_client().post("/api/v1/services/scorer/batch-jobs", data=CSV,
                                    headers=headers)
    assert answer.status_code == 403
    assert "unsigned payloads are refused" in answer.get_json()["error"]["message"]


def test_ended_jobs_past_their_retention_go_with_their_files(app: Flask, service: str,
                                                             settings: Settings) -> None:
    plane = app.extensions["shipyard"]
    now = datetime.now(UTC)
    with plane.store.writing() as session:
        service_id = plane.services.get("scorer").id
        for job_id, state, expires in (
            ("old", BatchJobState.SUCCEEDED, now - timedelta(seconds=1)),
            ("kept", BatchJobState.SUCCEEDED, now + timedelta(days=1)),
            ("running", BatchJobState.RUNNING, now - timedelta(days=1)),
        ):
            (batch_jobs_dir(settings.home) / job_id).mkdir(parents=True)
            session.add(BatchJobRow(
                id=job_id, service_id=service_id, created_at=now, created_by="user:admin",
                caller_kind="user", caller_id="u", state=state, message="",
                input_format="csv", input_bytes=1, output_format="csv", chunk_size=10,
                passthrough=[], generations=[], rows_done=0, chunks_done=0,
                cancel_requested=False, rows_at_resume=0, expires_at=expires))
    scoring = BatchScoring(
        plane.store, settings.home,
        AccessKeys(plane.store, Vault.open(settings.secret_key_file)),
        GatewayAccess("http://127.0.0.1:9", settings.region, settings.signing_service))
    assert scoring.expire() == 1
    assert sorted(p.name for p in jobs_on_disk(settings)) == ["kept", "running"]
    with plane.store.reading() as session:
        assert sorted(r.id for r in session.query(BatchJobRow)) == ["kept", "running"]
    assert dataclasses.asdict(settings)["batch_retention_days"] == 7
