"""The control plane's own API, documented the same way as a service: from its views'
docstrings (summary and description, then the operation's YAML after ``---``).

This is the control plane's own code, so its app is inspected directly; the document is
built once per process.

Why here: what it lists is the control plane's own app; the document is assembled
by apispec, as a service's is.
"""

from __future__ import annotations

import inspect
import threading

from flask import Flask

from shipyard import __version__
from shipyard.openapi.accuracy_schemas import ACCURACY_SCHEMAS, ACCURACY_TAGS
from shipyard.openapi.control_schemas import COMPONENTS, TAGS
from shipyard.openapi.document import BuiltDocument, build_document
from shipyard.openapi.drift_schemas import DRIFT_SCHEMAS, DRIFT_TAGS
from shipyard.openapi.stats_schemas import STATS_PARAMETERS, STATS_SCHEMAS, STATS_TAGS
from shipyard_runners import Route

__all__ = ["control_plane_document", "control_plane_routes"]

_EXTENSION = "shipyard.openapi"
_lock = threading.Lock()
_INFO = {
    "title": "Shipyard control plane",
    "version": __version__,
    "description": (
        "Services, their files, generations and builds, models, and their documentation. "
        "Every error answers {\"error\": {\"type\": ..., \"message\": ...}}."
    ),
}


def _docstring_of(app: Flask, endpoint: str) -> str:
    view = app.view_functions.get(endpoint)
    return inspect.cleandoc(view.__doc__) if view is not None and view.__doc__ else ""


def control_plane_routes(app: Flask) -> list[Route]:
    """Every route of the control plane's app, each with the docstring that documents it."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        docstring = _docstring_of(app, rule.endpoint)
        skipped = {"HEAD", "OPTIONS"}
        for method in sorted(set(rule.methods or ()) - skipped):
            routes.append(Route(rule.rule, rule.endpoint, method, docstring))
    return routes


def control_plane_document(app: Flask) -> BuiltDocument:
    """The control plane's document (without ``servers``) and its warnings, built once."""
    with _lock:
        built = app.extensions.get(_EXTENSION)
        if built is None:
            components = {
                **COMPONENTS,
                "schemas": {**COMPONENTS["schemas"], **STATS_SCHEMAS, **DRIFT_SCHEMAS,
                            **ACCURACY_SCHEMAS},
                "parameters": {**COMPONENTS.get("parameters", {}), **STATS_PARAMETERS},
            }
            built = build_document(
                _INFO, control_plane_routes(app), components=components,
                tags=TAGS + STATS_TAGS + DRIFT_TAGS + ACCURACY_TAGS,
            )
            app.extensions[_EXTENSION] = built
        return built
