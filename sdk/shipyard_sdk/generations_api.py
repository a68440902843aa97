"""A service's generations from Python: export one as a package, import a package, delete
one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shipyard_sdk.services_api import service_path

if TYPE_CHECKING:
    from shipyard_sdk.client import Client

__all__ = ["GenerationsAPI"]


class GenerationsAPI:
    def __init__(self, client: Client) -> None:
        self._client = client

    def export(self, ref: str, tag: str) -> bytes:
        """Generation ``tag`` (``v2``) of ``ref`` as a package zip."""
        path = _generation_path(ref, tag) + "/package"
        return self._client.request("GET", path).content

    def import_package(
        self, ref: str, package: bytes, *, wait: bool = False, timeout: float = 600.0
    ) -> dict[str, Any]:
        """Add a package as ``ref``'s next generation; the generation. It builds, and what
        serves stays. With ``wait``, return once it is built: a build that fails raises
        ``BuildFailed``."""
        generation = self._client.json(
            "POST", service_path(ref) + "/generations/import", data=package,
            headers={"Content-Type": "application/zip"},
        )
        if wait:
            generation = self._client.services.wait_until_built(
                ref, generation["tag"], timeout=timeout
            )
        return generation

    def delete(self, ref: str, tag: str) -> None:
        """Delete generation ``tag``, which must neither serve nor challenge nor be
        building; its artifact is removed. Its tag is never given again."""
        self._client.json("DELETE", _generation_path(ref, tag))


def _generation_path(ref: str, tag: str) -> str:
    return f"{service_path(ref)}/generations/{quote(tag, safe='')}"
