"""How long a deploy may take before the control plane itself gives up on it.

``POST /api/v1/services/<id>/deploy`` answers it as ``settles_within``, so that a client
waiting for the new generation (``shipyard deploy``) waits as long as a deploy can take,
and no longer.
"""

from __future__ import annotations

from shipyard.settings import Settings
from shipyard_runners import CHECK_TIMEOUT, INSTALL_TIMEOUT

__all__ = ["BUILD_LIMIT", "settle_limit"]

BUILD_LIMIT = INSTALL_TIMEOUT + 2 * CHECK_TIMEOUT
"""The longest a build runs: the package install (30 min; the docker runner's image builds
share its bound through the engine's read timeout), then the local runner's import check
and route listing (5 min each)."""

MARGIN = 60.0
"""For the supervisor to pick the build up and the gateway to load the new routes."""


def settle_limit(settings: Settings | None = None) -> float:
    """Seconds after a deploy by which its generation serves or has been given up, on a
    control plane with ``settings`` (default: the default ``start_timeout``)."""
    start_timeout = Settings.start_timeout if settings is None else settings.start_timeout
    return BUILD_LIMIT + float(start_timeout) + MARGIN
