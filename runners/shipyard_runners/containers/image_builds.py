"""The two images of a generation on the engine: its environment image, built when no
generation before it needed the same one, and its own image (see ``dockerfiles``).

Environment images are built one at a time per key in this process, so two generations
with the same packages never build it twice at once.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from shipyard_runners.containers import labels as label
from shipyard_runners.containers.builds import build_image
from shipyard_runners.containers.dockerfiles import (
    BUILD_ARGUMENTS,
    checked_python,
    environment_context,
    environment_dockerfile,
    environment_key,
    generation_context,
    generation_dockerfile,
)
from shipyard_runners.containers.engine import engine_errors
from shipyard_runners.protocol import BuildSpec, LogSink
from shipyard_runners.venvs import normalize_packages
from shipyard_sdk.errors import BuildFailed, InvalidPackageList, RunnerError

__all__ = ["DEFAULT_CA_BUNDLE", "BuiltImage", "ImageBuilds"]

DEFAULT_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_ENV_STEPS = {
    "python3 -c": "checking the base image's Python",
    "useradd": "adding the service user",
    "pip install": "installing packages",
    "compileall": "compiling bytecode",
}
_GENERATION_STEPS = {
    "COPY": "copying the code",
    "compileall": "compiling the code",
}


def _tag(kind: str, value: str) -> str:
    if not _TAG.match(value):
        raise RunnerError(f"{kind} {value!r} cannot be part of an image tag")
    return value


@dataclass(frozen=True)
class BuiltImage:
    reference: str
    env_key: str
    artifact_key: str


class ImageBuilds:
    """Builds the images of one installation, labelled as its own."""

    def __init__(self, installation: str, ca_bundle: Path) -> None:
        self.installation = installation
        self.ca_bundle = ca_bundle
        self._lock = threading.Lock()
        self._environment_locks: dict[str, threading.Lock] = {}

    def build(self, client: docker.DockerClient, spec: BuildSpec, log: LogSink
              ) -> BuiltImage:
        """Build the generation image of ``spec``, and its environment image if needed."""
        service_tag = _tag("service id", spec.service_id)
        generation = _tag("generation", spec.generation)
        python = checked_python(spec.python)
        try:
            packages = normalize_packages(spec.packages)
        except InvalidPackageList as exc:
            raise BuildFailed(exc.message) from exc
        base = spec.profile.base_image
        base_id = self._base_image_id(client, base, spec.profile.name)
        key = environment_key(base_id, python, packages)
        environment = self._ensure_environment(client, base, python, key, packages, log,
                                               spec.profile.memory_bytes)

        name = f"{generation}-{uuid.uuid4().hex[:8]}"
        reference = f"{self.repository('generations')}:{service_tag}.{name}"
        labels = label.installation_labels(self.installation, "generation", **{
            label.SERVICE: spec.service_id, label.GENERATION: generation,
            label.ENV_KEY: key, label.ARTIFACT: f"{spec.service_id}-{name}",
        })
        log(f"building image {reference}: the code of {generation} on environment {key}")
        started = time.monotonic()
        build_image(
            client,
            generation_context(generation_dockerfile(environment, generation, labels),
                               spec.code_dir),
            tag=reference, buildargs={}, steps=_GENERATION_STEPS, log=log,
            memory_bytes=spec.profile.memory_bytes,
        )
        log(f"built {spec.service_name} {generation} as {reference} "
            f"in {time.monotonic() - started:.1f} s")
        return BuiltImage(reference=reference, env_key=key,
                          artifact_key=f"{spec.service_id}-{name}")

    def repository(self, kind: str) -> str:
        """The repository of this installation's images of ``kind`` (``generations``,
        ``environments``)."""
        return f"shipyard/{self.installation}-{kind}"

    def _base_image_id(self, client: docker.DockerClient, base: str, profile: str) -> str:
        if not base:
            raise BuildFailed(f"profile {profile!r} names no base_image in environments.yaml")
        try:
            return str(client.images.get(base).id)
        except docker.errors.ImageNotFound:
            raise BuildFailed(
                f"base image {base} of profile {profile!r} is not on the Docker engine; "
                "build it with `shipyard images build-base`"
            ) from None
        except docker.errors.APIError as exc:
            raise BuildFailed(f"cannot look up base image {base}: {exc.explanation}") from exc

    def _ensure_environment(
        self, client: docker.DockerClient, base: str, python: str, key: str,
        packages: tuple[str, ...], log: LogSink, memory_bytes: int,
    ) -> str:
        """The reference of the environment image ``key``, built if it is not there."""
        reference = f"{self.repository('environments')}:{key}"
        with self._lock:
            lock = self._environment_locks.setdefault(key, threading.Lock())
        with lock:
            if self.labels_of(client, reference) is not None:
                log(f"environment {key}: reusing image {reference}, nothing to install")
                return reference
            log(f"environment {key}: building image {reference} for Python {python} on "
                f"{base} with {', '.join(packages) or 'no extra packages'}")
            try:
                ca_bundle = self.ca_bundle.read_bytes()
            except OSError as exc:
                raise BuildFailed(
                    f"cannot read the CA certificates {self.ca_bundle} that pip needs: "
                    f"{exc.strerror}"
                ) from exc
            labels = label.installation_labels(
                self.installation, "environment", **{label.ENV_KEY: key}
            )
            started = time.monotonic()
            build_image(
                client,
                environment_context(environment_dockerfile(base, python, labels), packages,
                                    ca_bundle),
                tag=reference, buildargs=self._build_arguments(),
                steps=_ENV_STEPS, log=log, memory_bytes=memory_bytes,
            )
            log(f"environment {key}: ready in {time.monotonic() - started:.1f} s")
        return reference

    def remove_environment_if_unused(self, client: docker.DockerClient, key: str) -> None:
        """Remove environment image ``key`` unless a generation image of this installation
        is built on it (a build that may be about to use it is the caller's to rule out)."""
        reference = f"{self.repository('environments')}:{_tag('environment', key)}"
        used_by = label.installation_filter(
            self.installation, {label.KIND: "generation", label.ENV_KEY: key}
        )
        with self._lock:
            lock = self._environment_locks.setdefault(key, threading.Lock())
        with lock, engine_errors(f"removing image {reference}"):
            if client.images.list(filters=used_by) or self.labels_of(client, reference) is None:
                return
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(reference)

    def _build_arguments(self) -> dict[str, str]:
        values = {name: os.environ[name] for name in BUILD_ARGUMENTS if os.environ.get(name)}
        # An index on this machine's disk means nothing inside a container.
        return {name: value for name, value in values.items() if "file:" not in value}

    def labels_of(self, client: docker.DockerClient, reference: str
                  ) -> dict[str, str] | None:
        """The labels of our image ``reference``, None when there is no such image of ours."""
        with engine_errors(f"looking up image {reference}"):
            try:
                image = client.images.get(reference)
            except docker.errors.ImageNotFound:
                return None
        labels = dict(image.labels or {})
        if labels.get(label.INSTALLATION) != self.installation:
            return None
        return labels
