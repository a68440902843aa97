"""The AWS Signature Version 4 test suite (awslabs/aws-c-auth, 38 cases) against the verifier.

The suite lives in the shared test data beside the repository, not in it; without it
(a user's own clone) this module is skipped. For every case and both forms (Authorization
header and presigned query), with the clock frozen at the case's timestamp:

- the signed request verifies;
- the canonical request, string to sign and signature match the case's files byte for byte;
- each mutation the suite's README lists is rejected, and so is an unknown access key;
- the clock moved past the allowed skew or past the presigned expiry is rejected.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

import pytest

from shipyard.iam import (
    SignatureRejected,
    SignedRequest,
    Verifier,
    canonical_request,
    normalize_path,
    read_signature,
    string_to_sign,
)
from shipyard.iam.sigv4 import compute_signature, derive_signing_key, payload_hash

SUITE = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "aws-sigv4"

if not SUITE.is_dir():
    pytest.skip(
        f"the AWS SigV4 test suite is not at {SUITE} (shared test data kept next to the "
        "repository, not in it)",
        allow_module_level=True,
    )

CASES = sorted(path.parent.name for path in SUITE.glob("*/context.json"))
FORMS = ("header", "query")

# The suite's README allows this: post-sts-header-after adds the session token after
# signing (as a header, or as a query parameter in the presigned form), so the signature
# does not cover it. The verifier refuses an unsigned token: (public message, reason).
REFUSED_BY_POLICY = {
    ("post-sts-header-after", "header"): (
        SignatureRejected.MALFORMED, "x-amz-security-token header is not signed"
    ),
    ("post-sts-header-after", "query"): (SignatureRejected.MISMATCH, "signature mismatch"),
}
# What those requests gained after signing, left out to reproduce the signer's canonical
# request (the header form needs nothing: an unsigned header is not in it anyway).
ADDED_AFTER_SIGNING = {("post-sts-header-after", "query"): {"X-Amz-Security-Token"}}


@dataclasses.dataclass(frozen=True)
class Case:
    """One folder of the suite."""

    name: str
    context: dict

    @property
    def timestamp(self) -> datetime:
        return datetime.fromisoformat(self.context["timestamp"])

    @property
    def credentials(self) -> dict[str, str]:
        return self.context["credentials"]

    def text(self, file_name: str) -> str:
        return (SUITE / self.name / file_name).read_text(encoding="utf-8")

    def signed(self, form: str, *, now: datetime | None = None) -> SignedRequest:
        """The case's signed request, received at ``now`` (default: its timestamp)."""
        raw = (SUITE / self.name / f"{form}-signed-request.txt").read_bytes()
        return parse_message(raw, now=self.timestamp if now is None else now)

    def verifier(self, *, known: bool = True, normalize: bool | None = None) -> Verifier:
        secrets = {self.credentials["access_key_id"]: self.credentials["secret_access_key"]}
        return Verifier(
            secrets.get if known else (lambda _key: None),
            [self.context["service"]],
            normalize_path=self.context["normalize"] if normalize is None else normalize,
        )


@cache
def load(name: str) -> Case:
    return Case(name, json.loads((SUITE / name / "context.json").read_text(encoding="utf-8")))


def parse_message(raw: bytes, *, now: datetime) -> SignedRequest:
    """An HTTP/1.1 request as the suite writes it: request line, headers (continuation
    lines are obsolete line folding), a blank line, the body."""
    head, _, body = raw.decode("utf-8").partition("\n\n")
    request_line, *header_lines = head.split("\n")
    method, rest = request_line.split(" ", 1)
    target, _version = rest.rsplit(" ", 1)
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        if line[:1] in (" ", "\t"):
            name, value = headers.pop()
            headers.append((name, f"{value}\r\n{line}"))
        else:
            name, _, value = line.partition(":")
            headers.append((name, value))
    return SignedRequest.from_target(method, target, headers, body=body.encode("utf-8"), now=now)


def params(*, accepted_only: bool = False) -> list:
    return [
        pytest.param(name, form, id=f"{name}-{form}")
        for name in CASES
        for form in FORMS
        if not (accepted_only and (name, form) in REFUSED_BY_POLICY)
    ]


def test_the_suite_has_38_cases() -> None:
    assert len(CASES) == 38


@pytest.mark.parametrize(("name", "form"), params())
def test_signed_request_verifies(name: str, form: str) -> None:
    case = load(name)
    request = case.signed(form)
    if (name, form) in REFUSED_BY_POLICY:
        message, reason = REFUSED_BY_POLICY[name, form]
        with pytest.raises(SignatureRejected) as refused:
            case.verifier().verify(request)
        assert refused.value.message == message
        assert reason in refused.value.reason
        return
    identity = case.verifier().verify(request)
    assert identity.access_key_id == case.credentials["access_key_id"]
    assert str(identity.scope) == "20150830/us-east-1/service/aws4_request"
    assert identity.request_time == case.timestamp
    assert identity.presigned is (form == "query")
    assert identity.session_token == case.credentials.get("token")


@pytest.mark.parametrize(("name", "form"), params())
def test_a_request_built_from_its_wire_bytes_is_the_one_built_from_its_text(
    name: str, form: str
) -> None:
    """What the gateway builds from its parser's bytes (``SignedRequest.received``) is
    the request built from the decoded text, and verifies the same."""
    case = load(name)
    request = case.signed(form)
    streamed = dataclasses.replace(request, body=b"", body_sha256=request.payload_sha256())
    target = f"{request.path}?{request.query}" if request.query else request.path
    received = SignedRequest.received(
        request.method.encode("latin-1"), target.encode("utf-8", "surrogateescape"),
        [(n.encode("latin-1"), v.encode("latin-1")) for n, v in request.headers],
        now=request.now, body_sha256=request.payload_sha256(),
    )
    assert received == streamed
    assert received._values == streamed._values
    if (name, form) in REFUSED_BY_POLICY:
        with pytest.raises(SignatureRejected):
            case.verifier().verify(received)
    else:
        assert case.verifier().verify(received) == case.verifier().verify(request)


def test_a_request_from_wire_bytes_refuses_what_one_from_text_refuses() -> None:
    now = datetime(2015, 8, 30, 12, 36)
    with pytest.raises(ValueError, match="timezone-aware"):
        SignedRequest.received(b"GET", b"/", [], now=now, body_sha256="0" * 64)
    with pytest.raises(ValueError, match="64 lowercase hex digits"):
        SignedRequest.received(b"GET", b"/", [], now=now.astimezone(), body_sha256="0" * 63)


@pytest.mark.parametrize(("name", "form"), params())
def test_canonical_request_string_to_sign_and_signature_match(name: str, form: str) -> None:
    case = load(name)
    request = case.signed(form)
    info = read_signature(request)
    canonical = canonical_request(
        request, info.signed_headers, payload_hash(request),
        normalize=case.context["normalize"],
        exclude_query=info.excluded_query | ADDED_AFTER_SIGNING.get((name, form), set()),
    )
    assert canonical == case.text(f"{form}-canonical-request.txt")
    to_sign = string_to_sign(info.amz_date, str(info.scope), canonical)
    assert to_sign == case.text(f"{form}-string-to-sign.txt")
    key = derive_signing_key(
        case.credentials["secret_access_key"], info.scope.date, info.scope.region,
        info.scope.service,
    )
    expected = case.text(f"{form}-signature.txt").strip()
    assert compute_signature(key, to_sign) == expected == info.signature


def _replace_header(request: SignedRequest, name: str, change) -> SignedRequest:
    headers = [(n, change(v) if n.lower() == name else v) for n, v in request.headers]
    assert headers != list(request.headers), f"no {name} header to change"
    return dataclasses.replace(request, headers=headers)


def _replace_query_param(request: SignedRequest, name: str, change) -> SignedRequest:
    segments = request.query.split("&")
    for index, segment in enumerate(segments):
        key, _, value = segment.partition("=")
        if key == name:
            segments[index] = f"{key}={change(value)}"
            return dataclasses.replace(request, query="&".join(segments))
    raise AssertionError(f"no {name} parameter to change")


def _flip_last_hex(text: str) -> str:
    return text[:-1] + ("0" if text[-1] != "0" else "1")


def _one_second_later(amz_date: str) -> str:
    stamp = datetime.strptime(amz_date.strip(), "%Y%m%dT%H%M%SZ") + timedelta(seconds=1)
    return stamp.strftime("%Y%m%dT%H%M%SZ")


def _mutate_query_value(request: SignedRequest) -> SignedRequest:
    segments = [segment for segment in request.query.split("&") if segment]
    for index, segment in enumerate(segments):
        if "=" in segment and not segment.startswith("X-Amz-"):
            segments[index] = segment + "x"
            break
    else:
        segments.append("mutated=1")
    return dataclasses.replace(request, query="&".join(segments))


def mutate(request: SignedRequest, form: str, mutation: str) -> SignedRequest:
    """The request with one thing changed after signing."""
    if mutation == "signature":
        if form == "header":
            return _replace_header(request, "authorization", _flip_last_hex)
        return _replace_query_param(request, "X-Amz-Signature", _flip_last_hex)
    if mutation == "method":
        return dataclasses.replace(request, method="POST" if request.method == "GET" else "GET")
    if mutation == "path":
        return dataclasses.replace(request, path="/mutated" + request.path)
    if mutation == "query":
        return _mutate_query_value(request)
    if mutation == "body":
        return dataclasses.replace(request, body=request.body + b"x")
    if mutation == "host":
        return _replace_header(request, "host", lambda value: value.replace(".com", ".org"))
    if mutation == "date":
        if form == "header":
            return _replace_header(request, "x-amz-date", _one_second_later)
        return _replace_query_param(request, "X-Amz-Date", _one_second_later)
    raise AssertionError(mutation)


MUTATIONS = ("signature", "method", "path", "query", "body", "host", "date")


@pytest.mark.parametrize("mutation", MUTATIONS)
@pytest.mark.parametrize(("name", "form"), params(accepted_only=True))
def test_mutated_request_is_rejected(name: str, form: str, mutation: str) -> None:
    case = load(name)
    request = case.signed(form)
    mutated = mutate(request, form, mutation)
    with pytest.raises(SignatureRejected) as rejected:
        case.verifier().verify(mutated)
    body_hash_declared = bool(request.header_values("x-amz-content-sha256"))
    if mutation == "body" and body_hash_declared:
        assert rejected.value.message == SignatureRejected.PAYLOAD
    else:
        assert rejected.value.message == SignatureRejected.MISMATCH


@pytest.mark.parametrize(("name", "form"), params(accepted_only=True))
def test_unknown_access_key_is_rejected_like_a_bad_signature(name: str, form: str) -> None:
    case = load(name)
    with pytest.raises(SignatureRejected) as rejected:
        case.verifier(known=False).verify(case.signed(form))
    assert rejected.value.message == SignatureRejected.MISMATCH
    assert "unknown access key id" in rejected.value.reason
    assert case.credentials["secret_access_key"] not in rejected.value.reason


FIVE_MINUTES = timedelta(minutes=5)
ONE_SECOND = timedelta(seconds=1)
CLOCKS = {
    "header": [
        (FIVE_MINUTES, None),
        (-FIVE_MINUTES, None),
        (FIVE_MINUTES + ONE_SECOND, SignatureRejected.SKEWED),
        (-FIVE_MINUTES - ONE_SECOND, SignatureRejected.SKEWED),
    ],
    "query": [
        (timedelta(seconds=3600), None),
        (-FIVE_MINUTES, None),
        (timedelta(seconds=3601), SignatureRejected.EXPIRED),
        (-FIVE_MINUTES - ONE_SECOND, SignatureRejected.SKEWED),
    ],
}


@pytest.mark.parametrize(("name", "form"), params(accepted_only=True))
def test_clock_window(name: str, form: str) -> None:
    case = load(name)
    for offset, rejection in CLOCKS[form]:
        request = case.signed(form, now=case.timestamp + offset)
        if rejection is None:
            case.verifier().verify(request)
            continue
        with pytest.raises(SignatureRejected) as rejected:
            case.verifier().verify(request)
        assert rejected.value.message == rejection, offset


UNNORMALIZED = [name for name in CASES if not load(name).context["normalize"]]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", UNNORMALIZED)
def test_unnormalized_signatures_only_pass_the_default_verifier_on_normal_paths(
    name: str, form: str
) -> None:
    """These cases were signed without removing dot segments (the S3 convention). The
    default verifier normalizes, so it accepts them only where that changes nothing."""
    case = load(name)
    request = case.signed(form)
    verifier = case.verifier(normalize=True)
    if normalize_path(request.path) == request.path:
        verifier.verify(request)
    else:
        with pytest.raises(SignatureRejected) as rejected:
            verifier.verify(request)
        assert rejected.value.message == SignatureRejected.MISMATCH


def test_streamed_body_hash_verifies_like_the_body() -> None:
    case = load("post-x-www-form-urlencoded")
    for form in FORMS:
        request = case.signed(form)
        streamed = dataclasses.replace(
            request, body=b"", body_sha256=request.payload_sha256()
        )
        case.verifier().verify(streamed)
        wrong = dataclasses.replace(request, body=b"", body_sha256="0" * 64)
        with pytest.raises(SignatureRejected):
            case.verifier().verify(wrong)
