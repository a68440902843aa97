"""The health check every instance answers without touching user code.

``GET /_shipyard/health`` → 200 ``{"status": "ok", "generation": ...}``; every other
request goes to the wrapped app unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["HEALTH_PATH", "HealthCheck"]

HEALTH_PATH = "/_shipyard/health"


class HealthCheck:
    """WSGI middleware that answers ``HEALTH_PATH`` itself and passes the rest to ``app``."""

    def __init__(self, app: WSGIApplication, generation: str | None) -> None:
        self.app = app
        self._body = json.dumps({"status": "ok", "generation": generation}).encode()

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != HEALTH_PATH:
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            start_response(
                "405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0")]
            )
            return [b""]
        start_response("200 OK", [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(self._body))),
            ("Cache-Control", "no-store"),
        ])
        return [b"" if method == "HEAD" else self._body]
