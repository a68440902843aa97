"""What services can be built from: environment profiles and templates."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from shipyard.api.context import control_plane

__all__ = ["catalog"]

catalog = Blueprint("catalog", __name__)


@catalog.get("/environments")
def list_environments() -> dict[str, Any]:
    environments = control_plane().environments
    return {
        "default": environments.default,
        "environments": [env.to_dict() for env in environments.profiles.values()],
    }
