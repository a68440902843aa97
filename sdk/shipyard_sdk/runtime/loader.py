"""Finding the service's WSGI application, the same way for serving and for the build check.

The app is the attribute ``$SHIPYARD_APP_OBJECT`` (default ``app``) of the module
``$SHIPYARD_APP_MODULE`` (default ``app``), imported from the current working directory,
which is the generation's code directory. Secrets given as files become environment
variables first (see ``secret_files``).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from shipyard_sdk.runtime.secret_files import export_secret_files

__all__ = ["app_location", "load_app"]


def app_location(environ: Mapping[str, str]) -> tuple[str, str]:
    """The module and attribute names that hold the app."""
    module = environ.get("SHIPYARD_APP_MODULE") or "app"
    attribute = environ.get("SHIPYARD_APP_OBJECT") or "app"
    return module, attribute


def load_app(environ: Mapping[str, str] | None = None) -> Callable[..., Any]:
    """Import the user's module and return its WSGI application."""
    export_secret_files()
    module_name, attribute = app_location(os.environ if environ is None else environ)
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    module = importlib.import_module(module_name)
    try:
        app = getattr(module, attribute)
    except AttributeError:
        raise LookupError(
            f"module {module_name!r} has no attribute {attribute!r}: define the Flask app as "
            f"{attribute} = Flask(__name__)"
        ) from None
    if not callable(app):
        raise TypeError(f"{module_name}.{attribute} is a {type(app).__name__}, not a WSGI app")
    return app
