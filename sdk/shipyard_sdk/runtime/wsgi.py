"""What gunicorn serves in every instance: ``application``, the user's app behind the
health check (``shipyard_sdk.runtime.wsgi:application``). Importing it imports user code.

The gateway mounts a service at ``/user-services/invoke/<name>`` and says so in
``X-Forwarded-Prefix``; Werkzeug's ``ProxyFix`` makes it the app's ``SCRIPT_NAME``, so the
URLs the app makes (``url_for``, redirects, the pages of flasgger or Swagger UI it serves)
lead back through the gateway. Only the prefix is taken: the gateway sets it on every call
it forwards and drops a caller's, and it changes no path the app routes on.
"""

from __future__ import annotations

import os

from werkzeug.middleware.proxy_fix import ProxyFix

from shipyard_sdk.runtime.health import HealthCheck
from shipyard_sdk.runtime.loader import load_app

__all__ = ["application"]

application = HealthCheck(
    ProxyFix(load_app(), x_for=0, x_proto=0, x_host=0, x_port=0, x_prefix=1),
    os.environ.get("SHIPYARD_GENERATION"),
)
