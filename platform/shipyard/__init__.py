"""Shipyard's control plane: the HTTP API, the registry, the CLI.

``create_app`` and ``Settings`` are imported on first use, so that the ``shipyard``
command starts without loading the web and database stacks it may not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.api.app import create_app
    from shipyard.settings import Settings

__all__ = ["Settings", "__version__", "create_app"]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from shipyard.api.app import create_app

        return create_app
    if name == "Settings":
        from shipyard.settings import Settings

        return Settings
    raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
