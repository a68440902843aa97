"""Every error leaves the API as ``{"error": {"type": ..., "message": ...}}``."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from shipyard.errors import PayloadTooLarge, ShipyardError, error_body

__all__ = ["register_error_handlers"]

log = logging.getLogger(__name__)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ShipyardError, _shipyard_error)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def _render(error: ShipyardError, status: int | None = None) -> tuple[Response, int]:
    return jsonify(error_body(error)), status or error.http_status


def _shipyard_error(error: ShipyardError) -> tuple[Response, int]:
    return _render(error)


def _too_large(_error: RequestEntityTooLarge) -> tuple[Response, int]:
    # The request's own limit: a batch job's upload has a larger one than the app's.
    limit = request.max_content_length if request else current_app.config["MAX_CONTENT_LENGTH"]
    return _render(PayloadTooLarge(f"the request body is over the upload limit of {limit} bytes"))


def _http_error(error: HTTPException) -> tuple[Response, int]:
    name = (error.name or "HTTPError").title().replace(" ", "")
    body = {"error": {"type": name, "message": error.description or error.name}}
    return jsonify(body), error.code or 500


def _unexpected(error: Exception) -> tuple[Response, int]:
    log.exception("unexpected error while serving a request")
    return _render(ShipyardError("internal error; the server log has the details"))
