"""A service may name its runner: the API stores and validates it."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_a_service_names_its_runner_or_takes_the_installations(client: FlaskClient) -> None:
    created = client.post("/api/v1/services", json={"name": "boxed", "runner": "docker"})
    assert created.status_code == 201, created.json
    assert created.json["runner"] == "docker"
    assert client.get("/api/v1/services/boxed").json["runner"] == "docker"
    plain = client.post("/api/v1/services", json={"name": "plain"})
    assert plain.json["runner"] == ""
    changed = client.patch("/api/v1/services/boxed", json={"runner": ""})
    assert changed.status_code == 200, changed.json
    assert changed.json["runner"] == ""


def test_an_unknown_runner_is_refused_with_the_known_ones(client: FlaskClient) -> None:
    refused = client.post("/api/v1/services", json={"name": "odd", "runner": "kubernetes"})
    assert refused.status_code == 400
    message = refused.json["error"]["message"]
    assert "unknown runner 'kubernetes'" in message and "local, docker" in message
    client.post("/api/v1/services", json={"name": "fine"})
    patched = client.patch("/api/v1/services/fine", json={"runner": "vm"})
    assert patched.status_code == 400
    assert "unknown runner 'vm'" in patched.json["error"]["message"]
