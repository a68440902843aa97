"""A service's replicas: min_replicas and max_replicas checked against each other and the
profile's ceiling before anything is stored, through the API, the manifest and the
environments file; what runs without autoscaling."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from shipyard.domain.environments import EnvironmentCatalog
from shipyard.domain.manifest import parse_manifest
from shipyard.domain.replicas import replicas_to_run, validate_replicas
from shipyard.errors import InvalidInput
from shipyard.resources import environments_file

CATALOG = EnvironmentCatalog.load(environments_file())
SMALL, LARGE = CATALOG.get("small"), CATALOG.get("large")


def test_the_bundled_profiles_have_ceilings() -> None:
    assert (SMALL.max_replicas, LARGE.max_replicas, CATALOG.get("gpu").max_replicas) == (
        8, 4, 2)
    assert SMALL.to_dict()["max_replicas"] == 8


@pytest.mark.parametrize(("low", "high", "problem"), [
    (2, 1, "min_replicas (2) is over max_replicas (1)"),
    (-1, 1, "min_replicas must not be negative (got -1)"),
    (0, 0, "max_replicas must be at least 1"),
    (1, 9, "max_replicas (9) is over the 'small' profile's ceiling of 8"),
    (1.5, 2, "min_replicas must be a whole number, not 1.5"),
    (True, 2, "min_replicas must be a whole number, not True"),
    (1, "3", "max_replicas must be a whole number, not '3'"),
])
def test_a_problem_is_refused_and_named(low: Any, high: Any, problem: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(problem)):
        validate_replicas(low, high, SMALL)


def test_what_runs_is_the_minimum_and_at_least_one() -> None:
    assert validate_replicas(0, 8, SMALL) == (0, 8)
    assert [replicas_to_run(low, high) for low, high in ((1, 1), (3, 5), (0, 4))] == [1, 3, 1]


def test_a_profile_ceiling_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "environments.yaml"
    path.write_text("profiles:\n  tiny: {cpu: 1, memory: 1GiB}\n"
                    "  wide: {cpu: 1, memory: 1GiB, max_replicas: 32}\n")
    catalog = EnvironmentCatalog.load(path)
    assert (catalog.get("tiny").max_replicas, catalog.get("wide").max_replicas) == (8, 32)
    path.write_text("profiles:\n  tiny: {cpu: 1, memory: 1GiB, max_replicas: 0}\n")
    with pytest.raises(InvalidInput, match="environment 'tiny': 'max_replicas' must be a "
                                           "whole number of at least 1, not 0"):
        EnvironmentCatalog.load(path)


def test_the_manifest_sets_them_and_names_its_own_problems() -> None:
    manifest = parse_manifest("name: hello\nmin_replicas: 2\nmax_replicas: 4\n")
    assert (manifest.to_spec()["min_replicas"], manifest.to_spec()["max_replicas"]) == (2, 4)
    assert "min_replicas" not in parse_manifest("name: hello\n").to_spec()
    with pytest.raises(InvalidInput, match=r"shipyard\.yaml: 'max_replicas' must be a whole "
                                           r"number of at least 0, not 'many'"):
        parse_manifest("name: hello\nmax_replicas: many\n")


def test_through_the_api_they_are_set_shown_and_checked_together(client: Any) -> None:
    created = client.post("/api/v1/services", json={"name": "wide", "min_replicas": 2,
                                                     "max_replicas": 3})
    assert created.status_code == 201
    assert (created.get_json()["min_replicas"], created.get_json()["max_replicas"]) == (2, 3)
    plain = client.post("/api/v1/services", json={"name": "plain"}).get_json()
    assert (plain["min_replicas"], plain["max_replicas"]) == (1, 1)

    changed = client.patch("/api/v1/services/wide", json={"max_replicas": 5})
    assert changed.status_code == 200 and changed.get_json()["max_replicas"] == 5
    # Checked with what is stored: min 2 stays, so max 1 is under it.
    refused = client.patch("/api/v1/services/wide", json={"max_replicas": 1})
    assert refused.status_code == 400
    assert refused.get_json()["error"] == {
        "type": "InvalidInput", "message": "min_replicas (2) is over max_replicas (1)"}
    # A profile whose ceiling is under the stored max_replicas is refused for it.
    moved = client.patch("/api/v1/services/wide", json={"environment": "gpu"})
    assert moved.status_code == 400
    assert moved.get_json()["error"]["message"] == (
        "max_replicas (5) is over the 'gpu' profile's ceiling of 2")
    too_many = client.post("/api/v1/services", json={"name": "huge", "max_replicas": 100})
    assert too_many.status_code == 400
    assert "over the 'small' profile's ceiling of 8" in too_many.get_json()["error"]["message"]
    assert client.get("/api/v1/services/huge").status_code == 404
    shown = client.get("/api/v1/services/wide").get_json()
    assert (shown["min_replicas"], shown["max_replicas"], shown["environment"]) == (
        2, 5, "small")


def test_a_generation_sets_its_own_bounds_over_its_services(client: Any) -> None:
    assert client.post("/api/v1/services", json={"name": "hello", "max_replicas": 4}
                       ).status_code == 201
    assert client.post("/api/v1/services/hello/enable").status_code == 200
    assert client.post("/api/v1/services/hello/deploy").status_code in (200, 202)
    own = client.patch("/api/v1/services/hello/generations/v1", json={"max_replicas": 3})
    assert own.status_code == 200, own.get_json()
    assert (own.get_json()["min_replicas"], own.get_json()["max_replicas"]) == (None, 3)
    for changes, problem in (
        ({"min_replicas": 5}, "min_replicas (5) is over max_replicas (3)"),
        ({"max_replicas": 9}, "max_replicas (9) is over the 'small' profile's ceiling of 8"),
        ({"replicas": 2}, "give min_replicas and/or max_replicas"),
        ({}, "give min_replicas and/or max_replicas"),
    ):
        refused = client.patch("/api/v1/services/hello/generations/v1", json=changes)
        assert refused.status_code == 400, changes
        assert problem in refused.get_json()["error"]["message"]
    listed = client.get("/api/v1/services/hello/generations").get_json()["generations"]
    assert listed[0]["max_replicas"] == 3  # the refusals changed nothing
    back = client.patch("/api/v1/services/hello/generations/v1",
                        json={"min_replicas": None, "max_replicas": None})
    assert (back.get_json()["min_replicas"], back.get_json()["max_replicas"]) == (None, None)
    assert client.patch("/api/v1/services/hello/generations/v9",
                        json={"max_replicas": 2}).status_code == 404
