"""The docker runner: generations built into images, instances run as containers.

A build makes (or reuses) the environment image of the generation's packages on its
profile's base image, then the generation image with the code on top (see
``dockerfiles``), then imports the app in a container of it (see ``import_checks``); the
artifact is the generation image's reference, and the route list the check wrote is kept
in ``root/routes``. An instance is a
container of that image running gunicorn as the non-root ``shipyard`` user, its port 8000
published on loopback only (``127.0.0.1``, a port the engine picks), with the profile's
limits (see ``limits``). Its handle holds the container's main process id, so that a handle
whose pid is not the container's main process is never taken for it.

Memory: the kernel enforces the limit on the container as a whole and kills a process of
it past the limit; the runner then kills the whole container (an instance is not left
half-serving), ``health`` says ``exited`` and its notes say why (see ``memory_kills``).

GPUs: a profile's GPUs are looked for on the engine (see ``shipyard_runners.gpus``) at
each build, which logs what was found, and at each start, which refuses a profile whose
GPUs are missing or, with ``allow_cpu_fallback``, runs the container without a device
request. What an instance runs without (cpus beyond the engine's, its GPUs, an address of
this machine to call other services at) is noted in its log and its handle's notes.

What the runner makes carries labels (see ``labels``) naming this installation, so
``purge`` removes its own objects and nobody else's. Build contexts are made in memory;
``root`` holds what outlives a container (see ``records``).

Secrets are files of a folder in memory mounted read-only in the container (see
``secret_folders``), never its environment, which the engine shows to whoever asks it; the
service's runtime makes them environment variables as it starts. The engine must be on this
machine for that.

It never restarts a container: the supervisor calls ``stop`` (which removes it) and
``start`` again.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from shipyard_runners.containers import labels as label
from shipyard_runners.containers.dockerfiles import (
    APP_DIR,
    APP_PORT,
    SERVICE_USER,
)
from shipyard_runners.containers.engine import engine_at, engine_errors
from shipyard_runners.containers.host_address import bridge_gateway, url_for_containers
from shipyard_runners.containers.housekeeping import (
    discard_dangling_images,
    purge_installation,
)
from shipyard_runners.containers.image_builds import DEFAULT_CA_BUNDLE, ImageBuilds
from shipyard_runners.containers.import_checks import CHECK_COMMAND, run_import_check
from shipyard_runners.containers.instance_commands import (
    gunicorn_command,
    instance_environment,
    worker_count,
)
from shipyard_runners.containers.limits import limits_for
from shipyard_runners.containers.memory_kills import killed_for_memory, note_memory_kill
from shipyard_runners.containers.published_ports import wait_until_refused
from shipyard_runners.containers.records import InstanceRecords
from shipyard_runners.containers.route_lists import parse_route_list, read_route_list
from shipyard_runners.containers.secret_folders import (
    DEFAULT_SECRETS_ROOT,
    SECRETS_DIR,
    SecretFolders,
)
from shipyard_runners.containers.usage import ContainerMeter
from shipyard_runners.gpus import engine_gpus, gpu_plan
from shipyard_runners.health_probes import HealthProbes
from shipyard_runners.protocol import (
    NO_SECRETS,
    AppRoutes,
    Artifact,
    BuildSpec,
    InstanceHandle,
    LogSink,
    Profile,
    State,
    Usage,
)
from shipyard_sdk.errors import BuildFailed, RunnerError, ShipyardError
from shipyard_sdk.runtime.secret_files import SECRETS_DIR_VAR

__all__ = ["DockerRunner"]

logger = logging.getLogger(__name__)

_INSTANCE_ID = re.compile(r"^[0-9a-f]{32}$")
SHIPYARD_URL_VAR = "SHIPYARD_URL"  # where the SDK inside an instance finds the gateway
ENGINE = "the Docker engine"
CHECK_TIMEOUT = 300.0
"""The longest a build's import check may run."""
_LOOPBACK_HOSTS = ("127.", "localhost", "[::1]")


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
        secrets_root: Path = DEFAULT_SECRETS_ROOT,
        check_timeout: float = CHECK_TIMEOUT,
    ) -> None:
        self.root = Path(root).absolute()
        self.installation = label.checked_installation(installation)
        self.engine = engine_at(base_url)
        self.host = host
        self.request_timeout = request_timeout
        self.graceful_timeout = graceful_timeout
        self.check_timeout = check_timeout
        self.images = ImageBuilds(self.installation, ca_bundle or DEFAULT_CA_BUNDLE)
        self.secret_folders = SecretFolders(secrets_root, self.installation)
        self._probes = HealthProbes(health_timeout)
        self._meter = ContainerMeter()
        self.records = InstanceRecords(self.root / "instances")

    # -- builds ---------------------------------------------------------------------------

    def build(self, spec: BuildSpec, log: LogSink) -> Artifact:
        if not spec.code_dir.is_dir():
            raise BuildFailed(f"the code directory {spec.code_dir} does not exist")
        log(f"building {spec.service_name} {spec.generation} on the docker runner")
        client = self.engine.client(BuildFailed)
        if spec.secrets:
            self._check_engine_takes_secrets(BuildFailed)
        if spec.profile.gpu > 0:
            with engine_errors("asking the engine what it offers", BuildFailed):
                info = client.info()
            log(gpu_plan(spec.profile, engine_gpus(info), ENGINE).note)
        built = self.images.build(client, spec, log)
        artifact = Artifact(
            key=built.artifact_key, env_key=built.env_key, path=built.reference,
            runner=self.name,
        )
        try:
            self._save_route_list(artifact, self._import_check(client, artifact, spec, log))
        except BaseException:
            # Its environment image stays: the next build of the service will want it.
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(built.reference, force=True)
            self._route_list_path(artifact).unlink(missing_ok=True)
            raise
        return artifact

    def _import_check(self, client: docker.DockerClient, artifact: Artifact,
                      spec: BuildSpec, log: LogSink) -> bytes:
        """Import the app in a container of its new image, as an instance would; the route
        list it wrote."""
        log("checking that the app imports, in a container of its image"
            + (f", with secret(s) {', '.join(sorted(spec.secrets))} as files in {SECRETS_DIR}"
               if spec.secrets else ""))
        shown = {**spec.variables, "SHIPYARD_GENERATION": spec.generation}
        owner = f"check-{uuid.uuid4().hex}"
        container, limits, _ = self._create(
            client, artifact, spec.profile, shown, spec.secrets, owner=owner,
            command=list(CHECK_COMMAND), kind="check", error=BuildFailed,
        )
        try:
            return run_import_check(container, log, shown=shown, timeout=self.check_timeout,
                                    memory_bytes=limits.memory_bytes)
        finally:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
            self.secret_folders.remove(owner)

    def _route_list_path(self, artifact: Artifact) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", artifact.key):
            raise RunnerError(f"{artifact.key!r} is not an artifact key of this runner")
        return self.root / "routes" / f"{artifact.key}.json"

    def _save_route_list(self, artifact: Artifact, listed: bytes) -> None:
        path = self._route_list_path(artifact)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(listed)
        partial.replace(path)

    def _check_engine_takes_secrets(self, error: type[ShipyardError] = RunnerError) -> None:
        """Secret folders are on this machine: an engine elsewhere could not mount them."""
        where = self.engine.base_url or os.environ.get("DOCKER_HOST") or ""
        host = where.split("://", 1)[-1]
        if where and not where.startswith("unix://") and not host.startswith(_LOOPBACK_HOSTS):
            raise error(
                f"secrets are mounted from this machine's memory, and the Docker engine at "
                f"{where} is not on this machine"
            )

    def _image_labels(self, client: docker.DockerClient, reference: str
                      ) -> dict[str, str] | None:
        return self.images.labels_of(client, reference)

    def routes(self, artifact: Artifact, log: LogSink) -> AppRoutes:
        """The route list the build's import check wrote; for an image built before the
        check left the build, the one in the image, read through a container that never
        starts."""
        if not self.exists(artifact):
            raise RunnerError(f"artifact {artifact.key} is gone; build it again")
        with contextlib.suppress(FileNotFoundError):
            return parse_route_list(self._route_list_path(artifact).read_bytes())
        client = self.engine.client(BuildFailed)
        log(f"reading the app's route list from {artifact.path}")
        return read_route_list(client, artifact.path, label.installation_labels(
            self.installation, "routes", **{label.ARTIFACT: artifact.key}))

    def exists(self, artifact: Artifact) -> bool:
        self._check_runner(artifact.runner)
        client = self.engine.client()
        labels = self._image_labels(client, artifact.path)
        return labels is not None and labels.get(label.ARTIFACT) == artifact.key

    def remove(self, artifact: Artifact) -> None:
        """Delete the generation image, and its environment image unless another
        generation image is built on it. Stop its instances first (the engine refuses to
        remove an image a container uses), and build nothing meanwhile."""
        self._check_runner(artifact.runner)
        client = self.engine.client()
        labels = self._image_labels(client, artifact.path)
        if labels is not None:
            if labels.get(label.ARTIFACT) != artifact.key:
                raise RunnerError(
                    f"{artifact.path} is not the image of artifact {artifact.key}"
                )
            with engine_errors(f"removing image {artifact.path}"), \
                    contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(artifact.path)
        self._route_list_path(artifact).unlink(missing_ok=True)
        # Also when the generation image went before (a removal interrupted in between).
        self.images.remove_environment_if_unused(client, artifact.env_key)

    # -- instances ------------------------------------------------------------------------

    def start(
        self, artifact: Artifact, profile: Profile, env: Mapping[str, str],
        secrets: Mapping[str, str] = NO_SECRETS,
    ) -> InstanceHandle:
        if not self.exists(artifact):
            raise RunnerError(f"artifact {artifact.key} is gone; build it again")
        client = self.engine.client()
        container, limits, notes = self._create(client, artifact, profile, env, secrets)
        instance_id = str(container.labels[label.INSTANCE])
        started_at = time.time()
        try:
            container.start()
            container.reload()
        except docker.errors.APIError as exc:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
            self.secret_folders.remove(instance_id)
            reason = str(exc.explanation or exc)
            if limits.gpus and ("nvidia" in reason or "device driver" in reason):
                raise RunnerError(
                    f"profile {profile.name!r} asks for {limits.gpus} NVIDIA GPU(s) and this "
                    f"Docker engine cannot give them (no NVIDIA container runtime?): {reason}"
                ) from exc
            raise RunnerError(f"cannot start an instance of {artifact.key}: {reason}") from exc
        for note in notes:
            self.records.note(instance_id, note)
        bindings = (container.ports or {}).get(f"{APP_PORT}/tcp") or [{}]
        return InstanceHandle(
            instance_id=instance_id,
            artifact_key=artifact.key,
            host=self.host,
            port=int(bindings[0].get("HostPort") or 0),
            pid=int(container.attrs["State"].get("Pid") or 0) or None,
            runner=self.name,
            started_at=started_at,
            notes=notes,
        )

    def create(self, artifact: Artifact, profile: Profile, env: Mapping[str, str],
               secrets: Mapping[str, str] = NO_SECRETS) -> dict[str, Any]:
        """Create, without starting, the container an instance would run in, and return
        the engine's description of it (``docker inspect``); then remove it. What
        ``start`` would ask of the engine, seen from the engine's side."""
        client = self.engine.client()
        container, _, _ = self._create(client, artifact, profile, env, secrets)
        try:
            return dict(container.attrs)
        finally:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
            self.secret_folders.remove(str(container.labels[label.INSTANCE]))

    def host_address(self) -> str:
        """The address this machine has for the engine's containers (see ``host_address``)."""
        return bridge_gateway(self.engine.client())

    def _create(
        self, client: docker.DockerClient, artifact: Artifact, profile: Profile,
        env: Mapping[str, str], secrets: Mapping[str, str], *, owner: str = "",
        command: list[str] | None = None, kind: str = "instance",
        error: type[ShipyardError] = RunnerError,
    ) -> tuple[Container, Any, tuple[str, ...]]:
        """The container of a new instance (or, with ``command``, of another run of the
        image as an instance runs: the import check), its limits, and what it runs
        without. ``owner`` names its secret folder (its instance id by default)."""
        image_labels = self._image_labels(client, artifact.path) or {}
        instance_id = uuid.uuid4().hex
        with engine_errors("asking the engine what it offers", error):
            info = client.info()
        gpus = gpu_plan(profile, engine_gpus(info), ENGINE)
        if command is None:
            gpus.check()
        limits = limits_for(profile, int(info.get("NCPU") or 0), gpus=gpus.gpus)
        notes: list[str] = []
        if limits.capped_from is not None:
            notes.append(limits.capped_note(profile, "this engine"))
        if gpus.on_cpu:
            notes.append(gpus.note)
        reachable = dict(env)
        if SHIPYARD_URL_VAR in env:
            reachable[SHIPYARD_URL_VAR], note = url_for_containers(client, env[SHIPYARD_URL_VAR])
            if note:
                notes.append(note)
        command = command or gunicorn_command(
            worker_count(profile, limits), self.request_timeout, self.graceful_timeout)
        environment = instance_environment(reachable, image_labels, instance_id, kind=kind)
        owner = owner or instance_id
        if secrets:
            self._check_engine_takes_secrets(error)
        mount = self.secret_folders.make(owner, secrets)
        if mount is not None:
            environment[SECRETS_DIR_VAR] = SECRETS_DIR
        try:
            with engine_errors(f"creating a container of {artifact.key}", error):
                container = client.containers.create(
                    artifact.path,
                    command,
                    name=self._container_name(instance_id),
                    labels=label.installation_labels(self.installation, kind, **{
                        label.INSTANCE: instance_id, label.ARTIFACT: artifact.key,
                        label.SERVICE: image_labels.get(label.SERVICE, ""),
                        label.GENERATION: image_labels.get(label.GENERATION, ""),
                    }),
                    environment=environment,
                    ports={f"{APP_PORT}/tcp": (self.host,)} if kind == "instance" else None,
                    user=SERVICE_USER,
                    working_dir=APP_DIR,
                    stop_signal="SIGTERM",
                    mounts=[mount] if mount is not None else None,
                    **limits.run_options(),
                )
        except BaseException:
            self.secret_folders.remove(owner)
            raise
        return container, limits, tuple(notes)

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
        return self._probes.state(handle)

    def _container_state(self, handle: InstanceHandle) -> State | None:
        """EXITED when the engine says the container is gone or was killed for memory;
        None when it runs."""
        container = self._container(handle)
        if container is None:
            return State.EXITED
        if container.status != "running":
            if container.attrs["State"].get("OOMKilled"):
                note_memory_kill(self.records, handle, container)
            return State.EXITED
        if killed_for_memory(self.engine.client(), handle, container):
            with contextlib.suppress(docker.errors.APIError):
                container.kill()
            note_memory_kill(self.records, handle, container)
            return State.EXITED
        return None

    def stop(self, handle: InstanceHandle, grace: float = 30.0) -> None:
        self._check_runner(handle.runner)
        container = self._container(handle, running_only=False)
        self._probes.forget(handle.instance_id)
        self._meter.forget(handle.instance_id)
        if container is None:
            self.secret_folders.remove(handle.instance_id)
            return
        if container.status == "running" and not self._is_handle_of(handle, container):
            return  # a stale handle: the container is someone else's now
        with engine_errors(f"stopping instance {handle.instance_id}"):
            try:
                if container.status == "running":
                    container.stop(timeout=max(0, math.ceil(grace)))
                self.records.save_output(
                    handle.instance_id, container.logs(stdout=True, stderr=True)
                )
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
        if not wait_until_refused(handle.host, handle.port):
            logger.warning("instance %s's port %s:%s still accepts after its container was "
                           "removed", handle.instance_id, handle.host, handle.port)
        self.secret_folders.remove(handle.instance_id)

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
            output = self.records.saved_output(handle.instance_id, tail)
        return self.records.with_notes(handle.instance_id, output, tail)

    def usage(self, handle: InstanceHandle) -> Usage:
        self._check_runner(handle.runner)
        container = self._container(handle)
        if container is None or container.status != "running":
            return Usage(cpu_percent=0.0, memory_bytes=0)
        return self._meter.usage(handle.instance_id, container)

    # -- housekeeping ---------------------------------------------------------------------

    def discard_unfinished(self) -> None:
        """Remove what builds cut short left: the untagged images of this installation,
        import-check containers, and secret folders no container of ours uses. The engine
        itself removes a build's step containers (``forcerm``) and stops a build whose
        client is gone."""
        client = self.engine.client()
        gone = discard_dangling_images(client, self.installation)
        if gone:
            logger.info("removed %d image(s) left by builds cut short", gone)
        with engine_errors("listing this installation's containers"):
            containers = client.containers.list(
                all=True, filters=label.installation_filter(self.installation))
            for container in containers:
                if (container.labels or {}).get(label.KIND) == "check":
                    with contextlib.suppress(docker.errors.NotFound):
                        container.remove(force=True)
        # A check container's folder is named apart from it: both went above.
        instances = [str((container.labels or {}).get(label.INSTANCE)) for container
                     in containers if (container.labels or {}).get(label.KIND) == "instance"]
        folders = self.secret_folders.discard_except(instances)
        if folders:
            logger.info("removed %d secret folder(s) of containers that are gone", folders)

    def purge(self) -> tuple[int, int]:
        """Remove every container and image of this installation, running or not; the
        base images stay. Returns how many containers and images went."""
        purged = purge_installation(self.engine.client(), self.installation)
        self.secret_folders.purge()
        return purged

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
