"""The docker runner: generations built into images, instances run as containers.

A build makes (or reuses) the environment image of the generation's packages on its
profile's base image, then the generation image with the code on top (see
``dockerfiles``); the artifact is the generation image's reference. An instance is a
container of that image running gunicorn as the non-root ``shipyard`` user, its port 8000
published on loopback only (``127.0.0.1``, a port the engine picks), with the profile's
limits (see ``limits``). Its handle holds the container's main process id, so that a handle
whose pid is not the container's main process is never taken for it.

Memory: the kernel enforces the limit on the container as a whole, and kills a process of
it when it is exceeded. The runner then kills the whole container, and its ``health`` says
``exited`` and its log ends with a line saying it was killed for memory: an instance that
lost a worker this way is not left half-serving. The engine reports such kills as ``oom``
events, which ``health`` looks for.

What the runner makes carries labels (see ``labels``) naming this installation, so
``purge`` removes its own objects and nobody else's. Build contexts are made in memory;
``root`` holds what outlives a container: its output once stopped and the runner's notes.

The runner never restarts a container: ``health`` says ``exited`` and the supervisor calls
``stop`` (which removes it) and ``start`` again.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import logging
import math
import os
import re
import tarfile
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from shipyard_runners.containers import labels as label
from shipyard_runners.containers.builds import build_image
from shipyard_runners.containers.dockerfiles import (
    APP_DIR,
    APP_PORT,
    BUILD_ARGUMENTS,
    ROUTES_FILE,
    SERVICE_USER,
    VENV,
    checked_python,
    environment_context,
    environment_dockerfile,
    environment_key,
    generation_context,
    generation_dockerfile,
)
from shipyard_runners.containers.engine import engine_at, engine_errors
from shipyard_runners.containers.limits import NANO, limits_for
from shipyard_runners.containers.usage import ContainerMeter, memory_in_use
from shipyard_runners.processes import tail as tail_of_file
from shipyard_runners.protocol import (
    AppRoutes,
    Artifact,
    BuildSpec,
    InstanceHandle,
    LogSink,
    Profile,
    Route,
    State,
    Usage,
)
from shipyard_runners.venvs import normalize_packages
from shipyard_sdk.errors import BuildFailed, InvalidPackageList, RunnerError
from shipyard_sdk.runtime.health import HEALTH_PATH

__all__ = ["DockerRunner"]

logger = logging.getLogger(__name__)

WSGI_APP = "shipyard_sdk.runtime.wsgi:application"
GUNICORN_CONFIG = "python:shipyard_sdk.runtime.gunicorn_conf"
INSTANCE_THREADS = 4
INSTANCE_KEEP_ALIVE = 75
MAX_ROUTE_LIST_BYTES = 16 * 1024 * 1024
DEFAULT_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_INSTANCE_ID = re.compile(r"^[0-9a-f]{32}$")
_ENV_STEPS = {
    "python3 -c": "checking the base image's Python",
    "useradd": "adding the service user",
    "pip install": "installing packages",
    "compileall": "compiling bytecode",
}
_GENERATION_STEPS = {
    "COPY": "copying the code",
    "shipyard_sdk.runtime.routes": "importing the app",
}


def _tag(kind: str, value: str) -> str:
    if not _TAG.match(value):
        raise RunnerError(f"{kind} {value!r} cannot be part of an image tag")
    return value


def _memory(limit: int) -> str:
    return f"{limit / 1024**2:.0f} MiB"


class DockerRunner:
    """Builds generations into images and runs them as containers on a Docker engine."""

    name = "docker"

    def __init__(
        self,
        root: Path,
        *,
        installation: str,
        base_url: str | None = None,
        host: str = "127.0.0.1",
        request_timeout: float = 120.0,
        graceful_timeout: float = 30.0,
        health_timeout: float = 2.0,
        ca_bundle: Path | None = None,
    ) -> None:
        self.root = Path(root).absolute()
        self.installation = label.checked_installation(installation)
        self.engine = engine_at(base_url)
        self.host = host
        self.request_timeout = request_timeout
        self.graceful_timeout = graceful_timeout
        self.health_timeout = health_timeout
        self.ca_bundle = ca_bundle or DEFAULT_CA_BUNDLE
        self._lock = threading.Lock()
        self._environment_locks: dict[str, threading.Lock] = {}
        self._answered: set[str] = set()
        self._meter = ContainerMeter()

    # -- builds ---------------------------------------------------------------------------

    def build(self, spec: BuildSpec, log: LogSink) -> Artifact:
        if not spec.code_dir.is_dir():
            raise BuildFailed(f"the code directory {spec.code_dir} does not exist")
        service_tag = _tag("service id", spec.service_id)
        generation = _tag("generation", spec.generation)
        python = checked_python(spec.python)
        try:
            packages = normalize_packages(spec.packages)
        except InvalidPackageList as exc:
            raise BuildFailed(exc.message) from exc
        log(f"building {spec.service_name} {generation} on the docker runner")
        client = self.engine.client(BuildFailed)
        base = spec.profile.base_image
        base_id = self._base_image_id(client, base, spec.profile.name)
        key = environment_key(base_id, python, packages)
        environment = self._ensure_environment(client, base, python, key, packages, log)

        name = f"{generation}-{uuid.uuid4().hex[:8]}"
        reference = f"{self._repository('generations')}:{service_tag}.{name}"
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
        )
        log(f"built {spec.service_name} {generation} as {reference} "
            f"in {time.monotonic() - started:.1f} s")
        return Artifact(
            key=f"{spec.service_id}-{name}", env_key=key, path=reference, runner=self.name
        )

    def _repository(self, kind: str) -> str:
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
        packages: tuple[str, ...], log: LogSink,
    ) -> str:
        """The reference of the environment image ``key``, built if it is not there."""
        reference = f"{self._repository('environments')}:{key}"
        with self._lock:
            lock = self._environment_locks.setdefault(key, threading.Lock())
        with lock:
            if self._image_labels(client, reference) is not None:
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
                steps=_ENV_STEPS, log=log,
            )
            log(f"environment {key}: ready in {time.monotonic() - started:.1f} s")
        return reference

    def _build_arguments(self) -> dict[str, str]:
        values = {name: os.environ[name] for name in BUILD_ARGUMENTS if os.environ.get(name)}
        # An index on this machine's disk means nothing inside a container.
        return {name: value for name, value in values.items() if "file:" not in value}

    def _image_labels(self, client: docker.DockerClient, reference: str
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

    def routes(self, artifact: Artifact, log: LogSink) -> AppRoutes:
        """The route list the build made by importing the app as the ``shipyard`` user
        (see ``dockerfiles``), read from the image through a container that never starts."""
        if not self.exists(artifact):
            raise RunnerError(f"artifact {artifact.key} is gone; build it again")
        client = self.engine.client(BuildFailed)
        log(f"reading the app's route list from {artifact.path}")
        with engine_errors("reading the app's route list", BuildFailed):
            container = client.containers.create(
                artifact.path,
                labels=label.installation_labels(self.installation, "routes", **{
                    label.ARTIFACT: artifact.key}),
            )
            try:
                bits, stat = container.get_archive(ROUTES_FILE)
                if int(stat.get("size", 0)) > MAX_ROUTE_LIST_BYTES:
                    raise BuildFailed(
                        f"the app's route list is over {MAX_ROUTE_LIST_BYTES} bytes"
                    )
                packed = b"".join(bits)
            finally:
                with contextlib.suppress(docker.errors.APIError):
                    container.remove(force=True)
        try:
            with tarfile.open(fileobj=io.BytesIO(packed)) as archive:
                member = archive.extractfile(archive.getmembers()[0])
                if member is None:
                    raise ValueError("it is not a file")
                listed = json.loads(member.read().decode("utf-8"))
            routes = tuple(
                Route(
                    rule=str(item["rule"]), endpoint=str(item["endpoint"]),
                    method=str(item["method"]), docstring=str(item.get("docstring") or ""),
                )
                for item in listed["routes"]
            )
        except (OSError, ValueError, KeyError, TypeError, IndexError,
                tarfile.TarError) as exc:
            raise BuildFailed(f"the app's route list is unreadable: {exc}") from exc
        return AppRoutes(routes=routes, problem=str(listed.get("problem") or ""))

    def exists(self, artifact: Artifact) -> bool:
        self._check_runner(artifact.runner)
        client = self.engine.client()
        labels = self._image_labels(client, artifact.path)
        return labels is not None and labels.get(label.ARTIFACT) == artifact.key

    def remove(self, artifact: Artifact) -> None:
        """Delete the generation image; its environment image stays for other generations.
        Stop its instances first."""
        self._check_runner(artifact.runner)
        client = self.engine.client()
        labels = self._image_labels(client, artifact.path)
        if labels is None:
            return
        if labels.get(label.ARTIFACT) != artifact.key:
            raise RunnerError(f"{artifact.path} is not the image of artifact {artifact.key}")
        with engine_errors(f"removing image {artifact.path}"), \
                contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(artifact.path)

    # -- instances ------------------------------------------------------------------------

    def start(
        self, artifact: Artifact, profile: Profile, env: Mapping[str, str]
    ) -> InstanceHandle:
        if not self.exists(artifact):
            raise RunnerError(f"artifact {artifact.key} is gone; build it again")
        client = self.engine.client()
        container, limits = self._create(client, artifact, profile, env)
        instance_id = str(container.labels[label.INSTANCE])
        started_at = time.time()
        try:
            container.start()
            container.reload()
        except docker.errors.APIError as exc:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
            reason = str(exc.explanation or exc)
            if limits.gpus and ("nvidia" in reason or "device driver" in reason):
                raise RunnerError(
                    f"profile {profile.name!r} asks for {limits.gpus} NVIDIA GPU(s) and this "
                    f"Docker engine cannot give them (no NVIDIA container runtime?): {reason}"
                ) from exc
            raise RunnerError(f"cannot start an instance of {artifact.key}: {reason}") from exc
        if limits.capped_from is not None:
            self._note(instance_id, f"profile {profile.name!r} asks for "
                       f"{limits.capped_from:g} cpus; this engine has "
                       f"{limits.nano_cpus / NANO:g}, so it gets {limits.nano_cpus / NANO:g}")
        bindings = (container.ports or {}).get(f"{APP_PORT}/tcp") or [{}]
        return InstanceHandle(
            instance_id=instance_id,
            artifact_key=artifact.key,
            host=self.host,
            port=int(bindings[0].get("HostPort") or 0),
            pid=int(container.attrs["State"].get("Pid") or 0) or None,
            runner=self.name,
            started_at=started_at,
        )

    def create(self, artifact: Artifact, profile: Profile, env: Mapping[str, str]
               ) -> dict[str, Any]:
        """Create, without starting, the container an instance would run in, and return
        the engine's description of it (``docker inspect``); then remove it. What
        ``start`` would ask of the engine, seen from the engine's side."""
        client = self.engine.client()
        container, _ = self._create(client, artifact, profile, env)
        try:
            return dict(container.attrs)
        finally:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)

    def _create(
        self, client: docker.DockerClient, artifact: Artifact, profile: Profile,
        env: Mapping[str, str],
    ) -> tuple[Container, Any]:
        image_labels = self._image_labels(client, artifact.path) or {}
        instance_id = uuid.uuid4().hex
        with engine_errors("asking the engine for its cores"):
            engine_cpus = int(client.info().get("NCPU") or 0)
        limits = limits_for(profile, engine_cpus)
        workers = max(1, int(min(profile.cpu, limits.nano_cpus / NANO or profile.cpu)))
        command = [
            f"{VENV}/bin/python", "-m", "gunicorn",
            "--config", GUNICORN_CONFIG,
            "--bind", f"0.0.0.0:{APP_PORT}",
            "--workers", str(workers),
            "--worker-class", "gthread",
            "--threads", str(INSTANCE_THREADS),
            "--keep-alive", str(INSTANCE_KEEP_ALIVE),
            "--timeout", str(round(self.request_timeout)),
            "--graceful-timeout", str(round(self.graceful_timeout)),
            WSGI_APP,
        ]
        environment = {
            **env,
            "SHIPYARD_GENERATION": image_labels.get(label.GENERATION, ""),
            "SHIPYARD_SERVICE_ID": image_labels.get(label.SERVICE, ""),
            "SHIPYARD_INSTANCE_ID": instance_id,
            "PYTHONUNBUFFERED": "1",
        }
        with engine_errors(f"creating an instance of {artifact.key}"):
            container = client.containers.create(
                artifact.path,
                command,
                name=self._container_name(instance_id),
                labels=label.installation_labels(self.installation, "instance", **{
                    label.INSTANCE: instance_id, label.ARTIFACT: artifact.key,
                    label.SERVICE: image_labels.get(label.SERVICE, ""),
                    label.GENERATION: image_labels.get(label.GENERATION, ""),
                }),
                environment=environment,
                ports={f"{APP_PORT}/tcp": (self.host,)},
                user=SERVICE_USER,
                working_dir=APP_DIR,
                stop_signal="SIGTERM",
                **limits.run_options(),
            )
        return container, limits

    def health(self, handle: InstanceHandle) -> State:
        try:
            state = self._container_state(handle)
        except RunnerError as exc:
            # The engine does not answer; the container may still serve, so its health
            # check decides.
            logger.warning("health of %s without the engine: %s", handle.instance_id, exc)
            state = None
        if state is not None:
            return state
        connection = http.client.HTTPConnection(
            handle.host, handle.port, timeout=self.health_timeout
        )
        try:
            connection.request("GET", HEALTH_PATH)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            # The engine's proxy accepts before gunicorn listens: starting, unless it
            # answered before.
            return State.UNHEALTHY if handle.instance_id in self._answered else State.STARTING
        finally:
            connection.close()
        if response.status != 200:
            return State.UNHEALTHY
        with self._lock:
            self._answered.add(handle.instance_id)
        return State.HEALTHY

    def _container_state(self, handle: InstanceHandle) -> State | None:
        """EXITED when the engine says the container is gone or was killed for memory;
        None when it runs."""
        container = self._container(handle)
        if container is None:
            return State.EXITED
        if container.status != "running":
            if container.attrs["State"].get("OOMKilled"):
                self._note_memory_kill(handle, container)
            return State.EXITED
        if self._killed_for_memory(handle, container):
            with contextlib.suppress(docker.errors.APIError):
                container.kill()
            self._note_memory_kill(handle, container)
            return State.EXITED
        return None

    def _killed_for_memory(self, handle: InstanceHandle, container: Container) -> bool:
        """Whether the kernel killed a process of the container for exceeding its limit."""
        client = self.engine.client()
        with engine_errors("reading the engine's events"):
            # An ``until`` in the future would make the engine wait for it.
            now = time.time()
            events = client.events(
                since=int(handle.started_at) - 1, until=f"{int(now)}.{int(now % 1 * 1e9):09d}",
                filters={"container": container.id, "event": "oom"}, decode=True,
            )
            try:
                return any(True for _ in events)
            finally:
                events.close()

    def _note_memory_kill(self, handle: InstanceHandle, container: Container) -> None:
        limit = int(container.attrs["HostConfig"].get("Memory") or 0)
        message = "killed: out of memory"
        if limit:
            message += f" (it used more than its limit of {_memory(limit)})"
        if not any(message in line for line in self._notes(handle.instance_id)):
            self._note(handle.instance_id, message)

    def stop(self, handle: InstanceHandle, grace: float = 30.0) -> None:
        self._check_runner(handle.runner)
        container = self._container(handle, running_only=False)
        with self._lock:
            self._answered.discard(handle.instance_id)
        self._meter.forget(handle.instance_id)
        if container is None:
            return
        if container.status == "running" and not self._is_handle_of(handle, container):
            return  # a stale handle: the container is someone else's now
        with engine_errors(f"stopping instance {handle.instance_id}"):
            try:
                if container.status == "running":
                    container.stop(timeout=max(0, math.ceil(grace)))
                self._save_output(handle, container)
                container.remove(force=True)
            except docker.errors.NotFound:
                pass

    def adopt(self, handle: InstanceHandle) -> bool:
        if handle.runner != self.name:
            return False
        try:
            container = self._container(handle)
        except RunnerError as exc:
            logger.warning("cannot adopt %s: %s", handle.instance_id, exc)
            return False
        return container is not None and container.status == "running"

    def logs(self, handle: InstanceHandle, tail: int | None = None) -> str:
        self._check_runner(handle.runner)
        container = self._container(handle, running_only=False)
        if container is not None:
            with engine_errors(f"reading the output of instance {handle.instance_id}"):
                output = container.logs(
                    stdout=True, stderr=True, tail="all" if tail is None else max(0, tail)
                ).decode("utf-8", "replace")
        else:
            output = tail_of_file(self._output_path(handle.instance_id), tail)
        text = output + "".join(
            f"shipyard: {line}\n" for line in self._notes(handle.instance_id)
        )
        if tail is None:
            return text
        kept = text.splitlines()[-tail:] if tail > 0 else []
        return "\n".join(kept) + "\n" if kept else ""

    def usage(self, handle: InstanceHandle) -> Usage:
        self._check_runner(handle.runner)
        container = self._container(handle)
        if container is None or container.status != "running":
            return Usage(cpu_percent=0.0, memory_bytes=0)
        try:
            stats = container.stats(stream=False, one_shot=True)
        except docker.errors.NotFound:
            return Usage(cpu_percent=0.0, memory_bytes=0)
        except (docker.errors.APIError, OSError) as exc:
            raise RunnerError(f"cannot read the usage of {handle.instance_id}: {exc}") from exc
        return Usage(
            cpu_percent=self._meter.cpu_percent(
                handle.instance_id, stats, container.attrs["State"]["StartedAt"]
            ),
            memory_bytes=memory_in_use(stats),
        )

    # -- housekeeping ---------------------------------------------------------------------

    def purge(self) -> tuple[int, int]:
        """Remove every container and image of this installation, running or not; the
        base images stay. Returns how many containers and images went."""
        client = self.engine.client()
        filters = label.installation_filter(self.installation)
        with engine_errors(f"removing the containers and images of {self.installation}"):
            containers = client.containers.list(all=True, filters=filters)
            for container in containers:
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True)
            removed = 0
            while True:
                images = client.images.list(all=True, filters=filters)
                # Newest first: children (generations, a build's intermediate layers) go
                # before the images they are built on; a parent left for the next round.
                images.sort(key=lambda image: str(image.attrs.get("Created")), reverse=True)
                progressed = False
                for image in images:
                    try:
                        client.images.remove(image.id, force=True)
                        removed += 1
                        progressed = True
                    except docker.errors.NotFound:
                        progressed = True  # went with a child removed before it
                    except docker.errors.APIError as exc:
                        if exc.status_code != 409:
                            raise
                if not images or not progressed:
                    break
            if images:
                raise RunnerError(
                    f"images of {self.installation} are still used: "
                    + ", ".join(image.short_id for image in images)
                )
        return len(containers), removed

    # -- helpers --------------------------------------------------------------------------

    def _container_name(self, instance_id: str) -> str:
        return f"shipyard-{self.installation}-{instance_id}"

    def _container(self, handle: InstanceHandle, running_only: bool = True
                   ) -> Container | None:
        """The container of ``handle``: ours, and, while it runs, with the handle's pid."""
        self._check_runner(handle.runner)
        if not _INSTANCE_ID.match(handle.instance_id):
            raise RunnerError(f"{handle.instance_id!r} is not an instance id of this runner")
        client = self.engine.client()
        with engine_errors(f"looking up instance {handle.instance_id}"):
            try:
                container = client.containers.get(self._container_name(handle.instance_id))
            except docker.errors.NotFound:
                return None
        labels = container.labels or {}
        if (labels.get(label.INSTALLATION) != self.installation
                or labels.get(label.INSTANCE) != handle.instance_id):
            return None
        if (running_only and container.status == "running"
                and not self._is_handle_of(handle, container)):
            return None
        return container

    def _is_handle_of(self, handle: InstanceHandle, container: Container) -> bool:
        pid = int(container.attrs["State"].get("Pid") or 0)
        return handle.pid is None or handle.pid == pid

    def _check_runner(self, runner: str) -> None:
        if runner != self.name:
            raise RunnerError(f"a {runner!r} artifact or instance given to the docker runner")

    def _output_path(self, instance_id: str) -> Path:
        return self.root / "instances" / f"{instance_id}.log"

    def _notes_path(self, instance_id: str) -> Path:
        return self.root / "instances" / f"{instance_id}.notes"

    def _save_output(self, handle: InstanceHandle, container: Container) -> None:
        """Keep a stopped container's output, which leaves the engine with it."""
        path = self._output_path(handle.instance_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(container.logs(stdout=True, stderr=True))

    def _note(self, instance_id: str, line: str) -> None:
        path = self._notes_path(instance_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as notes:
            notes.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    def _notes(self, instance_id: str) -> list[str]:
        try:
            return self._notes_path(instance_id).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
