"""A PostgreSQL server that stops under a running control plane: while it is down the API
answers 503 ``Unavailable`` saying that the database cannot be reached, and once it is back
the next requests succeed by themselves (the pool replaces its dead connections).

The cluster is this module's own, so that stopping it disturbs no other test."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from shipyard import Settings
from shipyard.errors import Unavailable
from shipyard.store import Store
from tests.credentials import SigningClient
from tests.postgres import PostgresCluster, running_cluster

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = 4.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with running_cluster("shipyard-pg-outage-") as cluster:
        yield cluster


@pytest.fixture
def settings(tmp_path: Path, cluster: PostgresCluster) -> Iterator[Settings]:
    with cluster.fresh_database() as url:
        yield Settings(home=tmp_path / "home", port=0, database_url=url)


def assert_unavailable(answer: object) -> None:
    status = getattr(answer, "status_code", None)
    body = answer.get_json()  # type: ignore[attr-defined]
    assert status == 503, body
    assert body["error"]["type"] == "Unavailable"
    assert "the database cannot be reached" in body["error"]["message"]
    assert "try again once it is back" in body["error"]["message"]


def test_the_api_answers_503_while_postgresql_is_stopped_and_recovers_by_itself(
    app: Flask, client: SigningClient, cluster: PostgresCluster
) -> None:
    created = client.post("/api/v1/services", json={"name": "before"})
    assert created.status_code == 201, created.get_json()
    assert client.get("/healthz").status_code == 200  # the pool holds live connections now

    cluster.pause()
    try:
        started = time.monotonic()
        while time.monotonic() - started < OUTAGE_SECONDS:
            assert_unavailable(client.get("/api/v1/services"))
            assert_unavailable(client.post("/api/v1/services", json={"name": "during"}))
            assert_unavailable(client.get("/healthz"))
            time.sleep(0.5)
    finally:
        cluster.resume()

    listed = client.get("/api/v1/services")  # the very next request, no retry
    assert listed.status_code == 200, listed.get_json()
    assert [service["name"] for service in listed.get_json()["services"]] == ["before"]
    after = client.post("/api/v1/services", json={"name": "after"})
    assert after.status_code == 201, after.get_json()
    assert client.get("/healthz").status_code == 200


def test_a_store_reports_a_server_it_cannot_reach_and_uses_it_again_when_back(
    cluster: PostgresCluster,
) -> None:
    with cluster.fresh_database(migrated=False) as url:
        store = Store(url)
        try:
            with store.reading() as session:  # a pooled connection, broken by the stop
                assert session.scalar(text("SELECT 1")) == 1
            cluster.pause()
            try:
                with pytest.raises(Unavailable, match="the database cannot be reached"), \
                        store.reading() as session:
                    session.execute(text("SELECT 1"))
                with pytest.raises(Unavailable, match="the database cannot be reached"), \
                        store.writing() as session:
                    session.execute(text("CREATE TABLE never (x int)"))
            finally:
                cluster.resume()
            with store.writing() as session:
                session.execute(text("CREATE TABLE after (x int)"))
            with store.reading() as session:
                assert session.scalar(text("SELECT count(*) FROM after")) == 0
        finally:
            store.dispose()
