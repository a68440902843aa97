"""Reading the signature information a request presents, before any secret is involved.

Two forms carry it (AWS "Authentication methods"):

- the ``Authorization`` header::

      AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request,
      SignedHeaders=host;x-amz-date, Signature=<64 hex digits>

  with the time in a signed ``x-amz-date`` header (or, failing that, a signed ``Date``);
- the presigned query: ``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
  ``X-Amz-Expires``, ``X-Amz-SignedHeaders``, ``X-Amz-Signature`` and optionally
  ``X-Amz-Security-Token``.

Parsing is strict: each field exactly once, a lowercase, sorted signed-header list that
includes ``host`` and names only headers the request carries, 64 lowercase hex digits for
the signature. The tolerances are spaces after the commas of the header form and an
empty region in the credential (``AKID/20150830//s3/aws4_request``, which clients given
no region sign; which regions and services are accepted is the verifier's business).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import NamedTuple

from shipyard.iam.canonical import (
    ALGORITHM,
    AMZ_DATE_FORMAT,
    SCOPE_TERMINATOR,
    SignedRequest,
    query_parameters,
)
from shipyard.iam.memo import memoized_when_short
from shipyard.iam.rejection import SignatureRejected

__all__ = [
    "MAX_EXPIRES",
    "SESSION_TOKEN_HEADER",
    "CredentialScope",
    "SignatureInfo",
    "is_sigv4_signed",
    "read_signature",
    "single_header",
]

MAX_EXPIRES = 7 * 24 * 3600
SESSION_TOKEN_HEADER = "x-amz-security-token"

_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_HEADER_NAME = r"[a-z0-9!#$%&'*+.^_`|~-]+"
_SIGNED_HEADERS = re.compile(rf"{_HEADER_NAME}(?:;{_HEADER_NAME})*")
_SCOPE_PART = re.compile(r"[^/\s,;=]+")
_SCOPE_DATE = re.compile(r"[0-9]{8}")
_EXPIRES = re.compile(r"[0-9]{1,6}")
_AUTH_SEPARATOR = re.compile(r", *")
# The layout every SDK writes, read in one match; any other order takes the general path.
_AUTH_USUAL = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^,]*), *SignedHeaders=([^,]*), *Signature=([^,]*)"
)
_AUTH_FIELDS = ("Credential", "SignedHeaders", "Signature")
_AUTH_LAYOUT = (
    "the Authorization header must hold Credential=, SignedHeaders= and Signature= once "
    "each, separated by a comma and optional spaces"
)
_PRESIGN_MARKERS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")


@dataclass(frozen=True, slots=True)
class CredentialScope:
    """The ``date/region/service/aws4_request`` part of a credential."""

    date: str
    region: str
    service: str
    # Made once: every signed call's string to sign holds it.
    text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "text", f"{self.date}/{self.region}/{self.service}/{SCOPE_TERMINATOR}")

    def __str__(self) -> str:
        return self.text


_SIGNATURE_EXCLUDED = frozenset({"X-Amz-Signature"})
_NOTHING_EXCLUDED: frozenset[str] = frozenset()


class SignatureInfo(NamedTuple):
    """The signature information a request presents, checked for form, not yet trusted.

    A named tuple rather than a dataclass: one is made for every signed call, and a
    frozen dataclass takes twice as long to make."""

    presigned: bool
    access_key_id: str
    scope: CredentialScope
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    request_time: datetime
    expires: int | None = None
    session_token: str | None = None

    def __repr__(self) -> str:
        # Neither the signature nor the session token: a logged repr must not replay.
        return (f"SignatureInfo(presigned={self.presigned!r}, "
                f"access_key_id={self.access_key_id!r}, scope={self.scope!r}, "
                f"signed_headers={self.signed_headers!r}, amz_date={self.amz_date!r}, "
                f"request_time={self.request_time!r}, expires={self.expires!r})")

    @property
    def excluded_query(self) -> frozenset[str]:
        """Query parameters left out of the canonical query (the signature itself)."""
        return _SIGNATURE_EXCLUDED if self.presigned else _NOTHING_EXCLUDED


def single_header(request: SignedRequest, name: str) -> str | None:
    """The one value of header ``name`` (a lowercase name), stripped; ``None`` when
    absent, rejected as malformed when repeated (for headers that SigV4 gives a meaning
    to)."""
    values = request.values_of(name)
    if len(values) > 1:
        raise SignatureRejected.malformed(f"the {name} header appears {len(values)} times")
    return values[0].strip() if values else None


@memoized_when_short
def _parse_amz_date(text: str) -> datetime | None:
    if not _AMZ_DATE.fullmatch(text):
        return None
    try:
        # The shape is checked above; the fields by hand: strptime costs ten times more.
        return datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[9:11]),
                        int(text[11:13]), int(text[13:15]), tzinfo=UTC)
    except ValueError:  # a day or an hour out of range
        return None


def _parse_http_date(text: str) -> datetime | None:
    """A ``Date`` header: ISO 8601 basic like ``x-amz-date``, or an HTTP date in UTC.

    ``GMT``, ``+0000`` and ``-0000`` are all UTC (botocore writes ``-0000``, which
    ``parsedate_to_datetime`` returns without a time zone); any other offset is refused.
    """
    parsed = _parse_amz_date(text)
    if parsed is not None:
        return parsed
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    if parsed.utcoffset() != timedelta(0):
        return None
    return parsed.astimezone(UTC)


@memoized_when_short
def _parse_credential(text: str) -> tuple[str, CredentialScope]:
    parts = text.split("/")
    if (
        len(parts) != 5
        or parts[4] != SCOPE_TERMINATOR
        or not all(_SCOPE_PART.fullmatch(part) for part in (parts[0], parts[1], parts[3]))
        or not (parts[2] == "" or _SCOPE_PART.fullmatch(parts[2]))
        or not _SCOPE_DATE.fullmatch(parts[1])
    ):
        raise SignatureRejected.malformed(
            "the credential is not <key id>/<yyyymmdd>/<region>/<service>/aws4_request "
            "(the region may be empty)"
        )
    return parts[0], CredentialScope(parts[1], parts[2], parts[3])


@memoized_when_short
def _parse_signed_headers(text: str) -> tuple[str, ...]:
    if not _SIGNED_HEADERS.fullmatch(text):
        raise SignatureRejected.malformed(
            "SignedHeaders is not a ';'-separated list of lowercase header names"
        )
    names = tuple(text.split(";"))
    if list(names) != sorted(set(names)):
        raise SignatureRejected.malformed("SignedHeaders is not sorted or names a header twice")
    if "host" not in names:
        raise SignatureRejected.malformed("the host header is not signed")
    return names


def _parse_signature(text: str) -> str:
    if not _SIGNATURE.fullmatch(text):
        raise SignatureRejected.malformed("the signature is not 64 lowercase hex digits")
    return text


def _header_date(request: SignedRequest, signed_headers: tuple[str, ...]) -> tuple[str, datetime]:
    """The request time of the header form: ``x-amz-date``, else ``Date``; it must be signed."""
    amz_date = single_header(request, "x-amz-date")
    if amz_date is not None:
        if "x-amz-date" not in signed_headers:
            raise SignatureRejected.malformed("the x-amz-date header is not signed")
        parsed = _parse_amz_date(amz_date)
        if parsed is None:
            raise SignatureRejected.malformed("x-amz-date is not in the form 20150830T123600Z")
        return amz_date, parsed
    date = single_header(request, "date")
    if date is None:
        raise SignatureRejected.malformed("neither an x-amz-date nor a Date header")
    if "date" not in signed_headers:
        raise SignatureRejected.malformed("the Date header is not signed")
    parsed = _parse_http_date(date)
    if parsed is None:
        raise SignatureRejected.malformed(
            "the Date header is neither 20150830T123600Z nor an HTTP date in UTC"
        )
    return parsed.strftime(AMZ_DATE_FORMAT), parsed


def _read_header_form(request: SignedRequest, authorization: str) -> SignatureInfo:
    prefix = ALGORITHM + " "
    if not authorization.startswith(prefix):
        raise SignatureRejected.malformed(
            "the Authorization header does not start with 'AWS4-HMAC-SHA256 '"
        )
    usual = _AUTH_USUAL.fullmatch(authorization)
    if usual is not None:
        credential, signed, signature = usual.groups()
    else:
        fields = _auth_fields(authorization[len(prefix):])
        credential, signed, signature = (fields[name] for name in _AUTH_FIELDS)
    access_key_id, scope = _parse_credential(credential)
    signed_headers = _parse_signed_headers(signed)
    amz_date, request_time = _header_date(request, signed_headers)
    return SignatureInfo(
        presigned=False,
        access_key_id=access_key_id,
        scope=scope,
        signed_headers=signed_headers,
        signature=_parse_signature(signature),
        amz_date=amz_date,
        request_time=request_time,
        session_token=single_header(request, SESSION_TOKEN_HEADER),
    )


def _auth_fields(text: str) -> dict[str, str]:
    """The fields of an Authorization header after its algorithm, in any order."""
    fields: dict[str, str] = {}
    for part in _AUTH_SEPARATOR.split(text):
        name, equals, value = part.partition("=")
        if not equals or name not in _AUTH_FIELDS or name in fields:
            raise SignatureRejected.malformed(_AUTH_LAYOUT)
        fields[name] = value
    if len(fields) != len(_AUTH_FIELDS):
        raise SignatureRejected.malformed(_AUTH_LAYOUT)
    return fields


def _one_param(params: dict[str, list[str]], name: str) -> str:
    value = _optional_param(params, name)
    if value is None:
        raise SignatureRejected.malformed(f"the presigned request lacks {name}")
    return value


def _optional_param(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name, [])
    if len(values) > 1:
        raise SignatureRejected.malformed(f"the query parameter {name} appears {len(values)} times")
    return values[0] if values else None


def _read_query_form(request: SignedRequest) -> SignatureInfo:
    info = _query_form(request.query)
    token_header = single_header(request, SESSION_TOKEN_HEADER)
    if token_header is None:
        return info
    if info.session_token is None:
        return info._replace(session_token=token_header)
    if token_header != info.session_token:
        raise SignatureRejected.malformed("the query and the header carry different session tokens")
    return info


@memoized_when_short
def _query_form(raw_query: str) -> SignatureInfo:
    """The signature information of a presigned query: a pure function of its text, so a
    presigned URL called again is read once (see ``memo``)."""
    params = _params_by_name(raw_query)
    if _one_param(params, "X-Amz-Algorithm") != ALGORITHM:
        raise SignatureRejected.malformed("X-Amz-Algorithm is not AWS4-HMAC-SHA256")
    access_key_id, scope = _parse_credential(_one_param(params, "X-Amz-Credential"))
    amz_date = _one_param(params, "X-Amz-Date")
    request_time = _parse_amz_date(amz_date)
    if request_time is None:
        raise SignatureRejected.malformed("X-Amz-Date is not in the form 20150830T123600Z")
    expires = _one_param(params, "X-Amz-Expires")
    if not _EXPIRES.fullmatch(expires) or not 1 <= int(expires) <= MAX_EXPIRES:
        raise SignatureRejected.malformed(
            f"X-Amz-Expires is not a whole number of seconds from 1 to {MAX_EXPIRES}"
        )
    token = _optional_param(params, "X-Amz-Security-Token")
    return SignatureInfo(
        presigned=True,
        access_key_id=access_key_id,
        scope=scope,
        signed_headers=_parse_signed_headers(_one_param(params, "X-Amz-SignedHeaders")),
        signature=_parse_signature(_one_param(params, "X-Amz-Signature")),
        amz_date=amz_date,
        request_time=request_time,
        expires=int(expires),
        session_token=token,
    )


def _params_by_name(raw_query: str) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for name, value in query_parameters(raw_query):
        params.setdefault(name, []).append(value)
    return params


@memoized_when_short
def _claims_presigned(raw_query: str) -> bool:
    return any(name in _PRESIGN_MARKERS for name, _ in query_parameters(raw_query))


def is_sigv4_signed(request: SignedRequest) -> bool:
    """Whether the request claims a SigV4 signature at all (so that a caller can choose
    between SigV4, an API key and anonymous access before verifying)."""
    if any(value.lstrip().startswith("AWS4-") for value in request.header_values("authorization")):
        return True
    return bool(request.query) and _claims_presigned(request.query)


def read_signature(request: SignedRequest) -> SignatureInfo:
    """Parse and check the form of the request's signature information (step 1).

    Raises ``SignatureRejected`` with ``MISSING`` when the request is not SigV4-signed,
    ``MALFORMED`` when it is but something is out of form.
    """
    authorization = single_header(request, "authorization")
    presigned = bool(request.query) and _claims_presigned(request.query)
    if authorization is not None and presigned:
        raise SignatureRejected.malformed(
            "both an Authorization header and presigned query parameters"
        )
    if authorization is not None:
        if not authorization.startswith("AWS4-"):
            raise SignatureRejected(
                SignatureRejected.MISSING, reason="the Authorization header is not SigV4"
            )
        info = _read_header_form(request, authorization)
    elif presigned:
        info = _read_query_form(request)
    else:
        raise SignatureRejected(
            SignatureRejected.MISSING,
            reason="no Authorization header and no presigned query parameters",
        )
    missing = request.missing_header(info.signed_headers)
    if missing is not None:
        raise SignatureRejected.malformed(f"the signed header {missing!r} is not in the request")
    return info

