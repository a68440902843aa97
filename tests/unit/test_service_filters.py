"""``GET /api/v1/services`` takes real filters, combined, and refuses the ones it does not
know (it used to ignore them all, so ``?kind=model`` listed every service)."""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner

from shipyard.cli import cli
from tests.credentials import SigningClient


def listing(client: SigningClient, filters: dict[str, str]) -> Any:
    # In the path: the signing client signs the URL it is given.
    return client.get("/api/v1/services?" + urlencode(filters))


def names(client: SigningClient, **filters: Any) -> list[str]:
    answer = listing(client, filters)
    assert answer.status_code == 200, answer.get_json()
    return [service["name"] for service in answer.get_json()["services"]]


@pytest.fixture
def catalogue(client: SigningClient, alice: SigningClient) -> SigningClient:
    """Four services: a model and a custom one of the admin's (one enabled), a docker one
    with a description, and alice's, in her project."""
    for body in (
        {"name": "churn-model", "kind": "model"},
        {"name": "add-numbers", "description": "Adds two numbers"},
        {"name": "on-docker", "runner": "docker", "environment": "large",
         "description": "Numbers, in a container"},
    ):
        assert client.post("/api/v1/services", json=body).status_code == 201
    assert client.post("/api/v1/services/add-numbers/enable").status_code == 200
    assert alice.post("/api/v1/services", json={"name": "alices"}).status_code == 201
    return client


def test_each_filter_selects_and_filters_combine(catalogue: SigningClient) -> None:
    client = catalogue
    assert names(client) == ["add-numbers", "alices", "churn-model", "on-docker"]
    assert names(client, kind="model") == ["churn-model"]
    assert names(client, kind="custom", enabled="true") == ["add-numbers"]
    assert names(client, enabled="false", runner="docker") == ["on-docker"]
    assert names(client, runner="") == ["add-numbers", "alices", "churn-model"]
    assert names(client, environment="large") == ["on-docker"]
    assert names(client, state="stopped", deployed="false") == names(client)
    assert names(client, state="running") == []
    assert names(client, project="alice") == ["alices"]
    assert names(client, search="NUMBERS") == ["add-numbers", "on-docker"]
    assert names(client, search="numbers container") == ["on-docker"]
    assert names(client, search="100%_") == []
    assert names(client, order_by="-name") == ["on-docker", "churn-model", "alices",
                                               "add-numbers"]


@pytest.mark.parametrize(("filters", "message"), [
    ({"kinds": "model"}, "unknown filter(s) ['kinds']"),
    ({"kind": "modle"}, "unknown kind 'modle'; known: custom, model"),
    ({"state": "up"}, "unknown state 'up'"),
    ({"enabled": "maybe"}, "'enabled' must be true or false, not 'maybe'"),
    ({"environment": "huge"}, "unknown environment 'huge'"),
    ({"runner": "kubernetes"}, "unknown runner 'kubernetes'"),
    ({"project": "nobody"}, "unknown project 'nobody'"),
    ({"order_by": "size"}, "unknown order_by 'size'"),
    ({"search": "x" * 201}, "'search' may be at most 200 characters"),
])
def test_an_unknown_filter_or_value_is_a_400_that_names_it(
    catalogue: SigningClient, filters: dict[str, str], message: str
) -> None:
    answer = listing(catalogue, filters)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["type"] == "InvalidInput"
    assert message in answer.get_json()["error"]["message"]


def test_filters_never_show_what_the_caller_may_not_see(
    catalogue: SigningClient, bob: SigningClient
) -> None:
    assert names(bob, project="alice") == []
    assert names(bob, search="alices") == []


def test_the_cli_passes_its_options_as_filters(
    catalogue: SigningClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []

    class Services:
        def list(self, **filters: Any) -> list[dict[str, Any]]:
            seen.append(filters)
            return []

    class Client:
        services = Services()

    # The module, not the ``services`` group the package names after it.
    module = importlib.import_module("shipyard.cli.services")
    monkeypatch.setattr(module, "client_from", lambda ctx: Client())
    done = CliRunner().invoke(cli, ["services", "list", "--kind", "model", "--disabled",
                                     "--order-by", "-name", "--json"])
    assert done.exit_code == 0, done.output
    assert seen == [{"kind": "model", "enabled": False, "order_by": "-name"}]
