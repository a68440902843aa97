"""What services can be built from: environment profiles and templates."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from shipyard.api.context import control_plane

__all__ = ["catalog"]

catalog = Blueprint("catalog", __name__)


@catalog.get("/environments")
def list_environments() -> dict[str, Any]:
    """The environment profiles services can run on.
    ---
    tags: [platform]
    responses:
      "200":
        description: Every profile, and the default one.
        content:
          application/json:
            schema:
              type: object
              required: [default, environments]
              properties:
                default: {type: string, example: small}
                environments:
                  type: array
                  items: {$ref: '#/components/schemas/Environment'}
      default: {$ref: '#/components/responses/Error'}
    """
    environments = control_plane().environments
    return {
        "default": environments.default,
        "environments": [env.to_dict() for env in environments.profiles.values()],
    }
