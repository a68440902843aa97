"""Access to the process's control plane from inside a request."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from shipyard.domain.control_plane import ControlPlane
from shipyard.errors import InvalidInput

__all__ = ["control_plane", "json_body", "json_fields"]


def control_plane() -> ControlPlane:
    return current_app.extensions["shipyard"]


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    if not request.is_json:
        raise InvalidInput("the request body must be JSON (Content-Type: application/json)")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("the request body must be a JSON object")
    return data


def json_fields(*allowed: str, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object with no field but ``allowed``; ``{}`` for an empty body
    when the body is ``optional``."""
    if optional and not request.content_length:
        return {}
    data = json_body()
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidInput(f"unknown fields {unknown}; known: {sorted(allowed)}")
    return data
