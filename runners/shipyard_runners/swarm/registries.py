"""The registry every node of the swarm pulls generation images from.

A build makes its images on the manager's engine as the docker runner does, then tags the
generation image into the registry (``<registry>/shipyard/<installation>-generations:<tag>``)
and pushes it from that engine; the artifact is the pushed reference pinned by its digest
(``...:<tag>@sha256:...``), so every node runs exactly what was built. Pushes and pulls are
the engines' own (their ``insecure-registries``, their logins); this module only reads and
deletes manifests over the registry's HTTP API (Docker Registry v2), plain HTTP for a
registry on loopback, HTTPS otherwise, without credentials. A registry that does not allow
deletes keeps the images of removed generations; a log line says so.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import docker
import docker.errors
import requests

from shipyard_runners.containers.engine import engine_errors
from shipyard_runners.containers.host_address import is_loopback
from shipyard_runners.protocol import LogSink
from shipyard_sdk.errors import BuildFailed, InvalidInput, RunnerError

__all__ = ["ImageName", "Registry"]

logger = logging.getLogger(__name__)

_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:\d{1,5})?$")
_MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])
HTTP_TIMEOUT = 30.0
_QUIET_STATUSES = ("Preparing", "Waiting", "Pushing")


@dataclass(frozen=True)
class ImageName:
    """A reference split in its parts: ``[registry/]repository[:tag][@digest]``."""

    registry: str
    repository: str
    tag: str
    digest: str

    @classmethod
    def parse(cls, reference: str) -> ImageName:
        name, _, digest = reference.partition("@")
        first, slash, rest = name.partition("/")
        registry = ""
        if slash and ("." in first or ":" in first or first == "localhost"):
            registry, name = first, rest
        repository, colon, tag = name.rpartition(":")
        if not colon or "/" in tag:
            repository, tag = name, ""
        return cls(registry=registry, repository=repository, tag=tag, digest=digest)

    @property
    def local(self) -> str:
        """The name the image has on the engine that built it."""
        return f"{self.repository}:{self.tag}" if self.tag else self.repository

    @property
    def tagged(self) -> str:
        """The name in the registry, without the digest."""
        return f"{self.registry}/{self.local}"

    @property
    def pinned(self) -> str:
        """The name in the registry by its digest, the tag kept for people to read."""
        return f"{self.tagged}@{self.digest}" if self.digest else self.tagged


class Registry:
    """The registry at ``address`` (``host[:port]``, as image references name it)."""

    def __init__(self, address: str) -> None:
        address = address.strip()
        if not _ADDRESS.match(address):
            raise InvalidInput(
                f"swarm_registry must be a registry address such as 127.0.0.1:5000 "
                f"(host and port, no scheme or path), got {address!r}"
            )
        self.address = address
        host = address.rsplit(":", 1)[0] if not address.endswith("]") else address
        self._base = f"{'http' if is_loopback(host) else 'https'}://{address}"

    def name(self, local: str) -> ImageName:
        """The registry's name for the engine's image ``local``."""
        parsed = ImageName.parse(local)
        return ImageName(self.address, parsed.repository, parsed.tag, "")

    def check_reachable(self, client: docker.DockerClient, repository: str) -> None:
        """``BuildFailed`` unless the engine reaches the registry (asked for a tag of
        ``repository`` that does not exist: the registry's "unknown" is an answer)."""
        try:
            client.images.get_registry_data(f"{self.address}/{repository}:reachable")
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            raise BuildFailed(
                f"the registry {self.address} (swarm_registry) cannot be reached from the "
                f"Docker engine: {str(exc.explanation or exc).strip()}"
            ) from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise BuildFailed(f"asking the engine about the registry {self.address} failed: "
                              f"{exc}") from exc

    def push(self, client: docker.DockerClient, local: str, log: LogSink) -> ImageName:
        """Tag the engine's image ``local`` into the registry and push it, logging each
        layer as it is pushed or found there; the pushed name with its digest."""
        name = self.name(local)
        log(f"pushing {name.tagged} to the registry {self.address}")
        with engine_errors(f"pushing {name.tagged}", BuildFailed):
            client.images.get(local).tag(f"{self.address}/{name.repository}", name.tag)
            messages: Iterable[Mapping[str, object]] = client.api.push(
                f"{self.address}/{name.repository}", tag=name.tag, stream=True, decode=True)
            digest, failure = "", ""
            for message in messages:  # read to the end: a stream left half-read stays open
                if "error" in message and not failure:
                    failure = str(message["error"]).strip()
                elif isinstance(message.get("aux"), dict):
                    digest = str(message["aux"].get("Digest") or "")  # type: ignore[union-attr]
                elif message.get("status") and message.get("status") not in _QUIET_STATUSES:
                    layer = f"{message['id']}: " if message.get("id") else ""
                    log(f"{layer}{message['status']}")
        if failure:
            raise BuildFailed(f"pushing {name.tagged} to the registry {self.address} "
                              f"(swarm_registry) failed: {failure}")
        if not digest:
            raise BuildFailed(f"the registry {self.address} took {name.tagged} but the "
                              "engine named no digest")
        log(f"pushed {name.tagged} as {digest}")
        return ImageName(name.registry, name.repository, name.tag, digest)

    def holds(self, client: docker.DockerClient, name: ImageName) -> bool:
        """Whether the registry still has the image (asked through the engine, which
        reaches it as the nodes do)."""
        try:
            client.images.get_registry_data(name.pinned)
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as exc:
            raise RunnerError(f"the registry {self.address} (swarm_registry) cannot be asked "
                              f"for {name.tagged}: {str(exc.explanation or exc).strip()}"
                              ) from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise RunnerError(f"asking the engine about {name.tagged} failed: {exc}") from exc
        return True

    def delete(self, name: ImageName) -> None:
        """Delete the manifest ``name`` pins; idempotent. The registry's garbage collection
        frees its layers."""
        digest = name.digest or self._digest(name.repository, name.tag)
        if digest:
            self._request("DELETE", f"{name.repository}/manifests/{digest}", name.tagged)

    def delete_repository(self, repository: str) -> int:
        """Delete every tag of ``repository``; how many went."""
        answer = self._request("GET", f"{repository}/tags/list", repository)
        if answer is None:
            return 0
        tags = (answer.json() or {}).get("tags") or []
        gone = 0
        for tag in tags:
            digest = self._digest(repository, str(tag))
            if digest and self._request("DELETE", f"{repository}/manifests/{digest}",
                                        f"{repository}:{tag}") is not None:
                gone += 1
        return gone

    def _digest(self, repository: str, tag: str) -> str:
        answer = self._request("HEAD", f"{repository}/manifests/{tag}", f"{repository}:{tag}")
        return "" if answer is None else answer.headers.get("Docker-Content-Digest", "")

    def _request(self, method: str, path: str, what: str) -> requests.Response | None:
        """The registry's answer; None for what it does not have (or, for a delete, does
        not allow: logged)."""
        url = f"{self._base}/v2/{path}"
        try:
            answer = requests.request(method, url, timeout=HTTP_TIMEOUT,
                                      headers={"Accept": _MANIFEST_TYPES})
        except requests.exceptions.RequestException as exc:
            raise RunnerError(f"the registry {self.address} (swarm_registry) cannot be "
                              f"reached at {self._base}: {exc}") from exc
        if answer.status_code == 404:
            return None
        if method == "DELETE" and answer.status_code == 405:
            logger.warning("the registry %s does not allow deletes; %s stays there",
                           self.address, what)
            return None
        if answer.status_code >= 400:
            raise RunnerError(f"the registry {self.address} answered {answer.status_code} to "
                              f"{method} {what}: {answer.text.strip()[:200]}")
        return answer
