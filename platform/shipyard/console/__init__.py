"""The browser console: one HTML shell and the static files it loads (its own modules,
styles and vendored libraries, see ``static/vendor/VENDORED.md``), served by the api
process (``shipyard.api.console``) through the gateway, with no CDN.

Every page is a view over the same API the CLI uses: the scripts call it with the
browser's session cookie and the session's CSRF token. Nothing here runs in Python but
the shell's few lines; it imports nothing of Shipyard.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ASSETS_PREFIX", "ENTRY_SCRIPT", "STYLESHEETS", "shell", "static_dir"]

ASSETS_PREFIX = "/console/assets/"
ENTRY_SCRIPT = "js/main.js"
STYLESHEETS = (
    "console.css", "services.css", "service-work.css", "insights.css", "admin.css",
    "vendor/uplot.css",
)

_SHELL = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Shipyard</title>
  <link rel="icon" href="{assets}favicon.svg" type="image/svg+xml">
{stylesheets}
  <script type="module" src="{assets}{entry}"></script>
</head>
<body>
  <a class="skip-link" href="#main">Skip to the content</a>
  <header class="top" id="top"></header>
  <main id="main" tabindex="-1"><p class="loading">Loading…</p></main>
  <div id="toasts" class="toasts" role="status" aria-live="polite"></div>
</body>
</html>
"""


def static_dir() -> Path:
    return Path(__file__).resolve().parent / "static"


def shell() -> str:
    """The one HTML page every console URL answers; its scripts draw the page asked for."""
    links = "\n".join(f'  <link rel="stylesheet" href="{ASSETS_PREFIX}{name}">'
                      for name in STYLESHEETS)
    return _SHELL.format(assets=ASSETS_PREFIX, stylesheets=links, entry=ENTRY_SCRIPT)
