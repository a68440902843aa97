"""The query log end to end on a real ``shipyard up``: records spooled the way the gateway
spools them reach the store through the supervisor, and come back out through the API,
the SDK and the CLI, exactly once each."""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from shipyard.contracts.query_record import QueryRecord
from shipyard.contracts.run_paths import query_spool_dir
from shipyard.errors import Forbidden, InvalidInput, NotFound
from shipyard.gateway.spool import QuerySpool
from tests.conftest import RunningShipyard, start_shipyard
from tests.credentials import Credentials

CALLS = 1000
OLD = 400
"""Calls two hours ago, all served by v1; the others, a minute ago, by v1 and v2."""


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory, module_database_url: str
           ) -> Iterator[RunningShipyard]:
    """A running Shipyard whose service ``scored`` has CALLS calls in its query log."""
    running = start_shipyard(tmp_path_factory.mktemp("querylog") / "home",
                             database_url=module_database_url)
    try:
        with running.sdk() as client:
            service_id = client.services.create({"name": "scored"})["id"]
            client.services.create({"name": "quiet"})
        now = time.time()
        with QuerySpool(query_spool_dir(running.home), flush_interval=0.1) as spool:
            for number in range(CALLS):
                old = number < OLD
                spool.submit(QueryRecord(
                    at=(now - 7200 if old else now - 60) + number / 1000,
                    request_id=f"req-{number:04d}", service_id=service_id,
                    generation="v1" if old or number % 2 else "v2",
                    method="POST", path="/predict?explain=1", status=200, latency_ms=2.5,
                    request_bytes=12, response_bytes=5, caller="admin",
                    association_field="customer", keep_bodies=number == CALLS - 1,
                    request_body=f'{{"customer": "c-{number % 7}", "x": [1]}}'.encode(),
                    response_body=b'{"y": 1}',
                    challenger_generation="v3", challenger_status=200,
                    challenger_latency_ms=3.0,
                ))
        _wait_for_rows(running, "scored", CALLS)
        yield running
    finally:
        running.stop()


def _export(running: RunningShipyard, ref: str, **params: str) -> requests.Response:
    return running.http.get(f"{running.url}/api/v1/services/{ref}/queries", params=params,
                            timeout=60)


def _wait_for_rows(running: RunningShipyard, ref: str, expected: int) -> None:
    deadline = time.monotonic() + 60
    found = -1
    while time.monotonic() < deadline:
        found = _export(running, ref).text.count("\n")
        if found >= expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"the query log of {ref} has {found} rows, not {expected}")


def test_every_call_is_exported_once_with_its_generation(logged: RunningShipyard) -> None:
    answer = _export(logged, "scored")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in answer.text.splitlines()]
    assert len(rows) == CALLS
    assert len({row["request_id"] for row in rows}) == CALLS
    assert [row["at"] for row in rows] == sorted(row["at"] for row in rows)
    assert Counter(row["generation"] for row in rows) == {
        "v1": OLD + (CALLS - OLD) // 2, "v2": (CALLS - OLD) // 2,
    }
    first = rows[0]
    assert first["request_id"] == "req-0000" and first["path"] == "/predict?explain=1"
    assert first["association_id"] == "c-0" and first["challenger_generation"] == "v3"
    assert first["request_body"] is None  # bodies only when the service collects them
    assert rows[-1]["request_body"] == f'{{"customer": "c-{(CALLS - 1) % 7}", "x": [1]}}'
    assert rows[-1]["association_id"] == f"c-{(CALLS - 1) % 7}"
    assert rows[-1]["response_body"] == '{"y": 1}'
    assert not list(query_spool_dir(logged.home).glob("*.jsonl*"))


def test_csv_and_time_ranges_through_the_api(logged: RunningShipyard) -> None:
    answer = _export(logged, "scored", since="1h", format="csv")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == CALLS - OLD
    assert {row["generation"] for row in rows} == {"v1", "v2"}
    older = [json.loads(line) for line in _export(logged, "scored", until="1h").text.splitlines()]
    assert len(older) == OLD and {row["generation"] for row in older} == {"v1"}
    assert _export(logged, "quiet").text == ""
    refused = _export(logged, "scored", since="last tuesday")
    assert refused.status_code == 400
    assert "last tuesday" in refused.json()["error"]["message"]


def test_the_sdk_and_the_cli_export(logged: RunningShipyard) -> None:
    with logged.sdk() as client:
        lines = list(client.services.queries("scored", format="jsonl"))
        assert len(lines) == CALLS
        with pytest.raises(InvalidInput, match="xml"):
            client.services.queries("scored", format="xml")
    recent = logged.cli("logs", "scored", "--queries", "--since", "1h", "--format", "csv")
    assert recent.returncode == 0, recent.stderr
    rows = list(csv.DictReader(io.StringIO(recent.stdout)))
    assert len(rows) == CALLS - OLD
    assert Counter(row["generation"] for row in rows) == {"v1": 300, "v2": 300}
    everything = logged.cli("logs", "scored", "--queries")
    assert everything.returncode == 0, everything.stderr
    assert len(everything.stdout.splitlines()) == CALLS
    bad = logged.cli("logs", "scored", "--queries", "--since", "soon")
    assert bad.returncode == 1 and bad.stderr.startswith("Error: ") and "soon" in bad.stderr
    missing = logged.cli("logs", "nobody", "--queries")
    assert missing.returncode == 1 and "Error: " in missing.stderr


def test_calls_the_gateway_refuses_for_a_stopped_service_are_logged(
    logged: RunningShipyard,
) -> None:
    with logged.sdk() as client:
        client.services.create({"name": "stopped"})
    url = f"{logged.url}/user-services/invoke/stopped/predict"
    deadline = time.monotonic() + 30
    # 404 until the supervisor has published a routing table that names the service.
    while (answer := logged.http.post(url, json={"x": 1}, timeout=30)).status_code == 404:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.1)
    assert answer.status_code == 503 and "is disabled" in answer.json()["error"]["message"]
    _wait_for_rows(logged, "stopped", 1)
    [line] = _export(logged, "stopped").text.splitlines()
    row = json.loads(line)
    assert (row["status"], row["generation"], row["path"]) == (503, None,
                                                              "/user-services/invoke/stopped/predict")
    assert row["request_id"] == answer.headers["X-Request-Id"]


def test_only_collaborators_see_a_query_log(logged: RunningShipyard) -> None:
    with logged.sdk() as admin:
        outsider = Credentials.from_dict(admin.iam.create_user("outsider"))
    with outsider.client(logged.url) as client:
        with pytest.raises(Forbidden):
            client.services.queries("scored")
        with pytest.raises(NotFound):
            client.services.queries("nobody")
    anonymous = requests.get(f"{logged.url}/api/v1/services/scored/queries", timeout=30)
    assert anonymous.status_code == 401


def test_calls_spooled_while_the_supervisor_is_down_are_ingested_at_its_start(
    tmp_path: Path, database_url: str
) -> None:
    home = tmp_path / "home"
    first = start_shipyard(home, database_url=database_url)
    try:
        with first.sdk() as client:
            service_id = client.services.create({"name": "later"})["id"]
    finally:
        first.stop()
    # A gateway that stopped cleanly after the supervisor left its last flush behind.
    with QuerySpool(query_spool_dir(home), flush_interval=60) as spool:
        for number in range(3):
            spool.submit(QueryRecord(
                at=time.time(), request_id=f"late-{number}", service_id=service_id,
                generation="v1", method="GET", path="/", status=200, latency_ms=1.0,
            ))
    again = start_shipyard(home, database_url=database_url)
    try:
        _wait_for_rows(again, "later", 3)
        assert len(_export(again, "later").text.splitlines()) == 3
    finally:
        again.stop()
