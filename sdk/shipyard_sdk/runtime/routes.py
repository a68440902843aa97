"""``python -m shipyard_sdk.runtime.routes OUTPUT``: list the app's routes for its documentation.

Run by a build in the service's own environment, in its code directory, after the import
check. It imports the app as an instance would and writes to ``OUTPUT`` one JSON object::

    {"app": "app:app",
     "problem": "",
     "routes": [{"rule": "/items/<int:item_id>", "endpoint": "item", "method": "GET",
                 "docstring": "Get one item.\\n---\\nresponses: ..."}, ...]}

one entry per (rule, method), HEAD and Flask's automatic OPTIONS left out, with the raw
docstring of the view that answers it ("" when it has none): for a class-based view, the
docstring of its method for that HTTP method. An entry whose view declares an operation for
flasgger (``swag_from``, a ``file:`` docstring) also has ``"spec": {"kind", "source",
"text"}`` (see ``flasgger_specs``). Nothing here parses YAML or builds OpenAPI:
the control plane does that from this data, so the runtime needs nothing but the app's own
packages. ``problem`` says why no route could be listed (an app that is not a Flask app).
Exits 1, with the traceback on stderr, only when the app does not import.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard_sdk.runtime.flasgger_specs import flasgger_spec
from shipyard_sdk.runtime.loader import app_location, load_app

__all__ = ["list_routes", "main", "write_route_list"]

_IMPLICIT_METHODS = frozenset({"HEAD"})
MAX_DOCSTRING_CHARS = 64 * 1024
"""Longer docstrings are cut: the control plane reports them as too long."""


def _is_static(endpoint: str) -> bool:
    """Flask's own static-file endpoints (``static``, ``<blueprint>.static``)."""
    return endpoint == "static" or endpoint.endswith(".static")


def _handler(view: Callable[..., Any] | None, method: str) -> Any:
    """What answers ``method``: a class-based view's method for it, else ``view``."""
    if view is None:
        return None
    handler = getattr(getattr(view, "view_class", None), method.lower(), None)
    return view if handler is None else handler


def _docstring(view: Callable[..., Any] | None, method: str) -> str:
    """The docstring that documents ``method`` of ``view``, cleaned of its indentation."""
    if view is None:
        return ""
    handler = getattr(getattr(view, "view_class", None), method.lower(), None)
    raw = getattr(handler, "__doc__", None) if handler is not None else None
    if not isinstance(raw, str):
        raw = getattr(view, "__doc__", None)
    if not isinstance(raw, str):
        return ""
    return inspect.cleandoc(raw)[: MAX_DOCSTRING_CHARS + 1]


def list_routes(app: Any) -> tuple[list[dict[str, Any]], str]:
    """The routes of a Flask ``app`` as plain data, and a problem ("" when there is none)."""
    url_map = getattr(app, "url_map", None)
    views = getattr(app, "view_functions", None)
    if url_map is None or not isinstance(views, dict):
        return [], f"the app is a {type(app).__name__}, not a Flask app: no route can be listed"
    routes: list[dict[str, Any]] = []
    for rule in url_map.iter_rules():
        if _is_static(rule.endpoint):
            continue
        skipped = set(_IMPLICIT_METHODS)
        if getattr(rule, "provide_automatic_options", False):
            skipped.add("OPTIONS")
        view = views.get(rule.endpoint)
        for method in sorted(set(rule.methods or ()) - skipped):
            docstring = _docstring(view, method)
            route: dict[str, Any] = {
                "rule": rule.rule,
                "endpoint": rule.endpoint,
                "method": method,
                "docstring": docstring,
            }
            spec = flasgger_spec(_handler(view, method), rule.endpoint, method, docstring)
            if spec is not None:
                route["spec"] = spec
            routes.append(route)
    return routes, ""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m shipyard_sdk.runtime.routes OUTPUT", file=sys.stderr)
        return 2
    module, attribute = app_location(os.environ)
    try:
        app = load_app(os.environ)
    except (Exception, SystemExit):
        print(f"the app {module}:{attribute} does not import:", file=sys.stderr)
        traceback.print_exc()
        return 1
    print(write_route_list(app, f"{module}:{attribute}", Path(args[0])))
    return 0


def write_route_list(app: Any, name: str, output: Path) -> str:
    """Write the routes of ``app`` (named ``module:attribute``) to ``output``; what to
    print about them."""
    routes, problem = list_routes(app)
    document = {"app": name, "problem": problem, "routes": routes}
    output.write_text(json.dumps(document), encoding="utf-8")
    return problem or f"listed {len(routes)} route(s) of {name}"


if __name__ == "__main__":
    sys.exit(main())
