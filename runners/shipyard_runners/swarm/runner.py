"""The swarm runner: generations built into images pushed to a registry, each instance a
Swarm service of its own, placed by Swarm on any node of the swarm.

Builds are the docker runner's (environment and generation images, the import check, the
route list) on the engine the runner talks to, a manager of the swarm; the generation image
is then pushed to the registry the settings name (``swarm_registry``, see ``registries``),
and the artifact is its name there, pinned by digest.

**One Swarm service per replica, not per generation.** The supervisor manages replicas
itself: one instance row per replica, and to run fewer it drains a replica it chose out of
the gateway's routing table, waits for its calls in flight, then stops exactly that one.
A Swarm service of ``replicas: N`` cannot honour that: lowering ``N`` makes Swarm pick the
task to end, which may be one still serving while the drained one lives on; and a task
that dies is replaced by Swarm at a new address nobody drained or routed. So each replica
is a service of one task (see ``replica_specs``), named after its instance and labelled
with its installation, service, generation and artifact, and Swarm still chooses the node
of every replica by its reservations and constraints. ``stop`` removes that service; the
other replicas of the generation are untouched.

**Addresses.** A replica is reached at its node's address and a host-mode published port
(the ingress mesh does not work on every machine). The port is chosen by the runner from
``swarm_ports`` (see ``ports`` for why not by the engine: Swarm reports an engine-chosen
port only once the health check has passed), and ``start`` returns once Swarm has placed
the task on a node. On the engine's own node it also waits for the container to start, for
its main process id (the handle's ``pid``, which tells a stale handle from the instance);
on other nodes the pid is Swarm's once the task runs, and the handle's is None.

**Health.** Swarm runs the spec's health check in the container and ends a task that keeps
failing it; ``health`` reads the task's state (ended: ``exited``), then asks the health
route itself from here, as the gateway reaches it. Nothing is restarted: the task's restart
policy is ``none``, and the supervisor decides what comes next.

**What only the engine's own node tells.** A container's statistics, memory kills and
a stop with a chosen grace are read and done on the manager's engine; for a replica on
another node, ``usage`` raises ``RunnerError`` (the supervisor skips it) and ``stop``
removes the service, which Swarm stops with the spec's grace (``graceful_timeout``).

Secrets are Swarm secrets (see ``secret_objects``). ``SHIPYARD_URL`` must be an address
every node reaches (``public_url``); a loopback one is noted in the handle.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import docker
import docker.errors

from shipyard_runners.containers import labels as label
from shipyard_runners.containers.engine import engine_at, engine_errors
from shipyard_runners.containers.host_address import points_at_loopback
from shipyard_runners.containers.image_builds import DEFAULT_CA_BUNDLE
from shipyard_runners.containers.instance_commands import (
    gunicorn_command,
    instance_environment,
    worker_count,
)
from shipyard_runners.containers.limits import NANO, limits_for
from shipyard_runners.containers.memory_kills import killed_for_memory, note_memory_kill
from shipyard_runners.containers.published_ports import wait_until_refused
from shipyard_runners.containers.records import InstanceRecords
from shipyard_runners.containers.runner import CHECK_TIMEOUT, SHIPYARD_URL_VAR, DockerRunner
from shipyard_runners.containers.secret_folders import SECRETS_DIR
from shipyard_runners.containers.usage import ContainerMeter
from shipyard_runners.gpus import gpu_plan
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
from shipyard_runners.swarm.cluster import (
    Node,
    gpus_in_swarm,
    manager_node_id,
    swarm_nodes,
)
from shipyard_runners.swarm.ports import DEFAULT_PORTS, PortRange, published_ports
from shipyard_runners.swarm.registries import ImageName, Registry
from shipyard_runners.swarm.replica_specs import HealthTiming, replica_spec
from shipyard_runners.swarm.replicas import Replica, Replicas
from shipyard_runners.swarm.secret_objects import SecretObjects
from shipyard_runners.swarm.tasks import ReplicaTask
from shipyard_sdk.errors import BuildFailed, RunnerError
from shipyard_sdk.runtime.secret_files import SECRETS_DIR_VAR

__all__ = ["SwarmRunner"]

logger = logging.getLogger(__name__)

SWARM = "the swarm"


class SwarmRunner:
    """Builds generations into images in a registry and runs each instance as a Swarm
    service of one task, through a manager's engine."""

    name = "swarm"

    def __init__(
        self,
        root: Path,
        *,
        installation: str,
        registry: str,
        ports: str = DEFAULT_PORTS,
        base_url: str | None = None,
        request_timeout: float = 120.0,
        graceful_timeout: float = 30.0,
        health_timeout: float = 2.0,
        health: HealthTiming | None = None,
        place_timeout: float = 30.0,
        ca_bundle: Path | None = None,
        check_timeout: float = CHECK_TIMEOUT,
    ) -> None:
        self.root = Path(root).absolute()
        self.installation = label.checked_installation(installation)
        self.registry = Registry(registry)
        self.ports = PortRange.parse(ports)
        self.engine = engine_at(base_url)
        self.request_timeout = request_timeout
        self.graceful_timeout = graceful_timeout
        self.health_timing = health or HealthTiming()
        self.place_timeout = place_timeout
        self.builder = DockerRunner(
            self.root, installation=self.installation, base_url=base_url,
            request_timeout=request_timeout, graceful_timeout=graceful_timeout,
            ca_bundle=ca_bundle or DEFAULT_CA_BUNDLE, check_timeout=check_timeout,
        )
        """Builds the images, checks them and lists their routes, on the manager's engine."""
        self.records = InstanceRecords(self.root / "instances")
        self.replicas = Replicas(self.engine, self.installation)
        self.secret_objects = SecretObjects(self.installation)
        self._probes = HealthProbes(health_timeout)
        self._meter = ContainerMeter()
        self._placing = threading.Lock()

    # -- builds ---------------------------------------------------------------------------

    def build(self, spec: BuildSpec, log: LogSink) -> Artifact:
        log(f"building {spec.service_name} {spec.generation} on the swarm runner: its images "
            f"are built on the manager's engine, then pushed to {self.registry.address}")
        client = self.engine.client(BuildFailed)
        try:
            manager_node_id(client, self.engine.where)
            if spec.profile.gpu > 0:
                log(gpu_plan(spec.profile, gpus_in_swarm(swarm_nodes(client)), SWARM).note)
        except RunnerError as exc:
            raise BuildFailed(exc.message) from exc
        # Before a build that may take minutes, not after it.
        self.registry.check_reachable(client, self.builder.images.repository("generations"))
        built = self.builder.build(spec, log)
        try:
            pushed = self.registry.push(client, built.path, log)
        except BaseException:
            with contextlib.suppress(RunnerError):
                self.builder.remove(built)
            raise
        return Artifact(key=built.key, env_key=built.env_key, path=pushed.pinned,
                        runner=self.name)

    def routes(self, artifact: Artifact, log: LogSink) -> AppRoutes:
        return self.builder.routes(self._built(artifact), log)

    def exists(self, artifact: Artifact) -> bool:
        """Whether the registry still holds the artifact's image: every node pulls it
        from there."""
        name = self._image(artifact)
        return Registry(name.registry).holds(self.engine.client(), name)

    def remove(self, artifact: Artifact) -> None:
        """Delete the image from the registry and from the manager's engine (with its
        environment image unless another generation is built on it). Idempotent."""
        name = self._image(artifact)
        client = self.engine.client()
        with engine_errors(f"removing image {name.tagged}"), \
                contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(name.tagged)  # the registry's tag; the build's stays
        self.builder.remove(self._built(artifact))
        Registry(name.registry).delete(name)

    def _image(self, artifact: Artifact) -> ImageName:
        self._check_runner(artifact.runner)
        name = ImageName.parse(artifact.path)
        if not name.registry or not name.digest:
            raise RunnerError(f"{artifact.path!r} is not an image of the swarm runner")
        return name

    def _built(self, artifact: Artifact) -> Artifact:
        """The artifact as the builder (a docker runner) knows it."""
        return dataclasses.replace(artifact, path=self._image(artifact).local,
                                   runner=self.builder.name)

    # -- instances ------------------------------------------------------------------------

    def start(
        self, artifact: Artifact, profile: Profile, env: Mapping[str, str],
        secrets: Mapping[str, str] = NO_SECRETS,
    ) -> InstanceHandle:
        client = self.engine.client()
        own_node = manager_node_id(client, self.engine.where)
        if not self.exists(artifact):
            raise RunnerError(f"artifact {artifact.key} is gone; build it again")
        nodes = {node.id: node for node in swarm_nodes(client)}
        ready = [node for node in nodes.values() if node.ready]
        if not ready:
            raise RunnerError("the swarm has no node that is ready and active to run on")
        gpus = gpu_plan(profile, gpus_in_swarm(ready), SWARM)
        gpus.check()
        limits = limits_for(profile, max(node.nano_cpus for node in ready) // NANO,
                            gpus=gpus.gpus)
        notes: list[str] = []
        if limits.capped_from is not None:
            notes.append(limits.capped_note(profile, "the largest node of the swarm"))
        if gpus.on_cpu:
            notes.append(gpus.note)
        if points_at_loopback(env.get(SHIPYARD_URL_VAR, "")):
            notes.append(f"its calls to other services fail: they go to "
                         f"{env[SHIPYARD_URL_VAR]}, a loopback address no task reaches; set "
                         "public_url to an address of the gateway every node reaches")

        instance_id = uuid.uuid4().hex
        built = self._built(artifact)
        image_labels = self.builder.images.labels_of(client, built.path) or {
            label.SERVICE: env.get("SHIPYARD_SERVICE_ID", ""),
            label.GENERATION: env.get("SHIPYARD_GENERATION", ""),
        }
        environment = instance_environment(env, image_labels, instance_id)
        references = self.secret_objects.make(client, instance_id, secrets)
        if references:
            environment[SECRETS_DIR_VAR] = SECRETS_DIR
        labels = label.installation_labels(self.installation, "instance", **{
            label.INSTANCE: instance_id, label.ARTIFACT: artifact.key,
            label.SERVICE: image_labels.get(label.SERVICE, ""),
            label.GENERATION: image_labels.get(label.GENERATION, ""),
        })
        started_at = time.time()
        try:
            with self._placing:
                with engine_errors("listing the ports the swarm's services publish"):
                    port = self.ports.choose(published_ports(client.api.services()))
                spec = replica_spec(
                    instance_id=instance_id, image=artifact.path,
                    command=gunicorn_command(worker_count(profile, limits),
                                             self.request_timeout, self.graceful_timeout),
                    environment=environment, labels=labels, nano_cpus=limits.nano_cpus,
                    memory_bytes=limits.memory_bytes, gpus=limits.gpus, published_port=port,
                    stop_grace=self.graceful_timeout, health=self.health_timing, secrets=references,
                )
                self.replicas.create(spec)
            task = self.replicas.wait_until_placed(instance_id, profile, self.place_timeout)
            node = nodes.get(task.node_id) or self._node(client, task.node_id)
            pid = (self.replicas.local_pid(instance_id, task, self.place_timeout)
                   if task.node_id == own_node else None)
        except BaseException:
            self.replicas.remove(instance_id)
            self.secret_objects.remove(client, instance_id)
            raise
        for note in notes:
            self.records.note(instance_id, note)
        return InstanceHandle(
            instance_id=instance_id, artifact_key=artifact.key, host=node.address,
            port=port, pid=pid, runner=self.name, started_at=started_at, notes=tuple(notes),
        )

    def health(self, handle: InstanceHandle) -> State:
        try:
            state = self._engine_state(handle)
        except RunnerError as exc:
            # The manager does not answer; the task may still serve, so its route decides.
            logger.warning("health of %s without the swarm: %s", handle.instance_id, exc)
            state = None
        return state if state is not None else self._probes.state(handle)

    def _engine_state(self, handle: InstanceHandle) -> State | None:
        """What Swarm (and, on this engine's node, the container) says: None when the
        task's container runs and its health route is to be asked."""
        replica = self._replica(handle)
        if replica is None:
            return State.EXITED
        task, container = replica.task, replica.container
        if task is None:
            return State.STARTING
        if not replica.runs(handle):
            return State.EXITED  # a stale handle: that task is not this instance
        state = task.engine_state()
        if state == State.EXITED:
            self._note_end(handle, task, replica)
            return state
        if state is None and container is not None and container.status == "running" \
                and killed_for_memory(self.engine.client(), handle, container):
            with contextlib.suppress(docker.errors.APIError):
                container.kill()
            note_memory_kill(self.records, handle, container)
            return State.EXITED
        return state

    def _note_end(self, handle: InstanceHandle, task: ReplicaTask, replica: Replica) -> None:
        """Say once in the instance's notes why its task ended."""
        container = replica.container
        if container is not None and container.attrs["State"].get("OOMKilled"):
            note_memory_kill(self.records, handle, container)
            return
        why = task.why_it_ended()
        if why and not any(why in line for line in self.records.notes(handle.instance_id)):
            self.records.note(handle.instance_id, why)

    def stop(self, handle: InstanceHandle, grace: float = 30.0) -> None:
        """Stop the replica's container (with ``grace`` on this engine's node; with the
        spec's ``graceful_timeout`` elsewhere), keep its output, remove its service and
        secrets. Idempotent; a stale handle stops nothing."""
        replica = self._replica(handle)
        self._probes.forget(handle.instance_id)
        self._meter.forget(handle.instance_id)
        client = self.engine.client()
        if replica is None:
            self.secret_objects.remove(client, handle.instance_id)
            return
        container = replica.container
        if not replica.runs(handle):
            return
        if container is not None and container.status == "running":
            with engine_errors(f"stopping instance {handle.instance_id}"), \
                    contextlib.suppress(docker.errors.NotFound):
                container.stop(timeout=max(0, round(grace)))
        with contextlib.suppress(RunnerError):
            self.records.save_output(handle.instance_id, self.replicas.output(replica, None))
        self.replicas.remove(handle.instance_id)
        within = 5.0 + (0.0 if container is not None else self.graceful_timeout)
        if not wait_until_refused(handle.host, handle.port, within=within):
            logger.warning("instance %s's port %s:%s still accepts after its service was "
                           "removed", handle.instance_id, handle.host, handle.port)
        self.secret_objects.remove(client, handle.instance_id)

    def adopt(self, handle: InstanceHandle) -> bool:
        if handle.runner != self.name:
            return False
        try:
            replica = self._replica(handle)
        except RunnerError as exc:
            logger.warning("cannot adopt %s: %s", handle.instance_id, exc)
            return False
        return (replica is not None and replica.task is not None and replica.task.running
                and replica.runs(handle))

    def logs(self, handle: InstanceHandle, tail: int | None = None) -> str:
        replica = self._replica(handle)
        if replica is not None:
            output = self.replicas.output(replica, tail).decode("utf-8", "replace")
        else:
            output = self.records.saved_output(handle.instance_id, tail)
        return self.records.with_notes(handle.instance_id, output, tail)

    def usage(self, handle: InstanceHandle) -> Usage:
        replica = self._replica(handle)
        if replica is None or replica.task is None or not replica.task.running:
            return Usage(cpu_percent=0.0, memory_bytes=0)
        client = self.engine.client()
        container = replica.container
        if container is None:
            if replica.task.node_id != manager_node_id(client, self.engine.where):
                raise RunnerError(
                    f"the usage of instance {handle.instance_id} cannot be read: it runs on "
                    f"another node of the swarm ({handle.host}), and the engine at "
                    f"{self.engine.where} reads only its own node's containers"
                )
            return Usage(cpu_percent=0.0, memory_bytes=0)
        if container.status != "running":
            return Usage(cpu_percent=0.0, memory_bytes=0)
        return self._meter.usage(handle.instance_id, container)

    # -- housekeeping ---------------------------------------------------------------------

    def discard_unfinished(self) -> None:
        """What builds cut short left on the manager's engine (the builder's), and Swarm
        secrets whose replica's service is gone (a start cut short)."""
        self.builder.discard_unfinished()
        client = self.engine.client()
        manager_node_id(client, self.engine.where)
        with engine_errors("listing this installation's Swarm services"):
            services = client.api.services(filters=label.installation_filter(self.installation))
        live = {str((service["Spec"].get("Labels") or {}).get(label.INSTANCE))
                for service in services}
        gone = self.secret_objects.discard_except(client, live)
        if gone:
            logger.info("removed %d Swarm secret(s) of replicas that are gone", gone)

    def purge(self) -> tuple[int, int]:
        """Remove every Swarm service and secret of this installation, its containers and
        images on the manager's engine, and its images in the registry; the base images
        stay. Returns how many services and images went."""
        client = self.engine.client()
        services: list[dict[str, object]] = []
        with contextlib.suppress(RunnerError):  # out of swarm mode, there are none
            manager_node_id(client, self.engine.where)
            with engine_errors("removing this installation's Swarm services"):
                services = client.api.services(
                    filters=label.installation_filter(self.installation))
                for service in services:
                    with contextlib.suppress(docker.errors.NotFound):
                        client.api.remove_service(service["ID"])
            self.secret_objects.discard_except(client, set())
        _, images = self.builder.purge()
        self.registry.delete_repository(self.builder.images.repository("generations"))
        return len(services), images

    # -- helpers --------------------------------------------------------------------------

    def _replica(self, handle: InstanceHandle) -> Replica | None:
        self._check_runner(handle.runner)
        return self.replicas.find(handle.instance_id)

    def _node(self, client: docker.DockerClient, node_id: str) -> Node:
        with engine_errors(f"looking up swarm node {node_id}"):
            return Node.from_attrs(client.api.inspect_node(node_id))

    def _check_runner(self, runner: str) -> None:
        if runner != self.name:
            raise RunnerError(f"a {runner!r} artifact or instance given to the swarm runner")
