"""Calling deployed services through the gateway.

With a client::

    client.user_services.invoke("post", "/add-numbers", "add-numbers", {"num1": 2, "num2": 5})

From inside a service instance, with nothing but the call itself (the runner sets
``SHIPYARD_URL`` for the instance)::

    from shipyard_sdk import user_services
    user_services.invoke("post", "/add-numbers", "<service id>", {"num1": 2, "num2": 5})
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shipyard_sdk.errors import ShipyardError, error_from_payload

if TYPE_CHECKING:
    import requests

    from shipyard_sdk.client import Client

__all__ = ["GENERATION_HEADER", "INVOKE_PREFIX", "ROUTES_HEADER", "UserServicesAPI", "invoke"]

INVOKE_PREFIX = "/user-services/invoke/"
GENERATION_HEADER = "X-Shipyard-Generation"
"""The gateway names the generation that answered in this header."""
ROUTES_HEADER = "X-Shipyard-Routes"
"""On the control plane's answers, the gateway tells in this header the serial of the
routing table it serves (a service's status tells the serial its route needs:
``routes_serial``)."""


class UserServicesAPI:
    def __init__(self, client: Client) -> None:
        self._client = client

    def invoke(
        self,
        method: str,
        path: str,
        service: str,
        payload: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Call ``method path`` on ``service`` (id or name); the decoded JSON answer (text
        when it is not JSON). An error answer raises the matching ``ShipyardError``."""
        url_path = INVOKE_PREFIX + quote(service, safe="") + "/" + path.lstrip("/")
        response = self._client.session.request(
            method.upper(),
            self._client.url + url_path,
            json=payload,
            params=params,
            headers=dict(headers or {}),
            timeout=self._client.timeout,
        )
        if response.status_code >= 400:
            raise _service_error(response)
        if not response.content:
            return None
        if "json" in response.headers.get("Content-Type", ""):
            return response.json()
        return response.text


def invoke(
    method: str, path: str, service: str, payload: Any = None, **kwargs: Any
) -> Any:
    """``UserServicesAPI.invoke`` on a client made from the environment (``SHIPYARD_URL``)."""
    from shipyard_sdk.client import Client

    url = os.environ.get("SHIPYARD_URL")
    if not url:
        raise ShipyardError("SHIPYARD_URL is not set: where is Shipyard?")
    with Client(url) as client:
        return client.user_services.invoke(method, path, service, payload, **kwargs)


def _service_error(response: requests.Response) -> ShipyardError:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return error_from_payload(response.status_code, payload)
    text = response.text.strip()[:500] or f"HTTP {response.status_code}"
    return error_from_payload(
        response.status_code, {"error": {"type": "", "message": text}}
    )
