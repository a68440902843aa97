"""The AWS Signature Version 4 canonical request and string to sign.

Everything here is a pure function of a received request: no secrets, no clock, no I/O.
``sigv4`` builds verification on top of it.

Canonical request, one field per line (AWS "Create a canonical request")::

    METHOD
    canonical path      normalized, then URI-encoded once more (the "double" encoding)
    canonical query     pairs decoded, re-encoded with the unreserved set, sorted
    canonical headers   "name:value\\n" per signed header, lowercased, trimmed, joined
                        (followed by the blank line the spec's layout produces)
    signed headers      "host;x-amz-date"
    payload hash        x-amz-content-sha256, else the SHA-256 of the body

Choices where the specification leaves room:

- The path is taken exactly as it arrived on the wire (already percent-encoded once by
  the client) and encoded once more, as requests-aws4auth and botocore do for non-S3
  services: ``/a%20b`` is signed as ``/a%2520b``. Nothing is decoded, so ``x%2Fy`` and
  ``x/y`` are different paths, and ``%2E%2E`` is not a dot segment. A signature whose
  credential scope names the service ``s3`` follows S3's rule instead: the path encoded
  once (each segment decoded and encoded again), not normalized.
- ``+`` in the query means a space (form encoding: how requests-aws4auth, botocore's
  presigner and Flask all read it), so ``a+b`` canonicalizes to ``a%20b`` and a literal
  plus travels as ``%2B``. botocore's header signer signs a URL's query as sent instead;
  ``canonical_query(as_sent=True)`` gives that form, which the verifier also tries.
- Header values fold every run of spaces, tabs and line breaks (obsolete line folding) to
  one space, quoted or not; duplicate headers are joined with commas in arrival order.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote, unquote_to_bytes

from shipyard.iam.memo import memoized_when_short

__all__ = [
    "ALGORITHM",
    "AMZ_DATE_FORMAT",
    "S3_SERVICE",
    "SCOPE_TERMINATOR",
    "SignedRequest",
    "canonical_headers",
    "canonical_path",
    "canonical_query",
    "canonical_query_forms",
    "canonical_request",
    "canonical_requests",
    "normalize_path",
    "query_parameters",
    "string_to_sign",
]

ALGORITHM = "AWS4-HMAC-SHA256"
S3_SERVICE = "s3"  # the one service whose canonical path follows S3's rule
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
SCOPE_TERMINATOR = "aws4_request"

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# A query name or value already in canonical encoding: unreserved characters, and
# uppercase escapes of anything else (an escaped unreserved character, such as %41,
# is not canonical: it canonicalizes to the character). Such a component canonicalizes
# to itself, so it is neither decoded nor encoded again.
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]*")
_COMPONENT = (
    r"(?:[A-Za-z0-9._~-]|%(?!2[DE]|3[0-9]|4[1-9A-F]|5[0-9AF]|6[1-9A-F]|7[0-9AE])[0-9A-F]{2})*"
)
_CANONICAL_COMPONENT = re.compile(_COMPONENT)
# A whole query whose every name and value is canonical, each pair with its ``=``: its
# canonical form is its pairs sorted, and it reads the same sent and canonical.
_CANONICAL_QUERY = re.compile(rf"{_COMPONENT}={_COMPONENT}(?:&{_COMPONENT}={_COMPONENT})*")
_HEADER_WHITESPACE = re.compile(r"[ \t\r\n]+")


def _wire_bytes(text: str) -> bytes:
    """Text as the bytes it stands for: UTF-8, with undecodable bytes kept by
    ``surrogateescape`` (a server that decoded the request line that way round-trips)."""
    return text.encode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedRequest:
    """One received HTTP request, as the verifier needs to see it.

    ``path`` and ``query`` are the two halves of the request-target exactly as received
    (split at the first ``?``, percent-encoding untouched); ``headers`` are the
    ``(name, value)`` pairs in arrival order, duplicates included. The body is given
    either as ``body`` or, when it is streamed elsewhere, as the SHA-256 hex digest the
    caller computed over it (``body_sha256``), never both. ``now`` is the server's clock
    at arrival, timezone-aware, injected so that tests can freeze it.

    Text fields hold the bytes received decoded the way Python HTTP servers do (header
    values as Latin-1); non-ASCII characters are hashed as UTF-8, which is also what
    Python clients sign.
    """

    method: str
    path: str
    query: str = ""
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    body_sha256: str | None = None
    now: datetime
    # Each header's values by lowercased name, made once: the checks look headers up often.
    _values: dict[str, list[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        headers = tuple(self.headers)
        values: dict[str, list[str]] = {}
        for name, value in headers:
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError("header names and values must be text")
            values.setdefault(name.lower(), []).append(value)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "_values", values)
        _check_arrival(self.now, self.body_sha256)
        if self.body_sha256 is not None and self.body:
            raise ValueError("give the body or its SHA-256, not both")

    @classmethod
    def from_target(
        cls,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]],
        *,
        now: datetime,
        body: bytes = b"",
        body_sha256: str | None = None,
    ) -> SignedRequest:
        """Build from an origin-form request-target such as ``/a%20b?x=1``."""
        path, _, query = target.partition("?")
        return cls(
            method=method, path=path, query=query, headers=tuple(headers),
            body=body, body_sha256=body_sha256, now=now,
        )

    @classmethod
    def received(
        cls,
        method: bytes,
        target: bytes,
        headers: Iterable[tuple[bytes, bytes]],
        *,
        now: datetime,
        body_sha256: str,
    ) -> SignedRequest:
        """Build from a request as it came off the wire (a proxy's parser gives bytes):
        the same request ``from_target`` builds from its decoded text (the target as
        UTF-8 with ``surrogateescape``, header names and values as Latin-1), made in one
        pass, since a gateway makes one for every signed call. ``body_sha256`` is the
        digest the caller computed over the body it streamed."""
        _check_arrival(now, body_sha256)
        decoded = []
        values: dict[str, list[str]] = {}
        for raw_name, raw_value in headers:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            decoded.append((name, value))
            lowered = name.lower()
            known = values.get(lowered)
            if known is None:
                values[lowered] = [value]
            else:
                known.append(value)
        path, _, query = target.decode("utf-8", "surrogateescape").partition("?")
        request = cls.__new__(cls)
        for attribute, value in (
            ("method", method.decode("latin-1")), ("path", path), ("query", query),
            ("headers", tuple(decoded)), ("body", b""), ("body_sha256", body_sha256),
            ("now", now), ("_values", values),
        ):
            object.__setattr__(request, attribute, value)
        return request

    def missing_header(self, names: Iterable[str]) -> str | None:
        """The first of ``names`` (lowercase names) the request does not carry, or None."""
        values = self._values
        for name in names:
            if name not in values:
                return name
        return None

    def has_header(self, name: str) -> bool:
        """Whether the request carries header ``name`` (a lowercase name)."""
        return name in self._values

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name`` (any case), in arrival order."""
        return list(self._values.get(name.lower(), ()))

    def values_of(self, name: str) -> Sequence[str]:
        """``header_values`` of a lowercase ``name``, without the copy (not to be changed)."""
        return self._values.get(name, ())

    def payload_sha256(self) -> str:
        """The SHA-256 hex digest of the body actually received."""
        if self.body_sha256 is not None:
            return self.body_sha256
        return hashlib.sha256(self.body).hexdigest()


def _check_arrival(now: datetime, body_sha256: str | None) -> None:
    """What every ``SignedRequest`` is checked for, however it is made."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("SignedRequest.now must be timezone-aware")
    if body_sha256 is not None and not _SHA256_HEX.fullmatch(body_sha256):
        raise ValueError("body_sha256 must be 64 lowercase hex digits")


def normalize_path(raw_path: str) -> str:
    """Remove ``.`` and ``..`` segments and empty segments (repeated slashes).

    Works on the raw, still-encoded path, so ``%2E%2E`` is an ordinary segment. A
    trailing slash survives unless nothing is left but the root; ``..`` never climbs
    above the root. Callers that route by path should route on this same result.
    """
    segments: list[str] = []
    for segment in raw_path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    normalized = "/" + "/".join(segments)
    if segments and raw_path.endswith("/"):
        normalized += "/"
    return normalized


def canonical_path(raw_path: str, *, normalize: bool = True, s3: bool = False) -> str:
    """The canonical URI: the (normalized) raw path, URI-encoded once more, ``/`` kept.

    ``s3=True`` is S3's rule: the path encoded once and not normalized. Each segment of
    the raw path (split at its literal slashes) is decoded and encoded again with only
    the unreserved characters bare, so ``/a!b`` and ``/a%21b`` sign alike, as
    requests-aws4auth and botocore's S3 signers sign them; an encoded slash stays
    ``%2F``, so ``x%2Fy`` and ``x/y`` remain different paths, and an encoded dot segment
    stays encoded, so ``%2E%2E`` (an ordinary segment) and ``..`` do too.
    """
    return _canonical_path(raw_path, normalize, s3)


@memoized_when_short
def _canonical_path(raw_path: str, normalize: bool, s3: bool) -> str:
    if s3:
        return "/".join(_s3_segment(part) for part in (raw_path or "/").split("/"))
    path = normalize_path(raw_path) if normalize else (raw_path or "/")
    return quote(_wire_bytes(path), safe="/")


def _s3_segment(raw: str) -> str:
    decoded = unquote_to_bytes(_wire_bytes(raw))
    if decoded in (b".", b"..") and raw not in (".", ".."):
        return raw.upper()
    return quote(decoded, safe="")


def _decode_query_component(raw: str) -> bytes:
    return unquote_to_bytes(_wire_bytes(raw).replace(b"+", b" "))


def _decoded_name(raw: str) -> str:
    if raw.isascii() and "%" not in raw and "+" not in raw:
        return raw  # nothing to decode
    return _decode_query_component(raw).decode("utf-8", "replace")


def query_parameters(raw_query: str) -> tuple[tuple[str, str], ...]:
    """The decoded ``(name, value)`` pairs of a raw query, in order, read the way the
    canonical query reads them (``+`` is a space; bytes that are not UTF-8 become U+FFFD)."""
    return _query_parameters(raw_query)


@memoized_when_short
def _query_parameters(raw_query: str) -> tuple[tuple[str, str], ...]:
    segments = (segment.partition("=") for segment in raw_query.split("&") if segment)
    return tuple((_decoded_name(name), _decoded_name(value)) for name, _, value in segments)


def canonical_query(
    raw_query: str, *, exclude: Collection[str] = (), as_sent: bool = False
) -> str:
    """The canonical query string of a raw query.

    Each name and value is percent-decoded (``+`` is a space) and encoded again with
    only the unreserved characters left bare; a missing ``=`` gives an empty value;
    pairs are sorted by encoded name, then encoded value. Parameters whose decoded name
    is in ``exclude`` (``X-Amz-Signature`` for presigned requests) are left out.

    ``as_sent=True`` gives the form botocore signs when the query is part of the URL:
    the raw pairs, sorted, not re-encoded. It only differs when the client sent a query
    that is not already in canonical encoding, such as ``a+b`` or ``a,b``.
    """
    canonical, sent = canonical_query_forms(raw_query, exclude=exclude)
    return sent if as_sent else canonical


def canonical_query_forms(
    raw_query: str, *, exclude: Collection[str] = ()
) -> tuple[str, str]:
    """Both forms of ``canonical_query`` (canonical, as sent) in one pass; the same
    string twice, as is most often the case, when the query was sent canonically encoded."""
    if not raw_query:
        return "", ""
    return _canonical_query_forms(raw_query, frozenset(exclude))


@memoized_when_short
def _canonical_query_forms(raw_query: str, exclude: frozenset[str]) -> tuple[str, str]:
    if _CANONICAL_QUERY.fullmatch(raw_query):
        kept = sorted(
            (name, value) for name, _, value in
            (segment.partition("=") for segment in raw_query.split("&"))
            if not exclude or _decoded_name(name) not in exclude
        )
        canonical = "&".join(f"{name}={value}" for name, value in kept)
        return canonical, canonical
    pairs: list[tuple[str, str]] = []
    sent: list[tuple[str, str]] = []
    differs = False
    for segment in raw_query.split("&"):
        name, _, value = segment.partition("=")
        if not segment:
            sent.append((name, value))
            differs = True
            continue
        if exclude and _decoded_name(name) in exclude:
            continue
        sent.append((name, value))
        encoded_name, encoded_value = _canonical_component(name), _canonical_component(value)
        differs = differs or encoded_name != name or encoded_value != value
        pairs.append((encoded_name, encoded_value))
    pairs.sort()
    canonical = "&".join(f"{name}={value}" for name, value in pairs)
    if not differs:
        return canonical, canonical
    sent.sort()
    return canonical, "&".join(f"{name}={value}" for name, value in sent)


def _canonical_component(raw: str) -> str:
    if _UNRESERVED.fullmatch(raw) or ("%" in raw and _CANONICAL_COMPONENT.fullmatch(raw)):
        return raw
    return quote(_decode_query_component(raw), safe="")


def _trim_header_value(value: str) -> str:
    if "  " in value or "\t" in value or "\r" in value or "\n" in value:
        return _HEADER_WHITESPACE.sub(" ", value).strip(" ")
    return value.strip(" ")  # no run to fold: the regular expression would change nothing


def canonical_headers(headers: Iterable[tuple[str, str]], signed_headers: Iterable[str]) -> str:
    """One ``name:value\\n`` line per signed header, sorted by name.

    Values are trimmed and their inner whitespace runs folded to one space; repeated
    headers are joined with ``,`` in arrival order. A signed header that the request
    does not carry is a ``ValueError``.
    """
    collected: dict[str, list[str]] = {name: [] for name in sorted(set(signed_headers))}
    for name, value in headers:
        values = collected.get(name.lower())
        if values is not None:
            values.append(_trim_header_value(value))
    missing = [name for name, values in collected.items() if not values]
    if missing:
        raise ValueError(f"signed header {missing[0]!r} is not in the request")
    return "".join(f"{name}:{','.join(values)}\n" for name, values in collected.items())


def _canonical_headers_of(request: SignedRequest, names: list[str]) -> str:
    """``canonical_headers`` of a request, from its headers already sorted by name."""
    lines = []
    for name in names:
        values = request._values.get(name)
        if not values:
            raise ValueError(f"signed header {name!r} is not in the request")
        lines.append(f"{name}:{','.join(map(_trim_header_value, values))}\n")
    return "".join(lines)


def canonical_request(
    request: SignedRequest,
    signed_headers: Iterable[str],
    payload_hash: str,
    *,
    normalize: bool = True,
    exclude_query: Collection[str] = (),
    query_as_sent: bool = False,
    s3_path: bool = False,
) -> str:
    """The canonical request of ``request`` for the given signed headers and payload hash.

    ``normalize=False`` (no dot-segment removal) is needed only to reproduce test vectors
    signed that way; ``s3_path`` is S3's path rule (see ``canonical_path``). See
    ``canonical_query`` for ``exclude_query`` and ``query_as_sent``.
    """
    forms = canonical_requests(
        request, signed_headers, payload_hash, normalize=normalize,
        exclude_query=exclude_query, s3_path=s3_path,
    )
    return forms[-1] if query_as_sent else forms[0]


def canonical_requests(
    request: SignedRequest,
    signed_headers: Iterable[str],
    payload_hash: str,
    *,
    normalize: bool = True,
    exclude_query: Collection[str] = (),
    s3_path: bool = False,
) -> list[str]:
    """The canonical request, then (only when it differs) the one with the query as sent
    (see ``canonical_query``), each part made once."""
    names = sorted(set(signed_headers))
    canonical, sent = canonical_query_forms(request.query, exclude=exclude_query)
    head = "\n".join([request.method, canonical_path(request.path, normalize=normalize,
                                                      s3=s3_path)])
    tail = "\n".join([_canonical_headers_of(request, names), ";".join(names), payload_hash])
    forms = [f"{head}\n{canonical}\n{tail}"]
    if sent != canonical:
        forms.append(f"{head}\n{sent}\n{tail}")
    return forms


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    """The string to sign: algorithm, timestamp, credential scope, canonical request hash.

    ``amz_date`` is the request time in ISO 8601 basic form (``20150830T123600Z``);
    ``scope`` is ``20150830/us-east-1/service/aws4_request``.
    """
    digest = hashlib.sha256(_wire_bytes(canonical_request)).hexdigest()
    return "\n".join([ALGORITHM, amz_date, scope, digest])
