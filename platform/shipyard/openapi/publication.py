"""A stored document as it is served: where to call it from, and how callers authenticate.

Documents are stored without ``servers``: the public URL can change between runs (``shipyard
up --port 0``) and a service can be renamed, so both are filled in when a document is
served. This is also the one place that declares the platform's security schemes: AWS
Signature Version 4 (declared the way API Gateway does, as an ``Authorization`` header of
type ``awsSigv4``), API keys in the ``X-Api-Key`` header, and a browser's console session
(its cookie, with the CSRF token in ``X-CSRF-Token`` on every change).

Why here: this amends a stored document (a dict); apispec builds documents, it does
not amend stored ones.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from shipyard.contracts.routing_table import INVOKE_PREFIX

__all__ = ["SECURITY", "SECURITY_SCHEMES", "gateway_url", "published"]

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "sigv4": {
        "type": "apiKey", "name": "Authorization", "in": "header",
        "x-amazon-apigateway-authtype": "awsSigv4",
        "description": "AWS Signature Version 4 with a Shipyard access key (shipyard tokens "
                       "create); presigned query parameters are accepted too.",
    },
    "apiKey": {
        "type": "apiKey", "name": "X-Api-Key", "in": "header",
        "description": "An API key of this service (shipyard api-keys create SERVICE).",
    },
    "session": {
        "type": "apiKey", "name": "shipyard_session", "in": "cookie",
        "description": "A browser signed in to the console; every change also sends the "
                       "session's CSRF token (the shipyard_csrf cookie) in X-CSRF-Token.",
    },
}
"""Name → OpenAPI security scheme, declared in every served document."""
SECURITY: list[dict[str, list[str]]] = [{"sigv4": []}, {"apiKey": []}, {"session": []}]
"""The requirement applied to every operation of a service that is not public."""


def gateway_url(public_url: str, service_name: str) -> str:
    """Where a service is called: relative to the gateway when the public URL is unknown."""
    return f"{public_url.rstrip('/')}{INVOKE_PREFIX}{quote(service_name, safe='')}"


def published(
    document: Mapping[str, Any], *, server_url: str, server_description: str = "",
    public: bool = False,
) -> dict[str, Any]:
    """A copy of ``document`` with its server and the platform's security schemes; a
    ``public`` one (a service anyone may call) requires none of them."""
    server: dict[str, str] = {"url": server_url or "/"}
    if server_description:
        server["description"] = server_description
    stored = copy.deepcopy(dict(document))
    served: dict[str, Any] = {
        key: stored.pop(key) for key in ("openapi", "info") if key in stored
    }
    served["servers"] = [server]
    served.update((key, value) for key, value in stored.items() if key != "servers")
    components = served.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(copy.deepcopy(SECURITY_SCHEMES))
    served["security"] = [] if public else copy.deepcopy(SECURITY)
    return served
