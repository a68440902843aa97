"""The control plane's Flask application factory."""

from __future__ import annotations

import os

from flask import Flask

from shipyard.api import register_api
from shipyard.domain.control_plane import ControlPlane
from shipyard.settings import Settings
from shipyard.supervisor.runner_set import RunnerSet

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> Flask:
    """Build the control-plane app: defaults, then ``settings``, then registrations."""
    settings = settings or Settings.from_env(os.environ)
    app = Flask("shipyard")
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        # Werkzeug caps each non-file form field at 500 kB by default; a model's metadata
        # (its baseline records) is such a field, and only the upload limit applies to it.
        MAX_FORM_MEMORY_SIZE=settings.max_upload_bytes,
        JSON_SORT_KEYS=False,
    )
    # A doubled slash in a file path is an error to report, not a redirect to follow.
    app.url_map.merge_slashes = False
    app.extensions["shipyard"] = ControlPlane.build(settings, RunnerSet)
    register_api(app)
    return app
