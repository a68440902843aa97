"""A service's environment variables: names and values checked before anything is stored,
through the API, the manifest and the SDK's shapes; each generation keeps its own."""

from __future__ import annotations

import re
from typing import Any

import pytest

from shipyard.domain.manifest import parse_manifest
from shipyard.domain.service_variables import (
    MAX_VALUE_BYTES,
    MAX_VARIABLES,
    checked_variables,
)
from shipyard.errors import InvalidInput


def test_names_and_values_are_kept_as_text_in_name_order() -> None:
    assert checked_variables({"RETRIES": 3, "API_URL": "https://x", "DEBUG": False,
                              "ratio": 0.5, "_private": ""}) == {
        "API_URL": "https://x", "DEBUG": "false", "RETRIES": "3", "_private": "",
        "ratio": "0.5"}
    assert checked_variables(None) == {}


@pytest.mark.parametrize(("variables", "problem"), [
    ({"PATH": "/evil"}, "PATH is reserved: the runner sets it"),
    ({"path": "/evil"}, "path is reserved"),
    ({"PYTHONPATH": "/x"}, "starting with PYTHON is: they change how Python starts"),
    ({"LD_PRELOAD": "/x.so"}, "starting with LD_ is: they change which libraries are loaded"),
    ({"SHIPYARD_SECRET_ACCESS_KEY": "x"}, "starting with SHIPYARD_ is: Shipyard's own"),
    ({"CUDA_VISIBLE_DEVICES": "0"}, "the runner sets it to the GPUs"),
    ({"GUNICORN_CMD_ARGS": "--workers 9"}, "gunicorn reads it"),
    ({"WEB_CONCURRENCY": "9"}, "gunicorn reads it for its worker count"),
    ({"1ST": "x"}, "'1ST' is not a variable name"),
    ({"API-URL": "x"}, "'API-URL' is not a variable name"),
    ({"A" * 129: "x"}, "at most 128 characters"),
    ({"A": {"nested": 1}}, "the value of A must be text"),
    ({"A": None}, "the value of A must be text"),
    ({"A": "x\0y"}, "the value of A holds a NUL character"),
    ({"A": "x" * (MAX_VALUE_BYTES + 1)}, f"at most {MAX_VALUE_BYTES}"),
    ({f"V{n}": "x" for n in range(MAX_VARIABLES + 1)}, f"at most {MAX_VARIABLES}"),
    ({f"V{n}": "x" * 4000 for n in range(20)}, "bytes of names and values; at most"),
    (["A=1"], "must be an object of names to values"),
])
def test_a_problem_is_refused_and_named(variables: Any, problem: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(problem)):
        checked_variables(variables)


def test_the_manifest_sets_them_and_names_its_own_problems() -> None:
    manifest = parse_manifest("name: hello\nenv:\n  API_URL: https://x\n  RETRIES: 3\n")
    assert manifest.env == {"API_URL": "https://x", "RETRIES": "3"}
    assert manifest.to_spec()["env"] == {"API_URL": "https://x", "RETRIES": "3"}
    assert "env" not in parse_manifest("name: hello\n").to_spec()  # leaves what is stored
    with pytest.raises(InvalidInput, match=r"shipyard\.yaml: env: LD_PRELOAD is reserved"):
        parse_manifest("name: hello\nenv: {LD_PRELOAD: /x.so}\n")


def test_through_the_api_each_generation_keeps_the_variables_it_was_made_with(
    client: Any, bob: Any
) -> None:
    assert client.post("/api/v1/services", json={
        "name": "hello", "env": {"GREETING": "hi"}}).status_code == 201
    assert client.get("/api/v1/services/hello/env").get_json() == {"env": {"GREETING": "hi"}}
    assert client.post("/api/v1/services/hello/enable").status_code == 200
    first = client.post("/api/v1/services/hello/deploy").get_json()
    assert first["env"] == {"GREETING": "hi"}
    changed = client.put("/api/v1/services/hello/env",
                         json={"env": {"GREETING": "hello", "RETRIES": 3}})
    assert changed.status_code == 200
    assert changed.get_json() == {"env": {"GREETING": "hello", "RETRIES": "3"}}
    second = client.post("/api/v1/services/hello/deploy").get_json()
    assert second["env"] == {"GREETING": "hello", "RETRIES": "3"}
    generations = client.get("/api/v1/services/hello/generations").get_json()["generations"]
    assert {g["tag"]: g["env"] for g in generations} == {
        "v1": {"GREETING": "hi"}, "v2": {"GREETING": "hello", "RETRIES": "3"}}
    assert client.patch("/api/v1/services/hello", json={"env": {}}).get_json()["env"] == {}

    refused = client.put("/api/v1/services/hello/env", json={"env": {"PATH": "/x"}})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["message"] == (
        "env: PATH is reserved: the runner sets it to the service's environment")
    assert client.put("/api/v1/services/hello/env", json={"GREETING": "x"}).status_code == 400
    assert client.get("/api/v1/services/hello/env").get_json() == {"env": {}}
    # Another project's user can neither read nor change them.
    assert bob.get("/api/v1/services/hello/env").status_code in (403, 404)
    assert bob.put("/api/v1/services/hello/env",
                   json={"env": {"A": "1"}}).status_code in (403, 404)


def test_secrets_through_the_api_are_named_never_shown_and_checked(
    client: Any, bob: Any
) -> None:
    assert client.post("/api/v1/services", json={
        "name": "vault", "env": {"GREETING": "hi"}}).status_code == 201
    assert client.post("/api/v1/services/vault/enable").status_code == 200
    set_ = client.put("/api/v1/services/vault/secrets/API_TOKEN", json={"value": "tok-1"})
    assert set_.status_code == 200 and set(set_.get_json()) == {"name", "updated_at"}
    listed = client.get("/api/v1/services/vault/secrets").get_json()
    assert [s["name"] for s in listed["secrets"]] == ["API_TOKEN"]
    assert listed["waiting"] == []  # nothing serves yet
    assert "tok-1" not in str(listed)
    deployed = client.put("/api/v1/services/vault/secrets/API_TOKEN?redeploy=true",
                          json={"value": "tok-2"}).get_json()
    assert deployed["generation"]["tag"] == "v1"
    assert "tok-2" not in str(deployed) and "tok-2" not in str(
        client.get("/api/v1/services/vault/generations").get_json())

    for name, body, problem in [
        ("PATH", {"value": "x"}, "secret: PATH is reserved"),
        ("API_TOKEN", {"value": ""}, "the value of secret API_TOKEN must be non-empty text"),
        ("API_TOKEN", {"value": "a\0b"}, "the value of secret API_TOKEN holds a NUL"),
        ("API_TOKEN", {"value": "x" * 5000}, "the value of secret API_TOKEN is over 4096"),
        ("API_TOKEN", {"secret": "x"}, 'the body must be {"value": "..."}'),
        ("GREETING", {"value": "x"}, "vault has a variable named GREETING"),
    ]:
        refused = client.put(f"/api/v1/services/vault/secrets/{name}", json=body)
        assert refused.status_code == 400, name
        assert refused.get_json()["error"]["message"].startswith(problem)
    refused = client.put("/api/v1/services/vault/env", json={"env": {"API_TOKEN": "x"}})
    assert refused.status_code == 400
    assert "secret(s) named API_TOKEN" in refused.get_json()["error"]["message"]
    assert client.delete("/api/v1/services/vault/secrets/NOPE").status_code == 404
    assert bob.get("/api/v1/services/vault/secrets").status_code in (403, 404)
    assert bob.put("/api/v1/services/vault/secrets/X",
                   json={"value": "x"}).status_code in (403, 404)
    assert client.delete("/api/v1/services/vault/secrets/API_TOKEN").status_code == 200
    assert client.get("/api/v1/services/vault/secrets").get_json()["secrets"] == []
