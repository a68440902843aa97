"""Signing in from a browser: passwords hashed with argon2, the session and CSRF cookies,
the API accepting a session wherever it accepts a signature (with the same rules), CSRF
on every change, sign-in limits, and signing out ending the session on the server."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from shipyard.iam.browser_sessions import FAILURE_WINDOW, FAILURES_PER_USER
from shipyard.store import BrowserSessionRow, SignInFailureRow, Store, UserRow
from tests.credentials import SigningClient

PASSWORD = "correct horse battery"


@pytest.fixture
def browser(app: Flask, alice: SigningClient, client: SigningClient) -> FlaskClient:
    """A browser signed in as alice (whose password an administrator set)."""
    assert client.put("/iam/users/alice/password", json={"password": PASSWORD}).status_code == 204
    browser = app.test_client()
    answer = browser.post("/iam/sessions", json={"user": "alice", "password": PASSWORD})
    assert answer.status_code == 201, answer.json
    return browser


def _csrf(browser: FlaskClient) -> dict[str, str]:
    cookie = browser.get_cookie("shipyard_csrf")
    assert cookie is not None
    return {"X-CSRF-Token": cookie.value}


def test_the_password_is_stored_as_an_argon2id_hash_and_never_logged(
    app: Flask, alice: SigningClient, client: SigningClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert client.put("/iam/users/alice/password", json={"password": PASSWORD}).status_code == 204
    store = app.extensions["shipyard"].store
    with store.reading() as session:
        stored = session.query(UserRow).filter_by(name="alice").one().password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    app.test_client().post("/iam/sessions", json={"user": "alice", "password": PASSWORD})
    app.test_client().post("/iam/sessions", json={"user": "alice", "password": "wrong one!"})
    assert PASSWORD not in caplog.text and "wrong one!" not in caplog.text


def test_signing_in_sets_http_only_same_site_cookies_with_an_expiry(
    app: Flask, alice: SigningClient, client: SigningClient
) -> None:
    client.put("/iam/users/alice/password", json={"password": PASSWORD})
    answer = app.test_client().post("/iam/sessions", json={"user": "alice",
                                                          "password": PASSWORD})
    assert answer.status_code == 201
    assert answer.json["user"] == "alice" and answer.json["expires_at"]
    cookies = {line.split("=", 1)[0]: line for line in answer.headers.getlist("Set-Cookie")}
    session, csrf = cookies["shipyard_session"], cookies["shipyard_csrf"]
    for line in (session, csrf):
        assert "SameSite=Strict" in line and "Expires=" in line and "Path=/" in line
    assert "HttpOnly" in session and "HttpOnly" not in csrf
    # Only digests are stored.
    token = session.split(";")[0].split("=", 1)[1]
    with app.extensions["shipyard"].store.reading() as db:
        digests = [row.digest for row in db.query(BrowserSessionRow)]
    assert len(digests) == 1 and token not in digests


def test_a_wrong_password_an_unknown_user_and_no_password_answer_alike(
    app: Flask, alice: SigningClient, bob: SigningClient, client: SigningClient
) -> None:
    client.put("/iam/users/alice/password", json={"password": PASSWORD})
    browser = app.test_client()
    answers = [
        browser.post("/iam/sessions", json={"user": "alice", "password": "not her password"}),
        browser.post("/iam/sessions", json={"user": "nobody", "password": PASSWORD}),
        browser.post("/iam/sessions", json={"user": "bob", "password": PASSWORD}),  # none set
    ]
    assert {(a.status_code, a.json["error"]["message"]) for a in answers} == {
        (401, "the user name or the password is wrong")
    }
    assert browser.get_cookie("shipyard_session") is None


def test_the_session_stands_for_its_user_with_the_same_rules(
    browser: FlaskClient, client: SigningClient
) -> None:
    assert browser.get("/iam/whoami").json["name"] == "alice"
    assert browser.get("/iam/session").json["user"] == "alice"
    made = browser.post("/api/v1/services", json={"name": "hers", "kind": "custom"},
                        headers=_csrf(browser))
    assert made.status_code == 201, made.json
    # An administrator's service in another project stays out of her reach.
    client.post("/api/v1/services", json={"name": "admins", "kind": "custom"})
    assert browser.get("/api/v1/services/admins/files").status_code == 403
    assert browser.get("/iam/users").status_code == 403  # administrators only
    names = [s["name"] for s in browser.get("/api/v1/services").json["services"]]
    assert names == ["hers"]


def test_a_change_without_the_csrf_token_is_refused(browser: FlaskClient) -> None:
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        refused = browser.post("/api/v1/services", json={"name": "x", "kind": "custom"},
                               headers=headers)
        assert refused.status_code == 403
        assert "CSRF" in refused.json["error"]["message"]
    assert browser.get("/api/v1/services/x").status_code == 404
    # Reading needs no token.
    assert browser.get("/api/v1/services").status_code == 200


def test_signing_out_ends_the_session_on_the_server(app: Flask, browser: FlaskClient) -> None:
    token = browser.get_cookie("shipyard_session").value
    csrf = _csrf(browser)
    assert browser.delete("/iam/session", headers=csrf).status_code == 204
    assert browser.get_cookie("shipyard_session") is None
    # The old cookie, replayed, no longer works.
    replay = app.test_client()
    replay.set_cookie("shipyard_session", token)
    answer = replay.get("/api/v1/services")
    assert answer.status_code == 401
    assert "session has ended" in answer.json["error"]["message"]
    # Documentation still opens for an ended session: it is anonymous there.
    assert replay.get("/docs").status_code == 200


def test_failed_sign_ins_are_limited_per_user_and_address(
    app: Flask, alice: SigningClient, client: SigningClient
) -> None:
    client.put("/iam/users/alice/password", json={"password": PASSWORD})
    browser = app.test_client()
    for _ in range(FAILURES_PER_USER):
        wrong = browser.post("/iam/sessions", json={"user": "alice", "password": "guess 12345"})
        assert wrong.status_code == 401
    # Even the right password waits now, from this address.
    limited = browser.post("/iam/sessions", json={"user": "alice", "password": PASSWORD})
    assert limited.status_code == 429
    assert limited.json["error"]["type"] == "TooManyRequests"
    # From another address (through the gateway, which adds it), alice still signs in.
    other = app.test_client().post(
        "/iam/sessions", json={"user": "alice", "password": PASSWORD},
        headers={"X-Forwarded-For": "192.0.2.7"},
    )
    assert other.status_code == 201


def test_failures_past_the_window_are_dropped_at_the_next_failure(
    app: Flask, alice: SigningClient, client: SigningClient
) -> None:
    client.put("/iam/users/alice/password", json={"password": PASSWORD})
    store: Store = app.extensions["shipyard"].store
    long_ago = datetime.now(UTC) - FAILURE_WINDOW - timedelta(minutes=1)
    with store.writing() as session:
        session.add_all([SignInFailureRow(user_name="alice", address="127.0.0.1", at=long_ago)
                         for _ in range(FAILURES_PER_USER)])
    browser = app.test_client()
    # The old failures no longer count, and the next one drops them.
    wrong = browser.post("/iam/sessions", json={"user": "alice", "password": "guess 12345"})
    assert wrong.status_code == 401
    with store.reading() as session:
        assert session.scalar(select(func.count()).select_from(SignInFailureRow)) == 1
    # The recent one still counts toward the limit.
    for _ in range(FAILURES_PER_USER - 1):
        browser.post("/iam/sessions", json={"user": "alice", "password": "guess 12345"})
    limited = browser.post("/iam/sessions", json={"user": "alice", "password": PASSWORD})
    assert limited.status_code == 429


def test_passwords_are_set_by_administrators_or_their_owner(
    app: Flask, alice: SigningClient, bob: SigningClient
) -> None:
    assert bob.put("/iam/users/alice/password", json={"password": PASSWORD}).status_code == 403
    assert alice.put("/iam/users/alice/password", json={"password": "short"}).status_code == 400
    assert alice.put("/iam/users/alice/password", json={"password": PASSWORD}).status_code == 204
    # Once she has one, changing it needs it.
    again = alice.put("/iam/users/alice/password", json={"password": "another one 123"})
    assert again.status_code == 403
    changed = alice.put("/iam/users/alice/password", json={
        "password": "another one 123", "current_password": PASSWORD,
    })
    assert changed.status_code == 204
    browser = app.test_client()
    assert browser.post("/iam/sessions", json={"user": "alice", "password": "another one 123"}
                        ).status_code == 201


def test_an_api_key_cannot_set_a_password(app: Flask, client: SigningClient) -> None:
    client.post("/api/v1/services", json={"name": "svc", "kind": "custom"})
    key = client.post("/api/v1/services/svc/api-keys", json={"name": "k"}).json["api_key"]
    answer = app.test_client().put("/iam/users/admin/password", json={"password": PASSWORD},
                                   headers={"X-Api-Key": key})
    assert answer.status_code == 403


def test_the_console_is_one_shell_with_a_strict_policy_and_only_its_own_files(
    anonymous_client: FlaskClient,
) -> None:
    for url in ("/", "/console/services", "/console/services/add-numbers/code"):
        page = anonymous_client.get(url)
        assert page.status_code == 200 and page.mimetype == "text/html"
        policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
        assert "<script>" not in page.get_data(as_text=True)  # no inline script
    entry = anonymous_client.get("/console/assets/js/main.js")
    entry.close()  # a file's answer holds the file open until closed
    assert entry.status_code == 200 and entry.mimetype == "text/javascript"
    for outside in ("/console/assets/../__init__.py", "/console/assets/%2e%2e/__init__.py",
                    "/console/assets/vendor/VENDORED.md", "/console/assets/missing.js"):
        assert anonymous_client.get(outside).status_code == 404, outside
    # Who is signed in, asked without a session: nobody, and no error for the console.
    assert anonymous_client.get("/iam/session").json == {
        "user": None, "is_admin": False, "expires_at": None,
    }
