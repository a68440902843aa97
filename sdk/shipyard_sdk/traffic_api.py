"""Traffic between a service's generations from Python: the mapping, switches, rollbacks
and the challenger."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shipyard_sdk.errors import RunnerError
from shipyard_sdk.services_api import gateway_serves, service_path

if TYPE_CHECKING:
    from shipyard_sdk.client import Client

__all__ = ["TrafficAPI"]


class TrafficAPI:
    """``/api/v1/services/<ref>/{generations,mapping,switch-to-newest,rollback,challenger}``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def generations(self, ref: str) -> list[dict[str, Any]]:
        """Each generation with ``mounted``, ``mapped_percent`` and ``challenger``."""
        return self._client.json("GET", service_path(ref) + "/generations")["generations"]

    def set_replicas(self, ref: str, tag: str, *, min_replicas: int | None = None,
                     max_replicas: int | None = None, service_bounds: bool = False
                     ) -> dict[str, Any]:
        """Set generation ``tag``'s own replica bounds (those given), or, with
        ``service_bounds``, give it its service's again; the generation as it stands."""
        if service_bounds:
            changes: dict[str, Any] = {"min_replicas": None, "max_replicas": None}
        else:
            changes = {key: value for key, value in (("min_replicas", min_replicas),
                                                     ("max_replicas", max_replicas))
                       if value is not None}
        return self._client.json("PATCH", service_path(ref) + f"/generations/{tag}",
                                 json=changes)

    def mapping(self, ref: str) -> dict[str, Any]:
        """``{"live": [...], "desired": [...], "challenger": tag or None}``."""
        return self._client.json("GET", service_path(ref) + "/mapping")

    def set_mapping(self, ref: str, mapping: Mapping[str, Any]) -> dict[str, Any]:
        """Ask for ``{"entries": [{"generation", "proba"}...]}`` or ``{"weights": {...}}``."""
        return self._client.json("PUT", service_path(ref) + "/mapping", json=dict(mapping))

    def switch_to_newest(
        self, ref: str, *, wait: bool = False, timeout: float = 600.0
    ) -> dict[str, Any]:
        """Ask for all traffic on the newest generation, even one still building; that
        generation. With ``wait``, return once it serves (the gateway included): a build
        that fails raises ``BuildFailed``, and the mapping in force stays."""
        generation = self._client.json("POST", service_path(ref) + "/switch-to-newest")
        if wait:
            self._client.services.wait_until_serving(ref, generation["tag"], timeout=timeout)
        return generation

    def rollback(self, ref: str, tag: str) -> dict[str, Any]:
        """Ask for all traffic back on generation ``tag``; that generation."""
        return self._client.json(
            "POST", service_path(ref) + "/rollback", json={"generation": tag}
        )

    def set_challenger(self, ref: str, tag: str | None) -> dict[str, Any]:
        """Copy every call to generation ``tag`` (None: to no generation)."""
        return self._client.json(
            "PUT", service_path(ref) + "/challenger", json={"generation": tag}
        )

    def wait_for_mapping(
        self, ref: str, *, timeout: float = 600.0, poll: float = 0.05
    ) -> dict[str, Any]:
        """Wait until the mapping asked for is in force, at the gateway too; the mappings
        then. A mapping that was given up (one of its generations could not serve) raises
        RunnerError."""
        wanted = self.mapping(ref)["desired"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = self._client.request("GET", service_path(ref) + "/mapping")
            mapping = answer.json()
            if mapping["live"] == wanted and gateway_serves(answer, mapping):
                return mapping
            if mapping["desired"] != wanted:
                status = self._client.services.get(ref)
                reason = status["status_message"] or status["state"]
                raise RunnerError(f"the mapping of {ref} was not put in force: {reason}")
            time.sleep(poll)
        raise RunnerError(f"the mapping of {ref} was not in force after {timeout:g}s")
