"""A stored document as it is served: where to call it from, and how callers authenticate.

Documents are stored without ``servers``: the public URL can change between runs (``shipyard
up --port 0``) and a service can be renamed, so both are filled in when a document is
served. This is also the one place that will declare the platform's security schemes (SigV4
and API keys) once IAM lands: add them to ``SECURITY_SCHEMES`` and ``SECURITY``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

__all__ = ["SECURITY", "SECURITY_SCHEMES", "gateway_url", "published"]

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {}
"""Name → OpenAPI security scheme, declared in every served document (none before IAM)."""
SECURITY: list[dict[str, list[str]]] = []
"""The requirement applied to every operation of a service (none before IAM)."""

INVOKE_PREFIX = "/user-services/invoke/"


def gateway_url(public_url: str, service_name: str) -> str:
    """Where a service is called: relative to the gateway when the public URL is unknown."""
    return f"{public_url.rstrip('/')}{INVOKE_PREFIX}{quote(service_name, safe='')}"


def published(
    document: Mapping[str, Any], *, server_url: str, server_description: str = ""
) -> dict[str, Any]:
    """A copy of ``document`` with its server and the platform's security schemes."""
    server: dict[str, str] = {"url": server_url or "/"}
    if server_description:
        server["description"] = server_description
    stored = copy.deepcopy(dict(document))
    served: dict[str, Any] = {
        key: stored.pop(key) for key in ("openapi", "info") if key in stored
    }
    served["servers"] = [server]
    served.update((key, value) for key, value in stored.items() if key != "servers")
    if SECURITY_SCHEMES:
        components = served.setdefault("components", {})
        components.setdefault("securitySchemes", {}).update(copy.deepcopy(SECURITY_SCHEMES))
        served["security"] = copy.deepcopy(SECURITY)
    return served
