"""Real SigV4 clients (requests-aws4auth and botocore) against the verifier.

Most requests go over loopback to a tiny HTTP server in a thread that verifies what it
receives, taking the request-target from the raw request line: that is what the gateway
will see, so it proves the raw-path handling (``/a b/ä/x%2Fy`` travels as
``/a%20b/%C3%A4/x%2Fy`` and is signed with that encoded once more). The server's clock
can be moved, so skew and expiry are tested without sleeping. The remaining tests build
the ``SignedRequest`` straight from a prepared request, for the parsing rules and
policies that need no network.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests
from botocore.auth import S3SigV4Auth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from requests_aws4auth import AWS4Auth

from shipyard.iam import (
    SignatureRejected,
    SignedRequest,
    SigningKeyCache,
    Verifier,
    is_sigv4_signed,
    normalize_path,
    read_signature,
    sigv4,
)
from shipyard.iam.canonical import canonical_path, canonical_query
from shipyard_sdk.errors import Forbidden, error_body, error_from_payload

ACCESS_KEY = "AKIDSHIPYARDTEST0001"
SECRET = "shipyard/Test+Secret=Key0123456789abcdef"
OTHER_SECRET = "not/the+right=secret0123456789abcdefghij"
TOKEN = "session-token/with+odd=chars"
REGION = "us-east-1"
SERVICE = "execute-api"
ACCEPTED = (SERVICE, "s3")  # Shipyard's default signing_service and signing_services
PATH = "/a b/ä/x%2Fy"
QUERY = "b=2&a=1&a=0&plus=a+b"
WIRE_TARGET = "/a%20b/%C3%A4/x%2Fy?b=2&a=1&a=0&plus=a+b"
PAYLOAD = {"num1": 2, "num2": 5}


def lookup_secret(access_key_id: str) -> str | None:
    return {ACCESS_KEY: SECRET}.get(access_key_id)


class VerifyingServer(ThreadingHTTPServer):
    """Answers 200 with the verified identity, or 403 with the rejection."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), VerifyingHandler)
        self.verifier = Verifier(lookup_secret, ACCEPTED)
        self.clock_offset = timedelta(0)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class VerifyingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: VerifyingServer

    def _verify(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.requestline.split(" ")[1]
        request = SignedRequest.from_target(
            self.command, target, self.headers.items(), body=body,
            now=datetime.now(UTC) + self.server.clock_offset,
        )
        try:
            identity = self.server.verifier.verify(request)
        except SignatureRejected as rejected:
            status = 403
            answer = {"message": rejected.message, "reason": rejected.reason}
        else:
            status = 200
            answer = {
                "access_key_id": identity.access_key_id,
                "scope": str(identity.scope),
                "presigned": identity.presigned,
                "session_token": identity.session_token,
            }
        answer["target"] = target
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _verify

    def log_message(self, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def running_server() -> Iterator[VerifyingServer]:
    server = VerifyingServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def server(running_server: VerifyingServer) -> Iterator[VerifyingServer]:
    running_server.clock_offset = timedelta(0)
    yield running_server
    running_server.clock_offset = timedelta(0)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def prepare(
    base_url: str, method: str, body: str, *, query: str = QUERY, path: str = PATH
) -> requests.PreparedRequest:
    """What requests would send, before signing (the URL comes out percent-encoded)."""
    data: dict = {"json": PAYLOAD} if body == "json" else {"data": b""}
    return requests.Request(method, f"{base_url}{path}?{query}", **data).prepare()


def sign_aws4auth(
    prepared: requests.PreparedRequest, *, secret: str = SECRET, token: str | None = None,
    region: str = REGION, service: str = SERVICE,
) -> requests.PreparedRequest:
    auth = AWS4Auth(ACCESS_KEY, secret, region, service, session_token=token)
    return auth(prepared)


def sign_botocore(
    prepared: requests.PreparedRequest, *, secret: str = SECRET, token: str | None = None,
    region: str = REGION, service: str = SERVICE,
) -> requests.PreparedRequest:
    """botocore's signer for the service (S3SigV4Auth for s3, as boto3 picks, else
    SigV4Auth) over the prepared request; its signing headers copied back."""
    signed = AWSRequest(
        method=prepared.method, url=prepared.url, data=prepared.body or b"",
        headers=dict(prepared.headers),
    )
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(Credentials(ACCESS_KEY, secret, token), service, region).add_auth(signed)
    for name in ("Authorization", "X-Amz-Date", "Date", "X-Amz-Security-Token",
                 "X-Amz-Content-SHA256"):
        if name in signed.headers:
            prepared.headers[name] = signed.headers[name]
    return prepared


SIGNERS: dict[str, Callable[..., requests.PreparedRequest]] = {
    "aws4auth": sign_aws4auth,
    "botocore": sign_botocore,
}


def presign(
    url: str, *, expires: int, method: str = "GET", region: str = REGION, service: str = SERVICE
) -> str:
    request = AWSRequest(method=method, url=url)
    SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET), service, region, expires=expires).add_auth(
        request
    )
    return request.prepare().url


def received(prepared: requests.PreparedRequest, *, now: datetime | None = None) -> SignedRequest:
    """The SignedRequest a server would build from this prepared request, without a server."""
    host = urlsplit(prepared.url).netloc
    headers = [("Host", host), *prepared.headers.items()]
    body = prepared.body or b""
    return SignedRequest.from_target(
        prepared.method or "GET", prepared.path_url, headers,
        body=body.encode() if isinstance(body, str) else body,
        now=now or datetime.now(UTC),
    )


def signed_at(prepared: requests.PreparedRequest) -> datetime:
    return datetime.strptime(prepared.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def verifier() -> Verifier:
    return Verifier(lookup_secret, ACCEPTED)


def rejection(request: SignedRequest, checker: Verifier | None = None) -> SignatureRejected:
    """The rejection ``request`` meets; its log reason never holds the secret."""
    with pytest.raises(SignatureRejected) as rejected:
        (checker or verifier()).verify(request)
    assert SECRET not in rejected.value.reason
    return rejected.value


# -- over loopback ------------------------------------------------------------------------


@pytest.mark.parametrize("signer", SIGNERS)
@pytest.mark.parametrize(
    ("method", "body"), [("GET", "empty"), ("POST", "json"), ("POST", "empty"), ("PUT", "json")]
)
def test_signed_requests_are_accepted(
    server: VerifyingServer, session: requests.Session, signer: str, method: str, body: str
) -> None:
    prepared = SIGNERS[signer](prepare(server.base_url, method, body))
    answer = session.send(prepared)
    assert answer.status_code == 200, answer.json()
    assert answer.json() == {
        "access_key_id": ACCESS_KEY,
        "scope": f"{signed_at(prepared):%Y%m%d}/{REGION}/{SERVICE}/aws4_request",
        "presigned": False,
        "session_token": None,
        "target": WIRE_TARGET,
    }


@pytest.mark.parametrize("signer", SIGNERS)
def test_session_token_is_passed_through(
    server: VerifyingServer, session: requests.Session, signer: str
) -> None:
    prepared = SIGNERS[signer](prepare(server.base_url, "POST", "json"), token=TOKEN)
    answer = session.send(prepared)
    assert answer.status_code == 200, answer.json()
    assert answer.json()["session_token"] == TOKEN


def _tamper_body(prepared: requests.PreparedRequest) -> None:
    assert isinstance(prepared.body, bytes)
    prepared.body = prepared.body.replace(b"5", b"6")  # same length


def _tamper_date(prepared: requests.PreparedRequest) -> None:
    later = signed_at(prepared) + timedelta(seconds=1)
    prepared.headers["X-Amz-Date"] = f"{later:%Y%m%dT%H%M%SZ}"


def _tamper_host(prepared: requests.PreparedRequest) -> None:
    prepared.headers["Host"] = urlsplit(prepared.url).netloc.replace("127.0.0.1", "localhost")


TAMPERING: dict[str, Callable[[requests.PreparedRequest], None]] = {
    "body": _tamper_body,
    "path": lambda prepared: setattr(prepared, "url", prepared.url.replace("x%2Fy", "x/y")),
    "query": lambda prepared: setattr(prepared, "url", prepared.url.replace("a=0", "a=9")),
    "plus": lambda prepared: setattr(prepared, "url", prepared.url.replace("a+b", "a%2Bb")),
    "header": lambda prepared: prepared.headers.__setitem__("Content-Type", "text/plain"),
    "host": _tamper_host,
    "date": _tamper_date,
}


@pytest.mark.parametrize("signer", SIGNERS)
@pytest.mark.parametrize("tampering", [*TAMPERING, "secret"])
def test_altered_requests_are_rejected(
    server: VerifyingServer, session: requests.Session, signer: str, tampering: str
) -> None:
    prepared = prepare(server.base_url, "POST", "json")
    if tampering == "secret":
        prepared = SIGNERS[signer](prepared, secret=OTHER_SECRET)
    else:
        prepared = SIGNERS[signer](prepared)
        TAMPERING[tampering](prepared)
    answer = session.send(prepared)
    assert answer.status_code == 403
    # requests-aws4auth declares the body hash, so a changed body fails that check first.
    declared = "x-amz-content-sha256" in prepared.headers
    expected = SignatureRejected.PAYLOAD if tampering == "body" and declared else (
        SignatureRejected.MISMATCH
    )
    assert answer.json()["message"] == expected, answer.json()["reason"]


@pytest.mark.parametrize("signer", SIGNERS)
@pytest.mark.parametrize(
    ("offset", "status"),
    [
        (timedelta(minutes=4), 200),
        (timedelta(minutes=-4), 200),
        (timedelta(minutes=6), 403),
        (timedelta(minutes=-6), 403),
    ],
)
def test_clock_skew_beyond_five_minutes_is_rejected(
    server: VerifyingServer, session: requests.Session, signer: str, offset: timedelta,
    status: int,
) -> None:
    server.clock_offset = offset
    answer = session.send(SIGNERS[signer](prepare(server.base_url, "GET", "empty")))
    assert answer.status_code == status
    if status == 403:
        assert answer.json()["message"] == SignatureRejected.SKEWED


def test_presigned_url_is_accepted_until_it_expires(
    server: VerifyingServer, session: requests.Session
) -> None:
    url = presign(prepare(server.base_url, "GET", "empty", query="b=2&plus=a+b").url, expires=60)
    fresh = session.get(url)
    assert fresh.status_code == 200, fresh.json()
    assert fresh.json()["presigned"] is True
    server.clock_offset = timedelta(seconds=59)
    assert session.get(url).status_code == 200
    server.clock_offset = timedelta(seconds=61)
    expired = session.get(url)
    assert expired.status_code == 403
    assert expired.json()["message"] == SignatureRejected.EXPIRED
    server.clock_offset = timedelta(minutes=-6)
    early = session.get(url)
    assert early.status_code == 403
    assert early.json()["message"] == SignatureRejected.SKEWED


def test_presigned_url_altered_is_rejected(
    server: VerifyingServer, session: requests.Session
) -> None:
    url = presign(prepare(server.base_url, "GET", "empty", query="b=2").url, expires=60)
    for altered in (url.replace("b=2", "b=3"), url.replace("x%2Fy", "x/y"),
                    url.replace("X-Amz-Expires=60", "X-Amz-Expires=61")):
        answer = session.get(altered)
        assert answer.status_code == 403
        assert answer.json()["message"] == SignatureRejected.MISMATCH


def test_longest_presigned_expiry_is_accepted_and_longer_refused(
    server: VerifyingServer, session: requests.Session
) -> None:
    url = presign(f"{server.base_url}/x", expires=604800)
    assert session.get(url).status_code == 200
    for expires in ("604801", "0", "-1", "1e3"):
        answer = session.get(url.replace("X-Amz-Expires=604800", f"X-Amz-Expires={expires}"))
        assert answer.status_code == 403
        assert answer.json()["message"] == SignatureRejected.MALFORMED


def test_date_header_instead_of_x_amz_date(
    server: VerifyingServer, session: requests.Session
) -> None:
    """botocore signs with ``Date`` (RFC 1123, ``-0000``) when the request carries one."""
    prepared = prepare(server.base_url, "POST", "json")
    prepared.headers["Date"] = "placeholder"
    prepared = sign_botocore(prepared)
    assert "X-Amz-Date" not in prepared.headers
    answer = session.send(prepared)
    assert answer.status_code == 200, answer.json()


# -- built from prepared requests, no server -----------------------------------------------


# The seed's Allonia snippet signs with AWS4Auth(key, secret, "", "s3"): any region (an
# empty one too) is accepted with a service from the list, and the signature is checked
# with the scope the client put in its credential.
SCOPES = [("", "s3"), ("eu-west-3", "execute-api"), ("", "execute-api"), ("ap-south-1", "s3")]
SERVICE_PATH = "/user-services/invoke/iris/api/v1.0/predict/"
S3_PATH = "/a b/ä/c"


def signed_scope(prepared: requests.PreparedRequest, region: str, service: str) -> str:
    return f"{prepared.headers['X-Amz-Date'][:8]}/{region}/{service}/aws4_request"


@pytest.mark.parametrize("signer", SIGNERS)
@pytest.mark.parametrize(("region", "service"), SCOPES)
def test_any_region_with_an_accepted_service_is_verified_with_its_own_scope(
    server: VerifyingServer, session: requests.Session, signer: str, region: str, service: str
) -> None:
    url = f"{server.base_url}{SERVICE_PATH}?b=2&a=1"
    prepared = SIGNERS[signer](
        requests.Request("POST", url, json=PAYLOAD).prepare(), region=region, service=service
    )
    answer = session.send(prepared)
    assert answer.status_code == 200, answer.json()
    assert answer.json()["scope"] == signed_scope(prepared, region, service)
    prepared.body = json.dumps({**PAYLOAD, "num2": 6}).encode()
    altered = session.send(prepared)
    assert altered.status_code == 403
    assert altered.json()["message"] in (SignatureRejected.MISMATCH, SignatureRejected.PAYLOAD)


@pytest.mark.parametrize(("region", "service"), SCOPES)
def test_presigned_urls_in_any_region_with_an_accepted_service(
    server: VerifyingServer, session: requests.Session, region: str, service: str
) -> None:
    url = presign(f"{server.base_url}{SERVICE_PATH}?b=2", expires=60, region=region,
                  service=service)
    answer = session.get(url)
    assert answer.status_code == 200, answer.json()
    assert answer.json()["presigned"] is True
    assert answer.json()["scope"].endswith(f"/{region}/{service}/aws4_request")
    altered = session.get(url.replace("b=2", "b=3"))
    assert altered.status_code == 403
    assert altered.json()["message"] == SignatureRejected.MISMATCH


@pytest.mark.parametrize("signer", SIGNERS)
@pytest.mark.parametrize("region", ["", REGION])
def test_the_scope_is_signed_claiming_another_one_does_not_match(signer: str, region: str) -> None:
    """Rewriting the credential's region or service (to another accepted one) after
    signing breaks the signature: the key and string to sign come from the claimed scope."""
    request = received(SIGNERS[signer](
        prepare("http://127.0.0.1:8123", "POST", "json", path=S3_PATH), region=region,
        service="s3",
    ))
    verifier().verify(request)
    for claimed in (f"/{region}/execute-api/", "/eu-west-1/s3/"):
        changed = with_authorization(request, lambda v, c=claimed: v.replace(f"/{region}/s3/", c))
        assert rejection(changed).message == SignatureRejected.MISMATCH


@pytest.mark.parametrize("signer", SIGNERS)
@pytest.mark.parametrize("service", ACCEPTED)
def test_s3_signatures_follow_s3s_path_rule(
    server: VerifyingServer, session: requests.Session, signer: str, service: str
) -> None:
    """For s3 the path is signed as sent (encoded once), for other services encoded once
    more; either way the signature covers exactly one path."""
    prepared = SIGNERS[signer](
        prepare(server.base_url, "POST", "json", path=S3_PATH), region="", service=service
    )
    assert prepared.path_url.startswith("/a%20b/%C3%A4/c?")
    answer = session.send(prepared)
    assert answer.status_code == 200, answer.json()
    assert answer.json()["target"] == prepared.path_url
    prepared.url = prepared.url.replace("/c?", "/c/?")
    moved = session.send(prepared)
    assert moved.status_code == 403
    assert moved.json()["message"] == SignatureRejected.MISMATCH


@pytest.mark.parametrize("path", ["/a!b", "/a:b@c", "/it's", "/a(b)*", "/a~b", "/a%21b", "/"])
def test_s3_paths_are_decoded_and_encoded_once_per_segment(path: str) -> None:
    """requests-aws4auth re-encodes the path for s3 (``!`` as ``%21``): so does S3's rule."""
    prepared = prepare("http://127.0.0.1:8123", "GET", "empty", path=path)
    verifier().verify(received(sign_aws4auth(prepared, region="", service="s3")))


def test_s3_path_rule_keeps_an_encoded_slash_apart_from_a_slash() -> None:
    """requests-aws4auth signs x%2Fy as x/y for s3: another path here, so refused."""
    request = received(sign_aws4auth(prepare("http://127.0.0.1:8123", "GET", "empty"),
                                     region="", service="s3"))
    assert request.path.endswith("/x%2Fy")
    assert rejection(request).message == SignatureRejected.MISMATCH


@pytest.mark.parametrize("form", ["aws4auth", "botocore", "presigned"])
def test_a_service_not_accepted_is_refused_naming_the_accepted_ones(
    server: VerifyingServer, session: requests.Session, form: str
) -> None:
    url = f"{server.base_url}{SERVICE_PATH}"
    if form == "presigned":
        answer = session.get(presign(url, expires=60, region="", service="lambda"))
    else:
        prepared = requests.Request("POST", url, json=PAYLOAD).prepare()
        answer = session.send(SIGNERS[form](prepared, region="", service="lambda"))
    assert answer.status_code == 403
    message = answer.json()["message"]
    assert message == (
        "The credential scope names the service 'lambda', which this endpoint does not "
        "accept: sign for one of 'execute-api', 's3'."
    )
    assert "'lambda'" in answer.json()["reason"]


def botocore_request() -> requests.PreparedRequest:
    """A JSON POST to the test URL, signed by botocore just now."""
    return sign_botocore(prepare("http://127.0.0.1:8123", "POST", "json"))


def with_authorization(request: SignedRequest, change: Callable[[str], str]) -> SignedRequest:
    headers = [
        (name, change(value) if name.lower() == "authorization" else value)
        for name, value in request.headers
    ]
    return dataclasses.replace(request, headers=headers)


@pytest.mark.parametrize(
    "reformat",
    [
        pytest.param(lambda value: value.replace(", ", ","), id="no-space-after-commas"),
        pytest.param(lambda value: value.replace(", ", ",    "), id="spaces-after-commas"),
        pytest.param(
            lambda value: "AWS4-HMAC-SHA256 " + ", ".join(
                reversed(value.removeprefix("AWS4-HMAC-SHA256 ").split(", "))
            ),
            id="fields-in-another-order",
        ),
    ],
)
def test_authorization_header_layout_tolerance(reformat: Callable[[str], str]) -> None:
    verifier().verify(with_authorization(received(botocore_request()), reformat))


@pytest.mark.parametrize(
    "reformat",
    [
        pytest.param(lambda v: v.replace("SHA256 ", "SHA256  "), id="two-spaces"),
        pytest.param(lambda v: v.replace(", ", " , "), id="space-before-comma"),
        pytest.param(lambda v: v.replace("Credential=", "credential="), id="lowercase-field"),
        pytest.param(lambda v: v + ", Signature=" + "0" * 64, id="repeated-field"),
        pytest.param(lambda v: v + ", Extra=1", id="unknown-field"),
        pytest.param(lambda v: v + ",", id="trailing-comma"),
        pytest.param(lambda v: v[: v.index(", Signature=")], id="missing-signature"),
        pytest.param(lambda v: v[:-64] + v[-64:].upper(), id="uppercase-signature"),
        pytest.param(lambda v: v.replace("host;", ""), id="host-not-signed"),
        pytest.param(
            lambda v: v.replace("content-length;content-type", "content-type;content-length"),
            id="unsorted-signed-headers",
        ),
        pytest.param(lambda v: v.replace(";x-amz-date", ""), id="x-amz-date-not-signed"),
        pytest.param(lambda v: v.replace("aws4_request", "aws4_requests"), id="bad-terminator"),
        pytest.param(lambda v: v.replace("/execute-api/", "//"), id="empty-service"),
        pytest.param(lambda v: v.replace(f"/{REGION}/", "/ /"), id="blank-region"),
        pytest.param(lambda v: v.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"),
                     id="sigv4a"),
    ],
)
def test_authorization_header_is_otherwise_strict(reformat: Callable[[str], str]) -> None:
    rejected = rejection(with_authorization(received(botocore_request()), reformat))
    assert rejected.message == SignatureRejected.MALFORMED


def test_dropping_a_signed_header_is_well_formed_but_does_not_match() -> None:
    request = received(botocore_request())
    dropped = with_authorization(request, lambda value: value.replace("content-length;", ""))
    assert rejection(dropped).message == SignatureRejected.MISMATCH


def test_requests_without_sigv4_are_told_so() -> None:
    plain = received(prepare("http://127.0.0.1:8123", "GET", "empty"))
    assert not is_sigv4_signed(plain)
    assert rejection(plain).message == SignatureRejected.MISSING
    bearer = dataclasses.replace(plain, headers=[*plain.headers, ("Authorization", "Bearer x")])
    assert not is_sigv4_signed(bearer)
    assert rejection(bearer).message == SignatureRejected.MISSING
    assert is_sigv4_signed(received(botocore_request()))


def test_two_authorization_headers_or_both_forms_are_refused() -> None:
    signed = received(botocore_request())
    authorization = signed.header_values("Authorization")[0]
    doubled = dataclasses.replace(
        signed, headers=[*signed.headers, ("authorization", authorization)]
    )
    assert rejection(doubled).message == SignatureRejected.MALFORMED
    presigned = urlsplit(presign("http://127.0.0.1:8123/x", expires=60)).query
    both = dataclasses.replace(signed, query=presigned)
    assert rejection(both).message == SignatureRejected.MALFORMED


def test_unknown_key_and_bad_signature_look_the_same_to_the_client() -> None:
    request = received(botocore_request())
    unknown = rejection(request, Verifier(lambda _key: None, [SERVICE]))
    wrong = rejection(request, Verifier(lambda _key: OTHER_SECRET, [SERVICE]))
    assert unknown.message == wrong.message == SignatureRejected.MISMATCH
    assert str(unknown) == str(wrong)
    assert "unknown access key id" in unknown.reason
    assert "signature mismatch" in wrong.reason
    assert OTHER_SECRET not in wrong.reason


def test_unsigned_payload_is_refused() -> None:
    prepared = prepare("http://127.0.0.1:8123", "POST", "json")
    prepared.headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    rejected = rejection(received(sign_botocore(prepared)))
    assert rejected.message == SignatureRejected.PAYLOAD
    assert "UNSIGNED-PAYLOAD" in rejected.reason


def test_declared_body_hash_must_match_even_when_streamed() -> None:
    prepared = sign_aws4auth(prepare("http://127.0.0.1:8123", "POST", "json"))
    request = received(prepared)
    declared = prepared.headers["x-amz-content-sha256"]
    verifier().verify(dataclasses.replace(request, body=b"", body_sha256=declared))
    streamed_other = dataclasses.replace(request, body=b"", body_sha256="0" * 64)
    assert rejection(streamed_other).message == SignatureRejected.PAYLOAD


def test_scope_must_name_an_accepted_service_and_the_request_day() -> None:
    request = received(botocore_request())
    refused = rejection(request, Verifier(lookup_secret, ["other-service", "s3"]))
    assert refused.message == SignatureRejected.SERVICE.format(
        service=SERVICE, accepted="'other-service', 's3'"
    )
    assert "'execute-api'" in refused.reason
    next_day = signed_at(botocore_request()) + timedelta(days=1)
    moved = dataclasses.replace(request, headers=[
        (name, f"{next_day:%Y%m%dT%H%M%SZ}" if name == "X-Amz-Date" else value)
        for name, value in request.headers
    ], now=next_day)
    assert rejection(moved).message == SignatureRejected.SCOPE


def test_frozen_clock_at_the_skew_boundary() -> None:
    prepared = botocore_request()
    at = signed_at(prepared)
    verifier().verify(received(prepared, now=at + timedelta(minutes=5)))
    late = received(prepared, now=at + timedelta(minutes=5, seconds=1))
    assert rejection(late).message == SignatureRejected.SKEWED
    assert rejection(dataclasses.replace(late, now=at - timedelta(minutes=5, seconds=1))).message \
        == SignatureRejected.SKEWED
    lenient = Verifier(lookup_secret, [SERVICE], clock_skew=timedelta(minutes=10))
    lenient.verify(late)


def test_signing_keys_are_derived_once_per_secret_and_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    derivations: list[str] = []
    real = sigv4.derive_signing_key

    def counting(secret: str, date: str, region: str, service: str) -> bytes:
        derivations.append(date)
        return real(secret, date, region, service)

    monkeypatch.setattr(sigv4, "derive_signing_key", counting)
    secrets = {ACCESS_KEY: SECRET}
    checker = Verifier(secrets.get, [SERVICE])
    request = received(botocore_request())
    for _ in range(3):
        checker.verify(request)
    assert len(derivations) == 1
    secrets[ACCESS_KEY] = OTHER_SECRET  # rotated: the old key must not be reused
    assert rejection(request, checker).message == SignatureRejected.MISMATCH
    assert len(derivations) == 2


def test_signing_key_cache_is_bounded_and_does_not_hold_secrets() -> None:
    cache = SigningKeyCache(max_size=2)
    keys = [cache.signing_key(f"secret-{n}", "20260101", REGION, SERVICE) for n in range(3)]
    assert len(cache) == 2
    assert keys[2] == sigv4.derive_signing_key("secret-2", "20260101", REGION, SERVICE)
    assert cache.signing_key("secret-2", "20260101", REGION, SERVICE) == keys[2]
    stored = repr(cache._entries).encode()
    assert b"secret-" not in stored
    with pytest.raises(ValueError):
        SigningKeyCache(max_size=0)


def test_identity_repr_leaves_out_the_session_token() -> None:
    prepared = sign_botocore(prepare("http://127.0.0.1:8123", "GET", "empty"), token=TOKEN)
    identity = verifier().verify(received(prepared))
    assert identity.session_token == TOKEN
    assert TOKEN not in repr(identity)


def test_signature_info_repr_leaves_out_the_signature_and_the_session_token() -> None:
    signed = received(sign_botocore(prepare("http://127.0.0.1:8123", "GET", "empty"),
                                    token=TOKEN))
    presigned = received(requests.Request("GET", presign("http://127.0.0.1:8123/p", expires=60))
                         .prepare())
    for request, form in ((signed, False), (presigned, True)):
        info = read_signature(request)
        assert info.presigned is form and info.access_key_id in repr(info)
        assert info.signature not in repr(info)
    assert read_signature(signed).session_token == TOKEN
    assert TOKEN not in repr(read_signature(signed))


def test_unsigned_session_token_header_is_refused() -> None:
    request = received(botocore_request())
    added = dataclasses.replace(request, headers=[*request.headers, ("X-Amz-Security-Token", "t")])
    rejected = rejection(added)
    assert rejected.message == SignatureRejected.MALFORMED
    assert "x-amz-security-token" in rejected.reason


def test_rejection_round_trips_through_the_error_answer() -> None:
    rejected = rejection(received(botocore_request()), Verifier(lambda _key: None, [SERVICE]))
    assert rejected.http_status == 403
    assert error_body(rejected) == {
        "error": {"type": "SignatureRejected", "message": SignatureRejected.MISMATCH}
    }
    back = error_from_payload(403, error_body(rejected))
    assert isinstance(back, SignatureRejected)
    assert isinstance(back, Forbidden)
    assert back.message == SignatureRejected.MISMATCH


def test_signed_request_input_is_checked() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SignedRequest(method="GET", path="/", now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="not both"):
        SignedRequest(
            method="GET", path="/", body=b"x", body_sha256="0" * 64, now=datetime.now(UTC)
        )


# -- canonical-form decisions --------------------------------------------------------------


def test_plus_in_the_query_is_a_space() -> None:
    assert canonical_query("plus=a+b") == canonical_query("plus=a%20b") == "plus=a%20b"
    assert canonical_query("plus=a%2Bb") == "plus=a%2Bb"
    # botocore signs a URL's query as sent; the verifier also tries that form.
    assert canonical_query("plus=a+b&a=0", as_sent=True) == "a=0&plus=a+b"


def test_query_sorting_and_empty_values() -> None:
    assert canonical_query("b=2&a=1&a=0&c&d=") == "a=0&a=1&b=2&c=&d="
    assert canonical_query("a-b=1&a=2") == "a=2&a-b=1"  # by key first, not by "key=value"


def test_paths_are_normalized_on_the_raw_form() -> None:
    assert normalize_path("/user-services/invoke/A/../B/x") == "/user-services/invoke/B/x"
    assert normalize_path("//a//b/./c/") == "/a/b/c/"
    assert normalize_path("/a/..") == "/"
    assert normalize_path("/../../a") == "/a"
    assert normalize_path("/a/%2E%2E/b") == "/a/%2E%2E/b"  # encoded dots are not dot segments


def test_s3_canonical_path_is_encoded_once_per_segment_and_not_normalized() -> None:
    assert canonical_path("/a%20b/x%2fy/it's/./../~", s3=True) == "/a%20b/x%2Fy/it%27s/./../~"
    assert canonical_path("/a%20b/x%2fy/it's/./../~") == "/a%2520b/x%252fy/~"
    assert canonical_path("", s3=True) == canonical_path("") == "/"
    # Encoded dots are an ordinary segment (the gateway routes them so): never "..".
    assert canonical_path("/x/%2e%2E/y/%2E", s3=True) == "/x/%2E%2E/y/%2E"
    assert canonical_path("/x/../y/.", s3=True) == "/x/../y/."
