"""The answers the gateway writes itself: errors, in the one shape every Shipyard error
has (``{"error": {"type": ..., "message": ...}}``), and ``100 Continue``."""

from __future__ import annotations

import json
from http import HTTPStatus

from shipyard.errors import ShipyardError, error_body

__all__ = ["CONTINUE", "error_response"]

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def error_response(error: ShipyardError, request_id: bytes, close: bool) -> bytes:
    """A complete HTTP/1.1 answer for ``error``."""
    status = error.http_status
    body = json.dumps(error_body(error)).encode()
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
    ).encode()
    connection = b"Connection: close\r\n" if close else b""
    return b"".join((head, b"X-Request-Id: ", request_id, b"\r\n", connection, b"\r\n", body))
