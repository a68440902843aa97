"""What gunicorn serves in every instance: ``application``, the user's app behind the
health check (``shipyard_sdk.runtime.wsgi:application``). Importing it imports user code."""

from __future__ import annotations

import os

from shipyard_sdk.runtime.health import HealthCheck
from shipyard_sdk.runtime.loader import load_app

__all__ = ["application"]

application = HealthCheck(load_app(), os.environ.get("SHIPYARD_GENERATION"))
