"""Identity and access from Python: access keys, users, projects, API keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from shipyard_sdk.client import Client

__all__ = ["IamAPI"]


def _q(ref: str) -> str:
    return quote(ref, safe="")


class IamAPI:
    def __init__(self, client: Client) -> None:
        self._client = client

    def whoami(self) -> dict[str, Any]:
        return self._client.json("GET", "/iam/whoami")

    def create_token(
        self, *, expires_in: int | None = None, description: str = ""
    ) -> dict[str, Any]:
        """A new access key for the calling user, with its secret (shown this once)."""
        body: dict[str, Any] = {"description": description}
        if expires_in is not None:
            body["expires_in"] = expires_in
        return self._client.json("POST", "/iam/tokens", json=body)

    def list_tokens(self, *, everyone: bool = False) -> list[dict[str, Any]]:
        params = {"all": "true"} if everyone else None
        return self._client.json("GET", "/iam/tokens", params=params)["tokens"]

    def revoke_token(self, access_key_id: str) -> dict[str, Any]:
        return self._client.json("DELETE", f"/iam/tokens/{_q(access_key_id)}")

    def create_user(self, name: str, *, is_admin: bool = False) -> dict[str, Any]:
        return self._client.json("POST", "/iam/users", json={"name": name, "is_admin": is_admin})

    def list_users(self) -> list[dict[str, Any]]:
        return self._client.json("GET", "/iam/users")["users"]

    def set_password(self, user: str, password: str, *, current: str | None = None) -> None:
        """Set ``user``'s console password (an administrator sets anyone's; a user their
        own, with the ``current`` one when they have one)."""
        body = {"password": password}
        if current is not None:
            body["current_password"] = current
        self._client.json("PUT", f"/iam/users/{_q(user)}/password", json=body)

    def create_project(self, name: str) -> dict[str, Any]:
        return self._client.json("POST", "/iam/projects", json={"name": name})

    def list_projects(self) -> list[dict[str, Any]]:
        return self._client.json("GET", "/iam/projects")["projects"]

    def add_member(self, project: str, user: str) -> dict[str, Any]:
        return self._client.json("PUT", f"/iam/projects/{_q(project)}/members/{_q(user)}")

    def remove_member(self, project: str, user: str) -> dict[str, Any]:
        return self._client.json("DELETE", f"/iam/projects/{_q(project)}/members/{_q(user)}")

    def create_api_key(self, service: str, name: str = "") -> dict[str, Any]:
        """A new API key for ``service``, with the key itself (shown this once)."""
        return self._client.json(
            "POST", f"/api/v1/services/{_q(service)}/api-keys", json={"name": name}
        )

    def list_api_keys(self, service: str) -> list[dict[str, Any]]:
        return self._client.json("GET", f"/api/v1/services/{_q(service)}/api-keys")["api_keys"]

    def revoke_api_key(self, service: str, key_id: str) -> dict[str, Any]:
        return self._client.json(
            "DELETE", f"/api/v1/services/{_q(service)}/api-keys/{_q(key_id)}"
        )
