"""Identities, keys and who may do what, through the API (Flask's test client signing
real SigV4 requests) and the domain objects behind it."""

from __future__ import annotations

import dataclasses
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from shipyard.api.app import create_app
from shipyard.errors import ShipyardError
from shipyard.iam.principals import ANONYMOUS, Caller, may_collaborate, may_invoke
from shipyard.iam.vault import Vault
from shipyard.settings import Settings
from shipyard.store import AccessKeyRow
from tests.conftest import signed_as
from tests.credentials import Credentials, SigningClient

# -- the policy --------------------------------------------------------------------------

USER = Caller(kind="user", id="u1", name="u", projects=frozenset({"p1"}))
STRANGER = Caller(kind="user", id="u2", name="s", projects=frozenset({"p2"}))
ADMIN = Caller(kind="user", id="u3", name="a", is_admin=True)
KEY_OF_S1 = Caller(kind="api_key", id="k", service_id="s1")
SERVICE_IN_P1 = Caller(kind="service", id="s9", name="other", projects=frozenset({"p1"}))


@pytest.mark.parametrize(("caller", "expected"), [
    (ANONYMOUS, {"public": True, "instance": False, "project": False}),
    (STRANGER, {"public": True, "instance": True, "project": False}),
    (USER, {"public": True, "instance": True, "project": True}),
    (ADMIN, {"public": True, "instance": True, "project": True}),
    (KEY_OF_S1, {"public": True, "instance": True, "project": True}),
    (SERVICE_IN_P1, {"public": True, "instance": True, "project": True}),
])
def test_who_may_invoke_at_each_access_level(caller: Caller, expected: dict) -> None:
    assert {level: may_invoke(caller, "s1", level, "p1") for level in expected} == expected


def test_an_api_key_opens_only_its_own_service() -> None:
    assert not may_invoke(KEY_OF_S1, "s2", "project", "p1")
    assert not may_invoke(KEY_OF_S1, "s2", "instance", "p1")
    assert may_invoke(KEY_OF_S1, "s2", "public", "p1")


def test_only_users_of_the_project_or_admins_collaborate() -> None:
    assert may_collaborate(USER, "p1") and may_collaborate(ADMIN, "p1")
    assert not may_collaborate(STRANGER, "p1")
    assert not may_collaborate(SERVICE_IN_P1, "p1")
    assert not may_collaborate(KEY_OF_S1, "p1")
    assert not may_collaborate(ANONYMOUS, "p1")


# -- the vault ---------------------------------------------------------------------------

def test_the_server_key_is_private_and_reused(tmp_path) -> None:
    key_file = tmp_path / "secrets" / "server.key"
    sealed = Vault.open(key_file).seal("s3cret")
    assert b"s3cret" not in sealed
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert Vault.open(key_file).unseal(sealed) == "s3cret"


def test_a_secret_sealed_with_another_key_is_a_clear_error(tmp_path) -> None:
    sealed = Vault(Fernet.generate_key()).seal("s3cret")
    with pytest.raises(ShipyardError, match="server key"):
        Vault.open(tmp_path / "server.key").unseal(sealed)


# -- authentication on the API -----------------------------------------------------------

def test_anonymous_requests_reach_only_health_and_documentation(anonymous_client) -> None:
    assert anonymous_client.get("/healthz").status_code == 200
    assert anonymous_client.get("/api/v1/openapi.json").status_code == 200
    refused = anonymous_client.get("/api/v1/services")
    assert refused.status_code == 401
    assert refused.get_json()["error"]["type"] == "Unauthorized"
    assert "Signature Version 4" in refused.get_json()["error"]["message"]
    assert anonymous_client.post("/api/v1/services", json={"name": "x"}).status_code == 401


@pytest.mark.parametrize("path", ["/services/{}/docs", "/api/v1/services/{}/openapi.json"])
def test_without_credentials_a_missing_service_looks_like_a_private_one(
    anonymous_client, client, path: str
) -> None:
    assert client.post("/api/v1/services", json={"name": "private"}).status_code == 201
    private = anonymous_client.get(path.format("private"))
    missing = anonymous_client.get(path.format("no-such-service"))
    assert (private.status_code, missing.status_code) == (401, 401)
    assert private.get_json() == missing.get_json()
    assert client.get(path.format("no-such-service")).status_code == 404


def test_a_bad_signature_and_an_unknown_key_get_the_same_403(app, admin_credentials) -> None:
    wrong_secret = signed_as(app, {"access_key_id": admin_credentials.access_key_id,
                                   "secret_access_key": "not-the-secret"})
    unknown_key = signed_as(app, {"access_key_id": "SYAAAAAAAAAAAAAAAAAA",
                                  "secret_access_key": "whatever"})
    answers = [c.get("/api/v1/services") for c in (wrong_secret, unknown_key)]
    assert [a.status_code for a in answers] == [403, 403]
    assert answers[0].get_json() == answers[1].get_json()
    assert answers[0].get_json()["error"]["type"] == "SignatureRejected"


def test_the_seeds_snippet_signs_with_an_empty_region_and_s3(app, admin_credentials) -> None:
    """``AWS4Auth(key, secret, "", "s3")``, as the Allonia integration example signs."""
    keys = {"access_key_id": admin_credentials.access_key_id,
            "secret_access_key": admin_credentials.secret_access_key}
    for region, service in (("", "s3"), ("eu-west-3", "execute-api")):
        me = signed_as(app, {**keys, "region": region, "service": service}).get("/iam/whoami")
        assert me.status_code == 200, me.get_json()
        assert me.get_json()["name"] == "admin"
    refused = signed_as(app, {**keys, "region": "", "service": "lambda"}).get("/iam/whoami")
    assert refused.status_code == 403
    assert refused.get_json()["error"] == {"type": "SignatureRejected", "message": (
        "The credential scope names the service 'lambda', which this endpoint does not "
        "accept: sign for one of 'execute-api', 's3'.")}


def test_the_accepted_services_are_a_setting(tmp_path: Path, database_url: str) -> None:
    settings = Settings(home=tmp_path / "home", port=0, signing_services=("lambda",),
                        database_url=database_url)
    app = create_app(settings)
    app.test_client_class = SigningClient
    try:
        path = app.extensions["shipyard"].access.ensure_administrator(settings)
        admin = Credentials.read(path)
        for service, status in (("lambda", 200), ("execute-api", 200), ("s3", 403)):
            signed = signed_as(app, {**dataclasses.asdict(admin), "service": service})
            assert signed.get("/iam/whoami").status_code == status, service
    finally:
        app.extensions["shipyard"].close()


def test_whoami_names_the_signer(client, admin_credentials) -> None:
    me = client.get("/iam/whoami").get_json()
    assert me["kind"] == "user" and me["name"] == "admin" and me["is_admin"] is True


# -- tokens ------------------------------------------------------------------------------

def test_a_token_secret_is_shown_once_and_works_until_revoked(app, alice) -> None:
    created = alice.post("/iam/tokens", json={"description": "laptop"})
    assert created.status_code == 201
    token = created.get_json()
    assert token["region"] == "us-east-1" and token["service"] == "execute-api"
    listed = alice.get("/iam/tokens").get_json()["tokens"]
    assert token["access_key_id"] in [t["access_key_id"] for t in listed]
    assert token["secret_access_key"] not in str(listed)
    laptop = signed_as(app, token)
    assert laptop.get("/iam/whoami").get_json()["name"] == "alice"
    assert alice.delete(f"/iam/tokens/{token['access_key_id']}").status_code == 200
    assert laptop.get("/iam/whoami").status_code == 403


def test_tokens_of_others_cannot_be_revoked_or_listed(alice, bob) -> None:
    token = alice.post("/iam/tokens", json={}).get_json()
    assert bob.delete(f"/iam/tokens/{token['access_key_id']}").status_code == 404
    assert token["access_key_id"] not in str(bob.get("/iam/tokens").get_json())
    assert bob.get("/iam/tokens?all=true").status_code == 403


def test_token_expiry_is_checked(app, alice) -> None:
    assert alice.post("/iam/tokens", json={"expires_in": 5}).status_code == 400
    assert alice.post("/iam/tokens", json={"expires_in": "soon"}).status_code == 400
    assert alice.post("/iam/tokens", json={"colour": "red"}).status_code == 400
    token = alice.post("/iam/tokens", json={"expires_in": 3600}).get_json()
    assert token["expires_at"] is not None
    plane = app.extensions["shipyard"]
    with plane.store.writing() as session:
        row = session.get(AccessKeyRow, token["access_key_id"])
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    plane.access.authenticator.forget()
    refused = signed_as(app, token).get("/iam/whoami")
    assert refused.status_code == 403
    assert refused.get_json()["error"]["message"] == (
        "The access key has expired; create another (`shipyard tokens create`)."
    )
    # Only a caller who holds the secret learns that the key expired.
    wrong = signed_as(app, {**token, "secret_access_key": "not-the-secret"})
    assert wrong.get("/iam/whoami").get_json()["error"]["message"] == (
        "The request signature does not match."
    )


def test_secrets_are_stored_sealed(app, alice) -> None:
    token = alice.post("/iam/tokens", json={}).get_json()
    with app.extensions["shipyard"].store.reading() as session:
        row = session.get(AccessKeyRow, token["access_key_id"])
        assert token["secret_access_key"].encode() not in row.secret


# -- users and projects ------------------------------------------------------------------

def test_only_administrators_create_users(alice, client) -> None:
    assert alice.post("/iam/users", json={"name": "mallory"}).status_code == 403
    assert client.post("/iam/users", json={"name": "Not A Name"}).status_code == 400
    assert client.post("/iam/users", json={"name": "alice"}).status_code == 409
    assert "alice" in [u["name"] for u in client.get("/iam/users").get_json()["users"]]


def test_a_new_service_goes_into_its_creators_project(alice) -> None:
    created = alice.post("/api/v1/services", json={"name": "svc"})
    assert created.status_code == 201
    project = created.get_json()["project_id"]
    (mine,) = alice.get("/iam/projects").get_json()["projects"]
    assert mine["id"] == project and mine["members"] == ["alice"]


def test_a_service_can_only_go_into_a_project_of_the_creator(alice, bob) -> None:
    bob.post("/iam/projects", json={"name": "bobs-team"})
    refused = alice.post("/api/v1/services", json={"name": "svc", "project": "bobs-team"})
    assert refused.status_code == 403
    assert "bobs-team" in refused.get_json()["error"]["message"]


def test_collaborators_edit_deploy_and_read_logs_others_do_not(alice, bob, client) -> None:
    assert alice.post("/api/v1/services", json={"name": "svc"}).status_code == 201
    for method, path in [
        ("put", "/api/v1/services/svc/files/app.py"),
        ("patch", "/api/v1/services/svc"),
        ("post", "/api/v1/services/svc/enable"),
        ("post", "/api/v1/services/svc/deploy"),
        ("get", "/api/v1/services/svc/builds"),
        ("get", "/api/v1/services/svc/files"),
        ("get", "/api/v1/services/svc/archive"),
        ("post", "/api/v1/services/svc/api-keys"),
        ("delete", "/api/v1/services/svc"),
    ]:
        kwargs = {"json": {}} if method in ("patch", "post") else {}
        answer = getattr(bob, method)(path, **kwargs)
        assert answer.status_code == 403, (method, path, answer.get_json())
        assert "not a collaborator" in answer.get_json()["error"]["message"]
    assert "svc" not in str(bob.get("/api/v1/services").get_json())
    assert bob.get("/api/v1/services/svc").status_code == 403
    assert alice.put("/iam/projects/alice/members/bob").status_code == 200
    assert bob.post("/api/v1/services/svc/enable").status_code == 200
    assert "svc" in str(bob.get("/api/v1/services").get_json())
    # An administrator may do anything.
    assert client.get("/api/v1/services/svc/files").status_code == 200


def test_non_members_cannot_change_a_projects_members(alice, bob) -> None:
    assert bob.put("/iam/projects/alice/members/bob").status_code == 403
    assert alice.delete("/iam/projects/alice/members/nobody").status_code == 404


def test_instance_and_public_services_are_visible_to_every_user(alice, bob) -> None:
    alice.post("/api/v1/services", json={"name": "shared", "access_level": "instance"})
    assert "shared" in str(bob.get("/api/v1/services").get_json())
    assert bob.get("/api/v1/services/shared").status_code == 200
    assert bob.get("/api/v1/services/shared/files").status_code == 403


# -- API keys ----------------------------------------------------------------------------

def test_api_keys_are_shown_once_listed_by_hint_and_revoked(app, alice) -> None:
    alice.post("/api/v1/services", json={"name": "svc"})
    made = alice.post("/api/v1/services/svc/api-keys", json={"name": "crm"})
    assert made.status_code == 201
    key = made.get_json()
    listed = alice.get("/api/v1/services/svc/api-keys").get_json()["api_keys"]
    assert [k["name"] for k in listed] == ["crm"]
    assert key["api_key"] not in str(listed) and listed[0]["hint"].endswith(key["api_key"][-4:])
    access = app.extensions["shipyard"].access
    assert access.api_keys.resolve(key["api_key"]).service_id == key["service_id"]
    assert alice.delete(f"/api/v1/services/svc/api-keys/{key['id']}").status_code == 200
    assert access.api_keys.resolve(key["api_key"]) is None
    assert alice.delete("/api/v1/services/svc/api-keys/key_nope").status_code == 404


def test_an_api_key_does_not_open_the_control_plane(anonymous_client, alice) -> None:
    alice.post("/api/v1/services", json={"name": "svc"})
    key = alice.post("/api/v1/services/svc/api-keys", json={}).get_json()["api_key"]
    answer = anonymous_client.get("/api/v1/services/svc/files", headers={"X-Api-Key": key})
    assert answer.status_code == 403
    assert anonymous_client.get("/api/v1/services", headers={"X-Api-Key": "sy_bogus"}
                                ).status_code == 403
    # It sees its own service only, not the others every user may list.
    alice.post("/api/v1/services", json={"name": "shared", "access_level": "instance"})
    listed = anonymous_client.get("/api/v1/services", headers={"X-Api-Key": key}).get_json()
    assert [service["name"] for service in listed["services"]] == ["svc"]


# -- first start -------------------------------------------------------------------------

def test_the_first_start_writes_private_admin_credentials_once(app, settings: Settings) -> None:
    access = app.extensions["shipyard"].access
    path = access.ensure_administrator(settings)
    first = path.read_text()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert access.ensure_administrator(settings) == path
    assert path.read_text() == first
    assert [u.name for u in access.directory.list_users()] == ["admin"]


def test_the_service_documents_declare_the_security_schemes(client) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert schemes["apiKey"] == {**schemes["apiKey"], "in": "header", "name": "X-Api-Key"}
    assert document["security"] == [{"sigv4": []}, {"apiKey": []}, {"session": []}]
