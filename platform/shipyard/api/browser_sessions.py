"""Signing in from a browser (``/iam/sessions``, ``/iam/session``) and setting passwords
(``/iam/users/<user>/password``).

Signing in sets two cookies: the session's (HttpOnly) and the CSRF token's (readable by
the console's scripts, which send it back in ``X-CSRF-Token``); both SameSite=Strict,
both Secure when Shipyard is served over HTTPS, both ending when the session does.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Blueprint, Response, jsonify, request

from shipyard.api.callers import current_caller, require_user
from shipyard.api.context import control_plane, json_fields
from shipyard.errors import InvalidInput
from shipyard.iam.browser_sessions import CSRF_COOKIE, SESSION_COOKIE

__all__ = ["browser_sessions"]

browser_sessions = Blueprint("browser_sessions", __name__)


@browser_sessions.post("/sessions")
def sign_in() -> Response:
    """Sign in with a user's name and password: the session's cookies.

    Failed sign-ins are counted per user and address; past the limit, sign-ins are
    refused (429) for a while, whatever the password.
    ---
    tags: [iam]
    security: []
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            additionalProperties: false
            required: [user, password]
            properties:
              user: {type: string, example: alice}
              password: {type: string, format: password}
    responses:
      "201":
        description: Signed in; the cookies are set.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/BrowserSession'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "401": {$ref: '#/components/responses/Unauthorized'}
      "429": {$ref: '#/components/responses/TooManyRequests'}
      default: {$ref: '#/components/responses/Error'}
    """
    body = json_fields("user", "password")
    user, password = body.get("user"), body.get("password")
    if not isinstance(user, str) or not isinstance(password, str):
        raise InvalidInput("'user' and 'password' must be strings")
    plane = control_plane()
    new = plane.access.sessions.sign_in(user, password, _client_address())
    response = jsonify({"user": new.user.name, "is_admin": new.user.is_admin,
                        "expires_at": new.expires_at.isoformat()})
    response.status_code = 201
    secure = _secure()
    for name, value, http_only in ((SESSION_COOKIE, new.token, True),
                                   (CSRF_COOKIE, new.csrf_token, False)):
        response.set_cookie(name, value, expires=new.expires_at, path="/", secure=secure,
                            httponly=http_only, samesite="Strict")
    return response


@browser_sessions.get("/session")
def current_session() -> dict[str, Any]:
    """Who this browser is signed in as: ``user`` is null when it is not (the console
    then shows its sign-in form), and for a request made without a session.
    ---
    tags: [iam]
    security: []
    responses:
      "200":
        description: The session, or none.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/BrowserSession'}
      default: {$ref: '#/components/responses/Error'}
    """
    token = request.cookies.get(SESSION_COOKIE)
    caller = current_caller()
    grant = control_plane().access.sessions.resolve(token) if token else None
    if grant is None or grant.caller.id != caller.id:
        return {"user": None, "is_admin": False, "expires_at": None}
    return {"user": caller.name, "is_admin": caller.is_admin,
            "expires_at": grant.expires_at.isoformat()}


@browser_sessions.delete("/session")
def sign_out() -> Response:
    """Sign out: the session ends on the server, and its cookies are cleared.
    ---
    tags: [iam]
    responses:
      "204": {description: Signed out.}
      "401": {$ref: '#/components/responses/Unauthorized'}
      "403": {$ref: '#/components/responses/Forbidden'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_user()
    token = request.cookies.get(SESSION_COOKIE)
    plane = control_plane()
    if token:
        plane.access.sessions.sign_out(token)
        plane.access.authenticator.forget()
    response = Response(status=204)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=_secure(), samesite="Strict")
    return response


@browser_sessions.put("/users/<user>/password")
def set_password(user: str) -> Response:
    """Set a user's password, for signing in from a browser: an administrator sets
    anyone's; a user sets their own, with the current one when they have one.
    ---
    tags: [iam]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            additionalProperties: false
            required: [password]
            properties:
              password: {type: string, format: password, minLength: 10, maxLength: 1024}
              current_password: {type: string, format: password}
    responses:
      "204": {description: The password is set.}
      "400": {$ref: '#/components/responses/BadRequest'}
      "401": {$ref: '#/components/responses/Unauthorized'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    caller = require_user()
    body = json_fields("password", "current_password")
    current = body.get("current_password")
    if current is not None and not isinstance(current, str):
        raise InvalidInput("'current_password' must be a string")
    control_plane().access.passwords.set(user, body.get("password"), caller, current)  # type: ignore[arg-type]
    return Response(status=204)


def _client_address() -> str:
    """The browser's address: the last one the gateway added to ``X-Forwarded-For``
    when the request came through it (from loopback), else the peer's."""
    peer = request.remote_addr or "-"
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and _is_loopback(peer):
        return forwarded.rsplit(",", 1)[-1].strip() or peer
    return peer


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _secure() -> bool:
    if control_plane().settings.public_url.startswith("https://"):
        return True
    return request.headers.get("X-Forwarded-Proto", request.scheme) == "https"


