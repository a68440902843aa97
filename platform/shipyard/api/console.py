"""The browser console (``/``, ``/console/...``): one HTML shell for every page, and the
console's static files under ``/console/assets/``.

The shell and its files need no credentials (the scripts ask ``/iam/session`` who is
signed in and show the sign-in form when nobody is); everything they show comes from the
API, with the same rules as for the CLI. The pages run no inline script: the
Content-Security-Policy lets scripts and styles come only from this server.
"""

from __future__ import annotations

from flask import Blueprint, Response, send_from_directory

from shipyard.console import shell, static_dir
from shipyard.errors import NotFound

__all__ = ["CONTENT_SECURITY_POLICY", "console"]

console = Blueprint("console", __name__)

ASSET_MAX_AGE = 300
_ASSET_SUFFIXES = (".js", ".css", ".svg", ".png", ".woff2")
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    # CodeMirror and uPlot set style attributes and add <style> elements of their own.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


@console.get("/")
def home() -> Response:
    """The console's home page: the services list (or the sign-in form).
    ---
    tags: [console]
    security: []
    responses:
      "200":
        description: The console's HTML shell; its scripts draw the page.
        content:
          text/html:
            schema: {type: string}
      default: {$ref: '#/components/responses/Error'}
    """
    return _shell()


@console.get("/console/<path:page>")
def page(page: str) -> Response:
    """Any page of the console, by its URL (``/console/services/add-numbers/code``...).
    ---
    tags: [console]
    security: []
    responses:
      "200":
        description: The console's HTML shell; its scripts draw the page named.
        content:
          text/html:
            schema: {type: string}
      default: {$ref: '#/components/responses/Error'}
    """
    return _shell()


@console.get("/console/assets/<path:name>")
def asset(name: str) -> Response:
    """One of the console's files (its scripts, styles, vendored libraries).
    ---
    tags: [console]
    security: []
    responses:
      "200":
        description: The file.
        content:
          text/javascript:
            schema: {type: string}
          text/css:
            schema: {type: string}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    if not name.endswith(_ASSET_SUFFIXES):
        raise NotFound(f"no console asset {name!r}")
    response = send_from_directory(static_dir(), name, max_age=ASSET_MAX_AGE)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _shell() -> Response:
    response = Response(shell(), mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response
