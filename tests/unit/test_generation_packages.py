"""Generation packages on the Flask test client (no process): export, import, and every
refusal of an import, which stores nothing."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shipyard.domain.archives import write_zip
from shipyard.domain.generation_packages import MANIFEST_FILE, read_package, write_package
from shipyard.store import ServiceRow

ZIP = {"Content-Type": "application/zip"}


@pytest.fixture
def exported(app: Flask, client: FlaskClient) -> bytes:
    """Service ``svc`` deployed once (v1, its build pending), and v1's package."""
    assert client.post("/api/v1/services", json={"name": "svc"}).status_code == 201
    assert client.post("/api/v1/services/svc/enable").status_code == 200
    assert client.post("/api/v1/services/svc/deploy").status_code == 202
    answer = client.get("/api/v1/services/svc/generations/v1/package")
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    assert 'filename="svc-v1.zip"' in answer.headers["Content-Disposition"]
    return answer.data


def builds(client: FlaskClient, name: str = "svc") -> list[dict[str, Any]]:
    return client.get(f"/api/v1/services/{name}/builds").get_json()["builds"]


def import_(client: FlaskClient, package: bytes, name: str = "svc"):
    return client.post(f"/api/v1/services/{name}/generations/import", data=package, headers=ZIP)


def repackaged(package: bytes, **changes: Any) -> bytes:
    """``package`` with its manifest changed (``None`` removes a field)."""
    manifest, code = read_package(package, max_bytes=10**8)
    for key, value in changes.items():
        if value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    return write_package(manifest, code)


def test_the_manifest_describes_the_generation_and_round_trips(exported: bytes) -> None:
    manifest, code = read_package(exported, max_bytes=10**8)
    assert manifest["format"] == 1 and manifest["kind"] == "custom"
    assert manifest["service"] == "svc" and manifest["tag"] == "v1"
    assert manifest["environment"] == "small" and isinstance(manifest["packages"], list)
    assert manifest["model_version"] is None
    assert "app.py" in code
    assert manifest["code_sha256"] == hashlib.sha256(write_zip(code)).hexdigest()
    assert read_package(write_package(manifest, code), max_bytes=10**8) == (manifest, code)


def test_an_import_adds_a_pending_generation_and_changes_nothing_that_serves(
    app: Flask, client: FlaskClient, exported: bytes
) -> None:
    store = app.extensions["shipyard"].store
    with store.reading() as session:
        before = session.query(ServiceRow).filter_by(name="svc").one()
        target, live, mapping = (before.target_generation_id, before.live_generation_id,
                                 before.mapping)
    answer = import_(client, exported)
    assert answer.status_code == 201, answer.get_json()
    generation = answer.get_json()
    assert generation["tag"] == "v2" and generation["build_state"] == "pending"
    assert [b["tag"] for b in builds(client)] == ["v1", "v2"]
    with store.reading() as session:
        after = session.query(ServiceRow).filter_by(name="svc").one()
        assert (after.target_generation_id, after.live_generation_id, after.mapping) == (
            target, live, mapping)
    again = client.get("/api/v1/services/svc/generations/v2/package").data
    assert read_package(again, max_bytes=10**8)[1] == read_package(exported, max_bytes=10**8)[1]


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_an_import_refuses_path_traversal(client: FlaskClient, exported: bytes) -> None:
    manifest, _ = read_package(exported, max_bytes=10**8)
    package = zip_of({MANIFEST_FILE: json.dumps(manifest).encode(),
                      "code/../../evil.py": b"x", "code/app.py": b"y"})
    answer = import_(client, package)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["type"] == "InvalidArchive"
    assert len(builds(client)) == 1


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: repackaged(p, format=2), "format 2"),
        (lambda p: repackaged(p, surprise=1), "unknown fields ['surprise']"),
        (lambda p: repackaged(p, code_sha256=None), "lacks code_sha256"),
        (lambda p: repackaged(p, code_sha256="0" * 64), "code_sha256"),
        (lambda p: repackaged(p, environment="huge"), "unknown environment 'huge'"),
        (lambda p: repackaged(p, kind="model"), "holds a model generation"),
        (lambda p: repackaged(p, packages=["flask", "--index-url=http://x"]), "package list"),
        (lambda p: repackaged(p, packages="flask"), "package list"),
        (lambda p: repackaged(p, model_version="iris:9"), "iris:9"),
        (lambda p: repackaged(p, model_version="iris"), "NAME:NUMBER"),
        (lambda p: zip_of({"code/app.py": b"x"}), MANIFEST_FILE),
        (lambda p: zip_of({MANIFEST_FILE: b"{not json", "code/app.py": b"x"}), "not valid JSON"),
        (lambda p: zip_of({MANIFEST_FILE: b"[]", "code/app.py": b"x"}), "JSON object"),
        (lambda p: zip_of({MANIFEST_FILE: b"{}", "code/app.py": b"x", "other.py": b""}),
         "outside code/"),
        (lambda p: b"not a zip at all", ""),
    ],
)
def test_bad_packages_are_refused_and_store_nothing(
    client: FlaskClient, exported: bytes, make: Any, words: str
) -> None:
    answer = import_(client, make(exported))
    assert answer.status_code == 400, answer.get_json()
    assert words in answer.get_json()["error"]["message"]
    assert len(builds(client)) == 1


def test_a_model_generation_needs_its_model_version_here(
    app: Flask, client: FlaskClient
) -> None:
    models = app.extensions["shipyard"].models
    metadata = {"features": [{"name": "a"}], "target": "y"}
    models.upload("flowers", b"model one", metadata)
    models.deploy("flowers", 1)
    package = client.get("/api/v1/services/flowers/generations/v1/package").data
    assert read_package(package, max_bytes=10**8)[0]["model_version"] == "flowers:1"
    assert import_(client, package, "flowers").status_code == 201

    manifest, code = read_package(package, max_bytes=10**8)
    code["model/model.joblib"] = b"another model"
    manifest["code_sha256"] = hashlib.sha256(write_zip(code)).hexdigest()
    answer = import_(client, write_package(manifest, code), "flowers")
    assert answer.status_code == 400
    assert "not the file of model version flowers:1" in answer.get_json()["error"]["message"]

    assert client.post("/api/v1/services", json={"name": "plain"}).status_code == 201
    wrong_kind = import_(client, package, "plain")
    assert wrong_kind.status_code == 400
    assert "'plain' is a custom service" in wrong_kind.get_json()["error"]["message"]


def test_unknown_generations_and_tags(client: FlaskClient, exported: bytes) -> None:
    assert client.get("/api/v1/services/svc/generations/v7/package").status_code == 404
    assert client.get("/api/v1/services/svc/generations/7/package").status_code == 400


def test_a_package_names_its_settings_and_an_import_says_which_are_not_set_here(
    client: FlaskClient,
) -> None:
    """A package carries its generation's variables and its secrets' names, never a
    value; an import keeps the target's own and names what it lacks."""
    created = client.post("/api/v1/services", json={"name": "staged", "env": {"MODE": "on"}})
    assert created.status_code == 201, created.get_json()
    assert client.put("/api/v1/services/staged/secrets/API_TOKEN",
                      json={"value": "tok-never-exported"}).status_code == 200
    assert client.post("/api/v1/services/staged/enable").status_code == 200
    assert client.post("/api/v1/services/staged/deploy").status_code == 202
    package = client.get("/api/v1/services/staged/generations/v1/package").data
    manifest, _ = read_package(package, max_bytes=10**8)
    assert manifest["env"] == {"MODE": "on"} and manifest["secrets"] == ["API_TOKEN"]
    assert b"tok-never-exported" not in package

    assert client.post("/api/v1/services", json={"name": "bare"}).status_code == 201
    answer = import_(client, package, "bare")
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["settings_missing"] == ["API_TOKEN", "MODE"]
    assert answer.get_json()["env"] == {}  # the target's own, as for any new generation
    assert import_(client, package, "staged").get_json()["settings_missing"] == []

    for bad, words in (({"env": ["MODE"]}, "'env' must map"),
                       ({"secrets": "API_TOKEN"}, "'secrets' must be a list")):
        refused = import_(client, repackaged(package, **bad), "bare")
        assert refused.status_code == 400
        assert words in refused.get_json()["error"]["message"]
