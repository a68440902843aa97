"""The Shipyard client: the control-plane API from Python, errors raised as typed exceptions.

    client = Client("http://127.0.0.1:8080", access_key="SY...", secret_key="...")
    client.services.create({"name": "add-numbers"})

Every request is signed with AWS Signature Version 4 (requests-aws4auth). Credentials
not given are found as ``shipyard_sdk.credentials`` says (the environment, a credentials
file, the local administrator's); without any, the client calls anonymously, which
reaches public services only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests
from requests_aws4auth import AWS4Auth

from shipyard_sdk.batch_api import BatchAPI
from shipyard_sdk.credentials import SigningCredentials, find_credentials
from shipyard_sdk.errors import InvalidInput, ShipyardError, Unavailable, error_from_payload
from shipyard_sdk.generations_api import GenerationsAPI
from shipyard_sdk.iam_api import IamAPI
from shipyard_sdk.models_api import ModelsAPI
from shipyard_sdk.services_api import ServicesAPI
from shipyard_sdk.traffic_api import TrafficAPI
from shipyard_sdk.user_services import UserServicesAPI

__all__ = ["Client", "error_of"]

DEFAULT_TIMEOUT = 60.0
DEFAULT_REGION = "us-east-1"
DEFAULT_SIGNING_SERVICE = "execute-api"


class Client:
    def __init__(
        self,
        url: str,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str | None = None,
        service: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        if bool(access_key) != bool(secret_key):
            raise InvalidInput("give both an access key and its secret key, or neither")
        found = (SigningCredentials(access_key, secret_key) if access_key and secret_key
                 else find_credentials())
        if found is not None:
            self.session.auth = AWS4Auth(
                found.access_key_id, found.secret_access_key,
                region or found.region or DEFAULT_REGION,
                service or found.service or DEFAULT_SIGNING_SERVICE,
            )
        self.services = ServicesAPI(self)
        self.models = ModelsAPI(self)
        self.generations = GenerationsAPI(self)
        self.user_services = UserServicesAPI(self)
        self.iam = IamAPI(self)
        self.traffic = TrafficAPI(self)
        self.batch = BatchAPI(self)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send one request; an error answer raises the class the server raised."""
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, self.url + path, **kwargs)
        except requests.ConnectionError as exc:
            raise Unavailable(f"cannot reach Shipyard at {self.url}: {exc}") from exc
        except requests.Timeout as exc:
            raise Unavailable(f"Shipyard at {self.url} did not answer in time") from exc
        if response.status_code >= 400:
            raise error_of(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def stream_lines(self, path: str, **kwargs: Any) -> Iterator[str]:
        """Lines of a streamed text answer, as they arrive."""
        kwargs.setdefault("timeout", (self.timeout, None))
        response = self.request("GET", path, stream=True, **kwargs)
        with response:
            yield from response.iter_lines(decode_unicode=True)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def error_of(response: requests.Response) -> ShipyardError:
    """The typed error an error answer stands for."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    return error_from_payload(response.status_code, payload)
