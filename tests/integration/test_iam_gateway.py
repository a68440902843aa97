"""Who gets through the gateway: real SigV4 clients (requests-aws4auth, botocore) and API
keys against a running Shipyard on a non-default port, every access level, altered
requests, path tricks, and no secret left in any log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psutil
import pytest
import requests
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from requests_aws4auth import AWS4Auth

from tests.conftest import RunningShipyard, start_shipyard
from tests.credentials import Credentials
from tests.integration.test_end_to_end import deploy_new, raw_request

pytestmark = pytest.mark.slow

ECHO = """\
from flask import Flask, request

app = Flask(__name__)


@app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "DELETE"])
@app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE"])
def echo(path):
    return {"raw": request.environ.get("RAW_URI"), "body": request.get_data(as_text=True),
            "cookie": request.headers.get("Cookie"), "csrf": request.headers.get("X-CSRF-Token")}
"""


class World:
    def __init__(self, shipyard: RunningShipyard, folder: Path) -> None:
        self.shipyard = shipyard
        deploy_new(shipyard, folder, "echo", ECHO)
        deploy_new(shipyard, folder, "other", ECHO)
        admin = shipyard.sdk()
        self.bob = Credentials.from_dict(admin.iam.create_user("bob"))
        self.carol = Credentials.from_dict(admin.iam.create_user("carol"))
        admin.iam.add_member("admin", "carol")
        self.api_key = admin.iam.create_api_key("echo", "tests")["api_key"]
        token = shipyard.cli("tokens", "create", "--json")
        assert token.returncode == 0, token.stderr
        self.token = json.loads(token.stdout)

    def url(self, service: str, path: str) -> str:
        return f"{self.shipyard.url}/user-services/invoke/{service}/{path}"



@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, module_database_url: str
          ) -> Iterator[World]:
    shipyard = start_shipyard(tmp_path_factory.mktemp("iam") / "home",
                              database_url=module_database_url)
    try:
        yield World(shipyard, tmp_path_factory.mktemp("services"))
    finally:
        shipyard.stop()


def test_the_gateway_runs_on_a_non_default_port(world: World) -> None:
    assert not world.shipyard.url.endswith((":80", ":443", ":8080"))


AWKWARD = [
    ("GET", "a%20b/%C3%A4/x%2Fy", None),
    ("GET", "q?b=2&a=1&a=0&plus=a+b&empty=", None),
    ("POST", "json", {"num1": 2, "num2": 5}),
    ("DELETE", "empty", None),
]


@pytest.mark.parametrize(("method", "path", "payload"), AWKWARD)
def test_requests_aws4auth_calls_are_accepted(world: World, method, path, payload) -> None:
    token = Credentials.from_dict(world.token)
    answer = requests.request(method, world.url("echo", path), json=payload,
                              auth=token.aws4auth(), timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Shipyard-Generation"] == "v1"
    assert answer.json()["raw"] == "/" + path
    assert answer.json()["body"] == ("" if payload is None else json.dumps(payload))


def _botocore_signed(world: World, method: str, url: str, body: bytes) -> requests.Response:
    token = world.token
    request = AWSRequest(method=method, url=url, data=body,
                         headers={"Content-Type": "application/json"} if body else {})
    SigV4Auth(BotoCredentials(token["access_key_id"], token["secret_access_key"]),
              "execute-api", "us-east-1").add_auth(request)
    prepared = request.prepare()
    return requests.request(method, prepared.url, headers=dict(prepared.headers),
                            data=prepared.body, timeout=10)


@pytest.mark.parametrize(("method", "path", "payload"), AWKWARD)
def test_botocore_signed_calls_are_accepted(world: World, method, path, payload) -> None:
    body = json.dumps(payload).encode() if payload is not None else b""
    answer = _botocore_signed(world, method, world.url("echo", path), body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["body"] == body.decode()


def test_a_presigned_url_is_accepted_until_it_expires(world: World) -> None:
    token = world.token
    request = AWSRequest(method="GET", url=world.url("echo", "presigned?x=1"))
    SigV4QueryAuth(BotoCredentials(token["access_key_id"], token["secret_access_key"]),
                   "execute-api", "us-east-1", expires=60).add_auth(request)
    answer = requests.get(request.prepare().url, timeout=10)
    assert answer.status_code == 200, answer.text
    tampered = request.prepare().url.replace("x=1", "x=2")
    assert requests.get(tampered, timeout=10).status_code == 403
    # The query log keeps the call, not a URL that could still be called with.
    signature = parse_qs(urlsplit(request.prepare().url).query)["X-Amz-Signature"][0]
    with world.shipyard.sdk() as admin:
        deadline = time.monotonic() + 30
        while True:
            paths = [json.loads(line)["path"] for line in admin.services.queries("echo")]
            logged = [path for path in paths if "presigned?" in path]
            if len(logged) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    assert logged and all("X-Amz-Signature=REDACTED" in path for path in logged), paths
    assert not any(signature in path for path in paths)


def test_the_seeds_snippet_calls_a_service_and_the_api(world: World) -> None:
    """The Allonia example's ``AWS4Auth(key, secret, '', 's3')`` through the gateway, to a
    service (with a body, and on an encoded path: S3's path rule) and to the API."""
    token = world.token
    seed = AWS4Auth(token["access_key_id"], token["secret_access_key"], "", "s3")
    for path, payload in (("predict", {"num1": 2, "num2": 5}), ("a%20b/%C3%A4/c?x=1", None)):
        answer = requests.post(world.url("echo", path), json=payload, auth=seed, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["raw"] == "/" + path
        assert answer.json()["body"] == ("" if payload is None else json.dumps(payload))
    listed = requests.get(f"{world.shipyard.url}/api/v1/services", auth=seed, timeout=10)
    assert listed.status_code == 200, listed.text
    assert "echo" in {service["name"] for service in listed.json()["services"]}
    request = AWSRequest(method="GET", url=world.url("echo", "presigned?x=1"))
    SigV4QueryAuth(BotoCredentials(token["access_key_id"], token["secret_access_key"]),
                   "s3", "", expires=60).add_auth(request)
    assert requests.get(request.prepare().url, timeout=10).status_code == 200


def test_a_service_not_accepted_is_refused_with_the_accepted_ones(world: World) -> None:
    token = world.token
    wrong = AWS4Auth(token["access_key_id"], token["secret_access_key"], "", "lambda")
    for url in (world.url("echo", "x"), f"{world.shipyard.url}/api/v1/services"):
        answer = requests.get(url, auth=wrong, timeout=10)
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["message"] == (
            "The credential scope names the service 'lambda', which this endpoint does not "
            "accept: sign for one of 'execute-api', 's3'."
        )


def _aws4auth_prepared(world: World, secret: str | None = None) -> requests.PreparedRequest:
    token = Credentials.from_dict(world.token)
    if secret is not None:
        token = Credentials(token.access_key_id, secret)
    return requests.Request("POST", world.url("echo", "x"), json={"a": 1},
                            auth=token.aws4auth()).prepare()


def _altered(prepared: requests.PreparedRequest, change: str) -> requests.PreparedRequest:
    if change == "body":
        prepared.body = b'{"a": 2}'
    elif change == "path":
        prepared.url = prepared.url.replace("/x", "/y")
    elif change == "date":
        stamp = prepared.headers["x-amz-date"]
        prepared.headers["x-amz-date"] = stamp[:-2] + ("00" if stamp[-2:] != "00" else "01")
    elif change == "unsigned body hash":
        del prepared.headers["x-amz-content-sha256"]
        prepared.body = b'{"a": 3}'
    return prepared


@pytest.mark.parametrize("change", ["secret", "body", "path", "date", "unsigned body hash"])
def test_altered_requests_are_refused(world: World, change: str) -> None:
    with requests.Session() as session:
        assert session.send(_aws4auth_prepared(world), timeout=10).status_code == 200
        prepared = (_aws4auth_prepared(world, secret="x" * 40) if change == "secret"
                    else _altered(_aws4auth_prepared(world), change))
        answer = session.send(prepared, timeout=10)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["type"] == "SignatureRejected"


EXPECTED = {
    #           anonymous, other user, collaborator, admin, API key
    "public": (200, 200, 200, 200, 200),
    "instance": (401, 200, 200, 200, 200),
    "project": (401, 403, 200, 200, 200),
}


@pytest.mark.parametrize("level", list(EXPECTED))
def test_the_access_matrix(world: World, level: str) -> None:
    world.shipyard.set_access_level("echo", level)
    url = world.url("echo", "hello")
    got = (
        requests.get(url, timeout=10).status_code,
        requests.get(url, auth=world.bob.aws4auth(), timeout=10).status_code,
        requests.get(url, auth=world.carol.aws4auth(), timeout=10).status_code,
        world.shipyard.http.get(url, timeout=10).status_code,
        requests.get(url, headers={"X-Api-Key": world.api_key}, timeout=10).status_code,
    )
    world.shipyard.set_access_level("echo", "project")
    assert got == EXPECTED[level]


def _signed_in(world: World, user: str, credentials: Credentials | None) -> requests.Session:
    """A browser-like session signed in to the console as ``user``."""
    password = f"{user}'s console password"
    auth = credentials.aws4auth() if credentials else world.shipyard.http.auth
    set_it = requests.put(f"{world.shipyard.url}/iam/users/{user}/password",
                          json={"password": password}, auth=auth, timeout=10)
    assert set_it.status_code == 204, set_it.text
    browser = requests.Session()
    signed = browser.post(f"{world.shipyard.url}/iam/sessions",
                          json={"user": user, "password": password}, timeout=10)
    assert signed.status_code == 201, signed.text
    return browser


def test_a_browser_session_calls_services_with_its_users_rights(world: World) -> None:
    carol = _signed_in(world, "carol", world.carol)  # a collaborator of echo's project
    bob = _signed_in(world, "bob", world.bob)  # not one
    csrf = {"X-CSRF-Token": carol.cookies["shipyard_csrf"]}
    url = world.url("echo", "hello")
    assert carol.get(url, timeout=10).status_code == 200
    assert bob.get(url, timeout=10).status_code == 403
    # A change needs the session's CSRF token, at the gateway as on the API.
    refused = carol.post(url, json={"num1": 2}, timeout=10)
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]["message"]
    assert carol.post(url, json={"num1": 2}, headers={"X-CSRF-Token": "forged"},
                      timeout=10).status_code == 403
    carol.cookies.set("theirs", "kept")
    answer = carol.post(url, json={"num1": 2}, headers=csrf, timeout=10)
    assert answer.status_code == 200
    # The service's code never sees the console's credentials, only its own cookies.
    assert answer.json()["csrf"] is None
    assert answer.json()["cookie"] == "theirs=kept"
    # What it answers runs sandboxed, as an origin of its own.
    assert answer.headers["Content-Security-Policy"].startswith("sandbox")
    # The API through the same gateway gets the session whole.
    assert carol.get(f"{world.shipyard.url}/iam/whoami", timeout=10).json()["name"] == "carol"
    token = carol.cookies["shipyard_session"]
    signed_out = carol.delete(f"{world.shipyard.url}/iam/session", headers=csrf, timeout=10)
    assert signed_out.status_code == 204
    time.sleep(2.5)  # the gateway's credential cache keeps a session for two seconds
    for cookie in (token, "made-up"):
        stale = requests.get(url, cookies={"shipyard_session": cookie}, timeout=10)
        assert stale.status_code == 401
        assert "session has ended" in stale.json()["error"]["message"]


def test_one_services_permission_never_reaches_another(world: World) -> None:
    host = world.shipyard.url.removeprefix("http://")
    for target in ("/user-services/invoke/echo/../other/x",
                   "/user-services/invoke/echo/%2e%2e/other/x",
                   "/user-services/invoke/echo/..%2Fother/x"):
        answer = raw_request(world.shipyard.url, (
            f"GET {target} HTTP/1.1\r\nHost: {host}\r\nX-Api-Key: {world.api_key}\r\n"
            "Connection: close\r\n\r\n"
        ).encode())
        assert answer.startswith(b"HTTP/1.1 400"), (target, answer[:200])
    refused = requests.get(world.url("other", "x"), headers={"X-Api-Key": world.api_key},
                           timeout=10)
    assert refused.status_code == 403
    assert requests.get(world.url("echo", "x"), headers={"X-Api-Key": "sy_" + "0" * 43},
                        timeout=10).status_code == 403


def test_instances_carry_their_own_credentials_and_no_secret_is_logged(world: World) -> None:
    shipyard = world.shipyard
    for _ in range(3):
        requests.get(world.url("echo", "x"), headers={"X-Api-Key": world.api_key}, timeout=10)
        requests.get(world.url("echo", "x"), auth=Credentials.from_dict(world.token).aws4auth(),
                     timeout=10)
    shipyard.cli("logs", "echo")
    instance_secrets = {
        process.environ()["SHIPYARD_SECRET_ACCESS_KEY"]
        for process in psutil.process_iter()
        if _is_instance_of(process, shipyard.home)
    }
    assert instance_secrets, "no instance carries credentials"
    admin = json.loads((shipyard.home / "credentials" / "admin.json").read_text())
    secrets = {admin["secret_access_key"], world.token["secret_access_key"], world.api_key,
               world.bob.secret_access_key, world.carol.secret_access_key, *instance_secrets}
    leaks = []
    for path in [*shipyard.home.rglob("*"), shipyard.output]:
        if path.is_file() and path != shipyard.home / "credentials" / "admin.json":
            content = path.read_bytes()
            leaks += [(str(path), s[:4]) for s in secrets if s.encode() in content]
    assert leaks == []


def _is_instance_of(process: psutil.Process, home: Path) -> bool:
    try:
        environ = process.environ()
    except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    return "SHIPYARD_SECRET_ACCESS_KEY" in environ and str(home) in " ".join(process.cmdline())


def test_up_says_where_the_admin_credentials_are(world: World) -> None:
    expected = world.shipyard.home / "credentials" / "admin.json"
    assert f"Administrator credentials: {expected}" in world.shipyard.output.read_text()


def test_tokens_listed_and_revoked_with_the_cli_stop_working(world: World) -> None:
    shipyard = world.shipyard
    made = shipyard.cli("tokens", "create", "--json", "--description", "short-lived")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)
    assert set(token) >= {"access_key_id", "secret_access_key", "region", "service"}
    auth = Credentials.from_dict(token).aws4auth()
    assert requests.get(world.url("echo", "x"), auth=auth, timeout=10).status_code == 200
    listed = shipyard.cli("tokens", "list")
    assert token["access_key_id"] in listed.stdout and "short-lived" in listed.stdout
    assert token["secret_access_key"] not in listed.stdout
    assert shipyard.cli("tokens", "revoke", token["access_key_id"]).returncode == 0
    deadline = time.monotonic() + 10
    status = 200
    while status == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        status = requests.get(world.url("echo", "x"), auth=auth, timeout=10).status_code
    assert status == 403
    unknown = shipyard.cli("tokens", "revoke", "SYNOSUCHKEY")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("Error: access key 'SYNOSUCHKEY' does not exist")
