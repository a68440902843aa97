"""Service health through the API, shipyard.yaml, the SDK's filters and the CLI: statuses
told from calls folded as the supervisor folds them, thresholds set at creation, merged by
PATCH, reset by null, and the listing's ``service_health`` filter."""

from __future__ import annotations

import importlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner
from flask import Flask
from openapi_schema_validator import OAS30Validator
from sqlalchemy import func, select
from sqlalchemy import inspect as sa_inspect

from shipyard.cli import cli
from shipyard.domain.control_plane import ControlPlane
from shipyard.domain.manifest import parse_manifest
from shipyard.errors import InvalidInput
from shipyard.openapi.control_schemas import COMPONENTS
from shipyard.stats.folding import fold_calls
from shipyard.store import GenerationRow, ServiceRow
from tests.credentials import SigningClient

FLEET = ("steady", "flaky", "slow", "quiet", "parked")


def calls(service_id: str, count: int, *, errors: int = 0, status: int = 500,
          latency_ms: float = 25.0) -> list[dict[str, Any]]:
    """``count`` calls spread over the last 50 minutes, the first ``errors`` answered
    ``status``."""
    now = datetime.now(UTC)
    return [{
        "at": now - timedelta(minutes=number % 50, seconds=5), "service_id": service_id,
        "generation": "v1", "status": status if number < errors else 200,
        "latency_ms": latency_ms, "instance_ms": latency_ms * 0.9, "predictions": 1,
        "request_bytes": 100, "response_bytes": 50, "caller": "user:admin",
        "challenger_generation": None, "challenger_status": None,
        "challenger_latency_ms": None,
    } for number in range(count)]


@pytest.fixture
def fleet(app: Flask, client: SigningClient) -> SigningClient:
    """Five services: steady (all well), flaky (7% of 5xx), slow (2 s per call), quiet
    (deployed, no calls) and parked (not deployed, yet called)."""
    plane: ControlPlane = app.extensions["shipyard"]
    ids = {}
    for name in FLEET:
        created = client.post("/api/v1/services", json={"name": name})
        assert created.status_code == 201, created.get_json()
        ids[name] = created.get_json()["id"]
    with plane.store.writing() as session:
        for name in FLEET[:-1]:
            session.get_one(ServiceRow, ids[name]).deployed = True
        fold_calls(session, [
            *calls(ids["steady"], 120, errors=3, status=404),
            *calls(ids["flaky"], 100, errors=7),
            *calls(ids["slow"], 40, latency_ms=2000.0),
            *calls(ids["parked"], 10, errors=10),
        ])
    return client


def listing(client: SigningClient, **filters: str) -> Any:
    return client.get("/api/v1/services?" + urlencode(filters))


def health_by_name(client: SigningClient, **filters: str) -> dict[str, str]:
    answer = listing(client, **filters)
    assert answer.status_code == 200, answer.get_json()
    return {s["name"]: s["service_health"]["status"] for s in answer.get_json()["services"]}


def conforms(schema: str, instance: Any) -> None:
    """``instance`` is valid against ``schema`` of the control plane's document (its
    components as they are served, without building the whole document)."""
    root = {"$ref": f"#/components/schemas/{schema}", "components": COMPONENTS}
    OAS30Validator(root).validate(instance)


# -- statuses and reasons --------------------------------------------------------------


def test_each_service_gets_its_status_and_its_reasons(fleet: SigningClient) -> None:
    assert health_by_name(fleet) == {
        "flaky": "failing", "parked": "unknown", "quiet": "unknown", "slow": "warning",
        "steady": "passing",
    }
    flaky = fleet.get("/api/v1/services/flaky").get_json()
    assert flaky["service_health"] == {
        "status": "failing", "window_minutes": 60,
        "reasons": ["server_error_rate 7.0% over the failing threshold 5%"],
    }
    assert flaky["health_thresholds"]["server_error_rate"] == {"warning": 0.01,
                                                               "failing": 0.05}
    conforms("ServiceStatus", flaky)
    slow = fleet.get("/api/v1/services/slow").get_json()["service_health"]
    assert slow["reasons"][0].startswith("response_time p90 ")
    assert slow["reasons"][0].endswith(" ms over the warning threshold 1000 ms")
    assert fleet.get("/api/v1/services/parked").get_json()["service_health"]["reasons"] == [
        "not deployed"]
    assert fleet.get("/api/v1/services/quiet").get_json()["service_health"]["reasons"] == [
        "no calls in the last 60 minutes"]
    for service in listing(fleet).get_json()["services"]:
        conforms("Service", service)


def test_the_listing_filters_on_health(fleet: SigningClient, bob: SigningClient) -> None:
    assert list(health_by_name(fleet, service_health="failing")) == ["flaky"]
    assert list(health_by_name(fleet, service_health="unknown")) == ["parked", "quiet"]
    assert list(health_by_name(fleet, service_health="warning,failing")) == ["flaky", "slow"]
    assert list(health_by_name(fleet, service_health="passing", search="stead")) == ["steady"]
    assert health_by_name(fleet, service_health="passing", deployed="false") == {}
    assert health_by_name(bob, service_health="failing") == {}


@pytest.mark.parametrize("value", ["bad", "FAILING", "", "failing,", "failing;warning"])
def test_an_unknown_health_status_is_a_400_that_names_it(
    fleet: SigningClient, value: str
) -> None:
    answer = listing(fleet, service_health=value)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["type"] == "InvalidInput"
    assert error["message"].startswith("unknown service_health ")
    assert "known: passing, warning, failing, unknown" in error["message"]


# -- thresholds ------------------------------------------------------------------------


def test_thresholds_set_at_creation_and_merged_by_patch_change_the_status(
    fleet: SigningClient,
) -> None:
    created = fleet.post("/api/v1/services", json={
        "name": "tuned", "health_thresholds": {"min_requests": 20,
                                               "server_error_rate": {"warning": 0.02}},
    })
    assert created.status_code == 201, created.get_json()
    thresholds = created.get_json()["health_thresholds"]
    assert thresholds["min_requests"] == 20
    assert thresholds["server_error_rate"] == {"warning": 0.02, "failing": 0.05}
    conforms("Service", created.get_json())

    # flaky's 7% of 5xx: failing by default, a warning under a failing threshold of 10%.
    changed = fleet.patch("/api/v1/services/flaky", json={
        "health_thresholds": {"server_error_rate": {"failing": 0.1}}})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["health_thresholds"]["server_error_rate"] == {
        "warning": 0.01, "failing": 0.1}
    conforms("Service", changed.get_json())
    fleet.patch("/api/v1/services/flaky", json={"health_thresholds": {"min_requests": 500}})
    flaky = fleet.get("/api/v1/services/flaky").get_json()
    # The second change merged over the first.
    assert flaky["health_thresholds"]["server_error_rate"]["failing"] == 0.1
    assert flaky["service_health"] == {
        "status": "unknown", "window_minutes": 60,
        "reasons": ["100 calls in the last 60 minutes, fewer than min_requests (500)"]}
    fleet.patch("/api/v1/services/flaky", json={"health_thresholds": {"min_requests": None}})
    assert fleet.get("/api/v1/services/flaky").get_json()["service_health"] == {
        "status": "warning", "window_minutes": 60,
        "reasons": ["server_error_rate 7.0% over the warning threshold 1%"]}
    # null for the whole puts every threshold back to its default.
    reset = fleet.patch("/api/v1/services/flaky", json={"health_thresholds": None})
    assert reset.get_json()["health_thresholds"] == fleet.get(
        "/api/v1/services/steady").get_json()["health_thresholds"]
    assert health_by_name(fleet, service_health="failing") == {"flaky": "failing"}


def test_a_shorter_window_leaves_older_calls_out(fleet: SigningClient) -> None:
    # The slow service's 40 calls are one a minute; the last 5 minutes (the one under
    # way included, so 4 to 5 whole minutes back) hold 4 or 5 of them.
    fleet.patch("/api/v1/services/slow", json={"health_thresholds": {
        "window_minutes": 5, "min_requests": 10}})
    health = fleet.get("/api/v1/services/slow").get_json()["service_health"]
    assert health["window_minutes"] == 5 and health["status"] == "unknown"
    assert re.fullmatch(r"[45] calls in the last 5 minutes, fewer than min_requests \(10\)",
                        health["reasons"][0]), health


@pytest.mark.parametrize(("thresholds", "message"), [
    ({"server_error_rate": {"warning": 0.2}},
     "health_thresholds.server_error_rate: the warning threshold 0.2 is over the failing "
     "threshold 0.05"),
    ({"latency": 100}, "unknown health_thresholds key(s) ['latency']"),
    ({"user_error_rate": {"failing": 2}}, "user_error_rate.failing must be from 0 to 1"),
    ({"window_minutes": "1h"}, "window_minutes must be a whole number of minutes"),
    ("strict", "health_thresholds must be an object"),
])
def test_bad_thresholds_are_a_400_that_names_them_and_change_nothing(
    fleet: SigningClient, thresholds: Any, message: str
) -> None:
    for method, path in (("patch", "/api/v1/services/steady"), ("post", "/api/v1/services")):
        body = {"health_thresholds": thresholds}
        if method == "post":
            body["name"] = "another"
        answer = getattr(fleet, method)(path, json=body)
        assert answer.status_code == 400, (method, answer.get_json())
        assert message in answer.get_json()["error"]["message"]
    steady = fleet.get("/api/v1/services/steady").get_json()
    assert steady["health_thresholds"]["window_minutes"] == 60
    assert fleet.get("/api/v1/services/another").status_code == 404


def test_the_migration_adds_the_column_and_its_downgrade_keeps_every_generation(
    app: Flask, client: SigningClient
) -> None:
    from alembic import command
    from alembic.config import Config

    from shipyard.store.database import MIGRATIONS

    client.post("/api/v1/services", json={"name": "svc"})
    assert client.post("/api/v1/services/svc/enable").status_code == 200
    assert client.post("/api/v1/services/svc/deploy").status_code == 202
    client.patch("/api/v1/services/svc", json={"health_thresholds": {"min_requests": 9}})
    plane: ControlPlane = app.extensions["shipyard"]
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with plane.store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0013")
        assert "health_thresholds" not in {
            column["name"] for column in sa_inspect(connection).get_columns("services")}
        command.upgrade(config, "head")
    with plane.store.reading() as session:
        assert session.scalar(select(func.count()).select_from(GenerationRow)) == 1
    # The thresholds went with the column: the defaults again.
    assert client.get("/api/v1/services/svc").get_json()["health_thresholds"][
        "min_requests"] == 1


# -- shipyard.yaml ---------------------------------------------------------------------


def test_the_manifest_sets_thresholds_and_names_a_bad_one() -> None:
    manifest = parse_manifest(
        "name: tuned\nhealth_thresholds:\n  window_minutes: 30\n"
        "  server_error_rate: {warning: 0.02, failing: null}\n"
    )
    assert manifest.to_spec()["health_thresholds"] == {
        "window_minutes": 30, "server_error_rate": {"warning": 0.02, "failing": None}}
    assert "health_thresholds" not in parse_manifest("name: plain\n").to_spec()
    with pytest.raises(InvalidInput, match=r"^shipyard.yaml: unknown health_thresholds key"):
        parse_manifest("name: bad\nhealth_thresholds: {p90: 100}\n")


# -- the CLI ---------------------------------------------------------------------------


class FakeServices:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.calls: list[tuple[str, Any]] = []

    def list(self, **filters: Any) -> list[dict[str, Any]]:
        self.calls.append(("list", filters))
        return self.rows

    def get(self, ref: str) -> dict[str, Any]:
        return next(row for row in self.rows if row["name"] == ref)

    def update(self, ref: str, changes: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("update", changes))
        return self.get(ref)


@pytest.fixture
def fake(fleet: SigningClient, monkeypatch: pytest.MonkeyPatch) -> FakeServices:
    """The CLI's client, answering with the fleet as the API lists it."""
    services = FakeServices(listing(fleet).get_json()["services"])

    class Client:
        pass

    client = Client()
    client.services = services  # type: ignore[attr-defined]
    module = importlib.import_module("shipyard.cli.services")
    monkeypatch.setattr(module, "client_from", lambda ctx: client)
    return services


def test_the_cli_lists_a_health_column_and_passes_its_filter(fake: FakeServices) -> None:
    done = CliRunner().invoke(cli, ["services", "list", "--service-health", "warning,failing"])
    assert done.exit_code == 0, done.output
    assert fake.calls == [("list", {"service_health": "warning,failing"})]
    header, *lines = done.output.splitlines()
    assert header.split()[-1] == "HEALTH"
    assert {line.split()[0]: line.split()[-1] for line in lines} == {
        "flaky": "failing", "parked": "unknown", "quiet": "unknown", "slow": "warning",
        "steady": "passing",
    }
    as_json = CliRunner().invoke(cli, ["services", "list", "--json"])
    # The API's keys as they are: no column added (``monitoring`` has a "health" of its own).
    rows = json.loads(as_json.output)
    assert all("service_health" in row and "health" not in row for row in rows)


def test_the_cli_sets_and_resets_thresholds(fake: FakeServices) -> None:
    done = CliRunner().invoke(cli, [
        "services", "update", "flaky", "--health-threshold", "server_error_rate.warning=2%",
        "--health-threshold", "server_error_rate.failing=0.1",
        "--health-threshold", "window_minutes=30", "--health-threshold", "min_requests=default",
    ])
    assert done.exit_code == 0, done.output
    assert fake.calls[-1] == ("update", {"health_thresholds": {
        "server_error_rate": {"warning": 0.02, "failing": 0.1}, "window_minutes": 30,
        "min_requests": None}})
    assert "Updated flaky's health thresholds:" in done.output
    assert "server_error_rate     warning 0.01, failing 0.05" in done.output
    reset = CliRunner().invoke(cli, ["services", "update", "flaky",
                                     "--default-health-thresholds"])
    assert reset.exit_code == 0, reset.output
    assert fake.calls[-1] == ("update", {"health_thresholds": None})


@pytest.mark.parametrize(("args", "message"), [
    (["--health-threshold", "window_minutes"], "'window_minutes' is not KEY=VALUE"),
    (["--health-threshold", "window_minutes=soon"], "'soon' is not a number"),
    ([], "nothing to change"),
    (["--default-health-thresholds", "--health-threshold", "min_requests=2"], "not both"),
])
def test_the_cli_refuses_what_it_cannot_send(
    fake: FakeServices, args: list[str], message: str
) -> None:
    done = CliRunner().invoke(cli, ["services", "update", "flaky", *args])
    assert done.exit_code == 2
    assert message in done.output
    assert not [call for call in fake.calls if call[0] == "update"]


def test_the_cli_shows_a_service_s_health(fake: FakeServices) -> None:
    done = CliRunner().invoke(cli, ["services", "health", "flaky"])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[:2] == [
        "flaky: failing (over the last 60 minutes)",
        "  - server_error_rate 7.0% over the failing threshold 5%",
    ]
    assert "response_time_p90_ms  warning 1000, failing 5000" in done.output
