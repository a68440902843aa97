"""Who is calling the API, and the checks views make with it.

Every request is authenticated before its view runs (``authenticate``): a SigV4
signature, an API key or a browser's session cookie is verified (a session's change also
needs its CSRF token), and a request with none is anonymous. Anonymous
requests reach only the endpoints in ``ANONYMOUS_ENDPOINTS`` (health and the
documentation pages, which check a service's access level themselves); every other
endpoint answers 401 to them. Views then check what the caller may do with
``require_user`` and ``require_collaborator``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import g, request

from shipyard.api.context import control_plane
from shipyard.domain.services import Service
from shipyard.errors import Forbidden, NotFound, Unauthorized
from shipyard.iam.api_keys import API_KEY_HEADER
from shipyard.iam.authenticator import CREDENTIALS_NEEDED
from shipyard.iam.browser_sessions import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE
from shipyard.iam.canonical import SignedRequest
from shipyard.iam.principals import ANONYMOUS, Caller, may_collaborate, may_invoke
from shipyard.iam.rejection import SignatureRejected

__all__ = [
    "ANONYMOUS_ENDPOINTS",
    "STREAMED_ENDPOINTS",
    "authenticate",
    "current_caller",
    "require_collaborator",
    "require_model_collaborator",
    "require_reader",
    "require_user",
    "visible",
]

ANONYMOUS_ENDPOINTS = frozenset({
    "health.healthz", "docs.control_plane_openapi", "docs.control_plane_page", "docs.asset",
    "docs.service_page", "docs.service_openapi", "static", "browser_sessions.sign_in",
    "browser_sessions.current_session", "console.home", "console.page", "console.asset",
})
# Signing in ignores a session the browser may still hold.
_SESSIONLESS_ENDPOINTS = frozenset({"browser_sessions.sign_in"})
STREAMED_ENDPOINTS = frozenset({"service_batch_jobs.create_job"})
"""Endpoints that stream a body too large to hold (a batch job's input file): a signature
is checked against the SHA-256 it declares in ``x-amz-content-sha256``, which the view
then checks the body against as it writes it (``g.signed_body_sha256``)."""
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def authenticate() -> None:
    """A ``before_request`` hook: ``g.caller`` for every request, or a 401/403."""
    authenticator = control_plane().access.authenticator
    g.caller = caller = authenticator.authenticate(
        _signed_request(), request.headers.get(API_KEY_HEADER)
    )
    token = request.cookies.get(SESSION_COOKIE)
    if not caller.authenticated and token and request.endpoint not in _SESSIONLESS_ENDPOINTS:
        try:
            g.caller = caller = authenticator.verify_session(
                token, request.headers.get(CSRF_HEADER),
                unsafe=request.method not in SAFE_METHODS,
            )
        except Unauthorized:
            # An ended session is no credential: anonymous where that is enough.
            if request.endpoint not in ANONYMOUS_ENDPOINTS:
                raise
    if not caller.authenticated and request.endpoint not in ANONYMOUS_ENDPOINTS:
        raise Unauthorized(CREDENTIALS_NEEDED)


def current_caller() -> Caller:
    return g.get("caller", ANONYMOUS)


def require_user() -> Caller:
    """The calling user; a service's credentials and API keys cannot manage anything."""
    caller = current_caller()
    if caller.kind != "user":
        raise Forbidden("only a user may do this (not a service or an API key)")
    return caller


def require_collaborator(ref: str) -> Service:
    """The service ``ref``, if the caller collaborates on it (or administers Shipyard)."""
    caller = require_user()
    service = control_plane().services.get(ref)
    if not may_collaborate(caller, service.project_id):
        raise Forbidden(f"you are not a collaborator of service {service.name!r}")
    return service


def require_model_collaborator(name: str) -> str | None:
    """The project of model ``name``, if the caller collaborates on it (or administers
    Shipyard): reading a model, its versions and its baseline, uploading a version of it
    and deploying it are a collaborator's rights."""
    caller = require_user()
    project_id = control_plane().models.project_of(name)
    if not may_collaborate(caller, project_id):
        raise Forbidden(f"you are not a collaborator of model {name!r}")
    return project_id


def require_reader(ref: str) -> Service:
    """The service ``ref``, if the caller may call it (its access level allows them).
    Without credentials, a service that does not exist answers 401 like one that is not
    public, so that names cannot be told apart by their answers."""
    caller = current_caller()
    try:
        service = control_plane().services.get(ref)
    except NotFound:
        if not caller.authenticated:
            raise Unauthorized(CREDENTIALS_NEEDED) from None
        raise
    if may_collaborate(caller, service.project_id) or may_invoke(
        caller, service.id, service.access_level, service.project_id
    ):
        return service
    if not caller.authenticated:
        raise Unauthorized(CREDENTIALS_NEEDED)
    raise Forbidden(f"you may not see service {service.name!r}")


def visible(caller: Caller, service: Service) -> bool:
    """Whether ``caller`` sees ``service`` in listings: an API key sees only its own."""
    if caller.kind == "api_key":
        return service.id == caller.service_id
    return may_collaborate(caller, service.project_id) or service.access_level != "project"


def _signed_request() -> SignedRequest:
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        # WSGI carries the request line as Latin-1 text; SigV4 hashes its bytes as UTF-8.
        target = raw.encode("latin-1").decode("utf-8", "surrogateescape")
    else:
        target = request.full_path if request.query_string else request.path
    signed = "Authorization" in request.headers or "X-Amz-Signature" in request.args
    if signed and request.endpoint in STREAMED_ENDPOINTS and not request.is_json:
        declared = request.headers.get("x-amz-content-sha256", "")
        if not _SHA256_HEX.fullmatch(declared):
            raise SignatureRejected(
                SignatureRejected.PAYLOAD,
                reason="a streamed upload must sign the SHA-256 of its body in "
                       "x-amz-content-sha256",
            )
        g.signed_body_sha256 = declared
        return SignedRequest.from_target(request.method, target, list(request.headers.items()),
                                         now=datetime.now(UTC), body_sha256=declared)
    return SignedRequest.from_target(
        request.method, target, list(request.headers.items()),
        now=datetime.now(UTC), body=request.get_data(cache=True) if signed else b"",
    )
