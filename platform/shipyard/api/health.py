"""``GET /healthz``: the control plane is up and its store answers."""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import text

from shipyard.api.context import control_plane

__all__ = ["health"]

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> dict[str, str]:
    with control_plane().store.reading() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok"}
