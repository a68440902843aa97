"""The Shipyard client: the control-plane API from Python, errors raised as typed exceptions.

    client = Client("http://127.0.0.1:8080")
    client.services.create({"name": "add-numbers"})
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import requests

from shipyard_sdk.errors import ShipyardError, Unavailable, error_from_payload

__all__ = ["Client", "ServicesAPI"]

DEFAULT_TIMEOUT = 60.0


class Client:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.services = ServicesAPI(self)

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
            raise _error_of(response)
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


class ServicesAPI:
    """``/api/v1/services``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self) -> list[dict[str, Any]]:
        return self._client.json("GET", "/api/v1/services")["services"]

    def get(self, ref: str) -> dict[str, Any]:
        return self._client.json("GET", _service_path(ref))

    def create(self, spec: Mapping[str, Any], archive: bytes | None = None) -> dict[str, Any]:
        """Create from a template, or from ``archive`` (zip or tar.gz) when given."""
        if archive is None:
            return self._client.json("POST", "/api/v1/services", json=dict(spec))
        return self._client.json(
            "POST",
            "/api/v1/services",
            data={"service": json.dumps(dict(spec))},
            files={"archive": ("service.zip", archive, "application/zip")},
        )

    def update(self, ref: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        return self._client.json("PATCH", _service_path(ref), json=dict(changes))

    def delete(self, ref: str) -> None:
        self._client.json("DELETE", _service_path(ref))

    def enable(self, ref: str) -> dict[str, Any]:
        return self._client.json("POST", _service_path(ref) + "/enable")

    def disable(self, ref: str) -> dict[str, Any]:
        return self._client.json("POST", _service_path(ref) + "/disable")

    def files(self, ref: str) -> list[dict[str, Any]]:
        return self._client.json("GET", _service_path(ref) + "/files")["files"]

    def read_file(self, ref: str, path: str) -> bytes:
        return self._client.request("GET", _file_path(ref, path)).content

    def write_file(self, ref: str, path: str, content: bytes) -> dict[str, Any]:
        return self._client.json("PUT", _file_path(ref, path), data=content)

    def delete_file(self, ref: str, path: str) -> None:
        self._client.json("DELETE", _file_path(ref, path))

    def replace_files(self, ref: str, archive: bytes) -> list[dict[str, Any]]:
        headers = {"Content-Type": "application/octet-stream"}
        answer = self._client.json(
            "PUT", _service_path(ref) + "/files", data=archive, headers=headers
        )
        return answer["files"]

    def archive(self, ref: str) -> bytes:
        return self._client.request("GET", _service_path(ref) + "/archive").content

    def deploy(self, ref: str) -> dict[str, Any]:
        """Start building a new generation from the service's current files."""
        return self._client.json("POST", _service_path(ref) + "/deploy")

    def undeploy(self, ref: str) -> dict[str, Any]:
        return self._client.json("POST", _service_path(ref) + "/undeploy")

    def builds(self, ref: str) -> list[dict[str, Any]]:
        return self._client.json("GET", _service_path(ref) + "/builds")["builds"]

    def build(self, ref: str, number: int) -> dict[str, Any]:
        return self._client.json("GET", f"{_service_path(ref)}/builds/{number}")

    def build_log(self, ref: str, number: int, *, follow: bool = False) -> Iterator[str]:
        """The build's log lines; with ``follow``, as they come until the build ends."""
        path = f"{_service_path(ref)}/builds/{number}/log"
        return self._client.stream_lines(path, params={"follow": "true" if follow else "false"})

    def runtime_logs(self, ref: str, tail: int = 200) -> str:
        path = _service_path(ref) + "/logs"
        return self._client.request("GET", path, params={"tail": str(tail)}).text


def _service_path(ref: str) -> str:
    return "/api/v1/services/" + quote(ref, safe="")


def _file_path(ref: str, path: str) -> str:
    return _service_path(ref) + "/files/" + quote(path, safe="/")


def _error_of(response: requests.Response) -> ShipyardError:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    return error_from_payload(response.status_code, payload)
