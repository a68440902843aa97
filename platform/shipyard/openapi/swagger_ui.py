"""The Swagger UI page, served with its own assets (no CDN: Shipyard runs offline).

The assets are Swagger UI's ``dist`` files as the ``swagger-ui-bundle`` distribution
ships them (Apache-2.0), plus ``INITIALIZER``, Shipyard's own few lines that start the UI
on the document named by the page. The page runs no inline script, and its
Content-Security-Policy lets scripts come only from this server: a docstring's Markdown,
which Swagger UI renders, cannot run code next to the control plane's API. The online
validator badge (which would call an outside server) is off, and "try it out" calls the
document's server: the gateway, which is also the page's origin. A browser signed in to
the console calls with its session cookie, and the page adds the session's CSRF token to
every call that changes state, so "try it out" works for services that are not public.

Why here: apispec makes documents, not pages.
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import urlsplit

import swagger_ui_bundle

__all__ = [
    "ASSETS",
    "ASSETS_PREFIX",
    "INITIALIZER",
    "INITIALIZER_NAME",
    "asset_dir",
    "content_security_policy",
    "page",
]

ASSETS_PREFIX = "/docs/assets/"
ASSETS = frozenset({
    "swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png",
})
"""The only files served from Swagger UI's folder."""
INITIALIZER_NAME = "shipyard-swagger-ui.js"
INITIALIZER = """window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  function csrfToken() {
    var found = document.cookie.split(";").map(function (part) { return part.trim(); })
      .filter(function (part) { return part.indexOf("shipyard_csrf=") === 0; })[0];
    return found ? decodeURIComponent(found.slice("shipyard_csrf=".length)) : "";
  }
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    displayRequestDuration: true,
    requestInterceptor: function (request) {
      var method = (request.method || "GET").toUpperCase();
      var token = csrfToken();
      if (token && ["GET", "HEAD", "OPTIONS"].indexOf(method) < 0) {
        request.headers["X-CSRF-Token"] = token;
      }
      return request;
    },
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <link rel="stylesheet" href="{assets}swagger-ui.css">
  <link rel="icon" type="image/png" href="{assets}favicon-32x32.png" sizes="32x32">
  <script src="{assets}swagger-ui-bundle.js"></script>
  <script src="{assets}{initializer}"></script>
</head>
<body>
  <div id="swagger-ui" data-spec-url="{spec_url}"></div>
</body>
</html>
"""


def asset_dir() -> Path:
    return Path(str(swagger_ui_bundle.swagger_ui_path))


def page(title: str, spec_url: str) -> str:
    """The HTML page that shows the document at ``spec_url`` (a same-origin path)."""
    return _PAGE.format(
        title=html.escape(title), assets=ASSETS_PREFIX, initializer=INITIALIZER_NAME,
        spec_url=html.escape(spec_url),
    )


def content_security_policy(public_url: str) -> str:
    """Scripts from this server only; calls to it and to the public URL (the gateway)."""
    connect = "'self'"
    parts = urlsplit(public_url)
    if parts.scheme in ("http", "https") and parts.netloc:
        connect += f" {parts.scheme}://{parts.netloc}"
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        # Swagger UI sets style attributes, and its CSS draws icons from data: URIs.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        f"connect-src {connect}",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ])
