"""``/api/v1/services/<ref>/stats`` and ``/stats/over-time`` through the API: who may ask,
what comes back, and the 400s that name the problem."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask

from shipyard.stats.folding import fold_calls
from shipyard.stats.windows import MAX_BUCKETS
from tests.credentials import SigningClient

HOUR_AGO = int(time.time()) // 3600 * 3600 - 3600


def call(at: float, status: int = 200, generation: str | None = "v1", **extra: Any) -> dict:
    return {
        "at": datetime.fromtimestamp(at, UTC), "service_id": "", "generation": generation,
        "status": status, "latency_ms": 12.0, "instance_ms": 10.0, "predictions": 5,
        "request_bytes": 100, "response_bytes": 40, "caller": "user:admin",
        "challenger_generation": None, "challenger_status": None,
        "challenger_latency_ms": None, **extra,
    }


@pytest.fixture
def scored(app: Flask, client: SigningClient) -> str:
    """A service with 30 calls an hour ago: 20 to v1 (2 of them 500s), 10 to v2, each of
    v1's also copied to a challenger v3."""
    created = client.post("/api/v1/services", json={"name": "scored", "kind": "model"})
    assert created.status_code == 201
    service_id = created.get_json()["id"]
    calls = [call(HOUR_AGO + n, 500 if n < 2 else 200, challenger_generation="v3",
                  challenger_status=200, challenger_latency_ms=30.0) for n in range(20)]
    calls += [call(HOUR_AGO + 60 + n, generation="v2") for n in range(10)]
    store = app.extensions["shipyard"].store
    with store.writing() as session:
        fold_calls(session, [{**c, "service_id": service_id} for c in calls])
    return "scored"


def get(client: SigningClient, path: str, **params: str) -> Any:
    return client.get(path + ("?" + urlencode(params) if params else ""))


def test_stats_per_generation_and_role_with_the_service_as_a_whole(
    client: SigningClient, scored: str
) -> None:
    answer = get(client, f"/api/v1/services/{scored}/stats", start="3h")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    overall = body["overall"]
    assert (overall["total_requests"], overall["total_predictions"]) == (30, 150)
    assert overall["server_error_rate"] == pytest.approx(2 / 30)
    assert overall["num_consumers"] == 1
    assert (overall["peak_load"], overall["median_load"]) == (20, 10)
    assert abs(overall["response_time"]["p50"] - 12.0) <= 0.25
    assert abs(overall["overhead_time"]["p99"] - 2.0) <= 0.05
    assert [(g["generation"], g["role"], g["total_requests"]) for g in body["generations"]] \
        == [("v1", "main", 20), ("v2", "main", 10), ("v3", "challenger", 20)]
    v2 = get(client, f"/api/v1/services/{scored}/stats", start="3h", generation="v2")
    assert [g["generation"] for g in v2.get_json()["generations"]] == ["v2"]


def test_stats_over_time_buckets_one_metric_or_all(client: SigningClient, scored: str) -> None:
    answer = get(client, f"/api/v1/services/{scored}/stats/over-time",
                 start=datetime.fromtimestamp(HOUR_AGO, UTC).isoformat(), end="0s",
                 bucket_size="PT1M", metric="total_requests,server_error_rate")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    overall = body["series"][0]
    assert overall["generation"] is None
    first, second = overall["buckets"][:2]
    assert (first["total_requests"], second["total_requests"]) == (20, 10)
    assert first["server_error_rate"] == pytest.approx(0.1)
    assert set(first) == {"start", "end", "total_requests", "server_error_rate"}
    every = get(client, f"/api/v1/services/{scored}/stats/over-time", start="3h")
    assert every.status_code == 200
    assert "cpu_percent_mean" in every.get_json()["series"][0]["buckets"][0]


@pytest.mark.parametrize(("path", "params", "message"), [
    ("stats", {"start": "1h", "end": "2h"}, "before it starts"),
    ("stats", {"generation": "v9"}, "no generation v9"),
    ("stats", {"role": "shadow"}, "role must be one of main, challenger"),
    ("stats", {"since": "1h"}, "unknown parameter(s) ['since']"),
    ("stats/over-time", {"bucket_size": "PT30S"}, "whole minutes"),
    ("stats/over-time", {"bucket_size": "PT1M", "start": "30d"}, f"at most {MAX_BUCKETS}"),
    ("stats/over-time", {"metric": "latency"}, "unknown metric 'latency'"),
])
def test_bad_questions_are_400s_that_name_the_problem(
    client: SigningClient, scored: str, path: str, params: dict[str, str], message: str
) -> None:
    answer = get(client, f"/api/v1/services/{scored}/{path}", **params)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["type"] == "InvalidInput" and message in error["message"]


def test_only_collaborators_see_a_services_stats(
    client: SigningClient, alice: SigningClient, scored: str
) -> None:
    assert alice.get(f"/api/v1/services/{scored}/stats").status_code in (403, 404)
    assert client.get("/api/v1/services/nothing-here/stats").status_code == 404


def test_slow_requests_are_those_over_the_services_own_threshold(
    client: SigningClient, scored: str
) -> None:
    before = get(client, f"/api/v1/services/{scored}/stats", start="3h").get_json()
    assert (before["slow_request_ms"], before["overall"]["slow_requests"]) == (1000, 0)
    changed = client.patch(f"/api/v1/services/{scored}",
                           json={"health_thresholds": {"slow_request_ms": 10}})
    assert changed.status_code == 200, changed.get_json()
    after = get(client, f"/api/v1/services/{scored}/stats", start="3h").get_json()
    assert (after["slow_request_ms"], after["overall"]["slow_requests"]) == (10, 30)
    chart = get(client, f"/api/v1/services/{scored}/stats/over-time", start="3h",
                metric="slow_requests").get_json()
    assert sum(b["slow_requests"] for b in chart["series"][0]["buckets"]) == 30


def test_the_usage_history_counts_each_live_generations_replicas_and_the_services(
    app: Flask, client: SigningClient
) -> None:
    """Three replicas of v1 running and one draining, a challenger v2 scaled to none: the
    stats show each generation's replicas and the service's."""
    from sqlalchemy import select

    from shipyard.domain.generation_refs import stored_mapping
    from shipyard.store import GenerationRow, InstanceRow, ServiceRow
    from shipyard.supervisor.usage_history import UsageHistory

    assert client.post("/api/v1/services", json={"name": "wide"}).status_code == 201
    assert client.post("/api/v1/services/wide/enable").status_code == 200
    for _ in range(2):
        assert client.post("/api/v1/services/wide/deploy").status_code in (200, 202)
    store = app.extensions["shipyard"].store
    with store.writing() as session:
        service = session.scalars(select(ServiceRow).where(ServiceRow.name == "wide")).one()
        v1, v2 = session.scalars(select(GenerationRow).where(
            GenerationRow.service_id == service.id).order_by(GenerationRow.number)).all()
        service.deployed = True
        service.live_mapping = stored_mapping([(v1.id, 1.0)])
        service.challenger_generation_id = v2.id
        for index, state in enumerate(["healthy", "healthy", "starting", "draining"]):
            session.add(InstanceRow(
                id=f"i-{index}", service_id=service.id, generation_id=v1.id,
                handle={"host": "127.0.0.1", "port": 9000 + index}, state=state, restarts=0,
                next_start_at=0.0, started_at=0.0, healthy_since=None, last_error="",
                cpu_percent=0.0, memory_bytes=0))
        session.flush()
        history = UsageHistory(time.time() - 60)
        history.count_replicas(session)
        history.fold(session)
    body = get(client, "/api/v1/services/wide/stats", start="1h").get_json()
    assert {(g["generation"], g["role"]): g["replicas"] for g in body["generations"]} == {
        ("v1", "main"): {"mean": 3.0, "max": 3},
        ("v2", "challenger"): {"mean": 0.0, "max": 0},
    }
    assert body["overall"]["replicas"] == {"mean": 3.0, "max": 3}
