"""``GET /healthz``: the control plane is up and its store answers."""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import text

from shipyard.api.context import control_plane

__all__ = ["health"]

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> dict[str, str]:
    """Whether the control plane is up and its store answers.
    ---
    tags: [platform]
    responses:
      "200":
        description: The control plane is up.
        content:
          application/json:
            schema:
              type: object
              properties:
                status: {type: string, enum: [ok]}
      default: {$ref: '#/components/responses/Error'}
    """
    with control_plane().store.reading() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok"}
