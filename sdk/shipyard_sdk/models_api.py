"""``/api/v1/models`` from Python: upload trained models and deploy them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shipyard_sdk.services_api import service_path

if TYPE_CHECKING:
    from shipyard_sdk.client import Client

__all__ = ["ModelsAPI"]


class ModelsAPI:
    def __init__(self, client: Client) -> None:
        self._client = client

    def upload(self, name: str, model: bytes, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """Upload a new version of model ``name``; ``metadata`` holds its features, target,
        problem_type, packages, description and baseline records."""
        return self._client.json(
            "POST",
            "/api/v1/models",
            data={"metadata": json.dumps({**metadata, "name": name})},
            files={"model": ("model.joblib", model, "application/octet-stream")},
        )

    def list(self) -> list[dict[str, Any]]:
        return self._client.json("GET", "/api/v1/models")["models"]

    def versions(self, name: str) -> list[dict[str, Any]]:
        return self._client.json("GET", "/api/v1/models/" + quote(name, safe=""))["versions"]

    def deploy(
        self, name: str, version: int | None = None, *, service: str | None = None,
        environment: str | None = None,
    ) -> dict[str, Any]:
        """Create or update the model service and start deploying it."""
        body = {"version": version, "service": service, "environment": environment}
        return self._client.json(
            "POST",
            f"/api/v1/models/{quote(name, safe='')}/deploy",
            json={k: v for k, v in body.items() if v is not None},
        )

    def replace(
        self, service: str, model: str, version: int | None = None, *, reason: str,
        note: str = "",
    ) -> dict[str, Any]:
        """Replace the model version ``service`` serves by ``model`` (version ``version``,
        default the newest) for ``reason``; a failing validation raises
        ``ReplacementBlocked``."""
        body = {"model": model, "version": version, "reason": reason, "note": note}
        return self._client.json(
            "POST", _replacements_path(service),
            json={k: v for k, v in body.items() if v is not None},
        )

    def validate_replacement(
        self, service: str, model: str, version: int | None = None
    ) -> dict[str, Any]:
        """The static checks of a replacement, without replacing anything."""
        body = {"model": model, "version": version}
        return self._client.json(
            "POST", _replacements_path(service) + "/validate",
            json={k: v for k, v in body.items() if v is not None},
        )

    def replacements(self, service: str) -> list[dict[str, Any]]:
        """``service``'s model replacements, newest first."""
        return self._client.json("GET", _replacements_path(service))["replacements"]

    def replacement(self, service: str, replacement_id: str) -> dict[str, Any]:
        return self._client.json(
            "GET", f"{_replacements_path(service)}/{quote(replacement_id, safe='')}"
        )


def _replacements_path(service: str) -> str:
    return service_path(service) + "/model-replacements"
