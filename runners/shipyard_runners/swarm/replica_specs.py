"""The Swarm service one replica runs as, built from plain values (no engine needed).

- one task (``replicated``, 1) that is never restarted (restart policy ``none``): a task
  that ends stays ended, ``health`` says ``exited`` and the supervisor decides;
- the profile's cpu and memory as both the reservation (Swarm places the task only on a
  node with that much unreserved) and the limit (the kernel holds it there); GPUs as a
  reservation of the ``NVIDIA-GPU`` generic resource, so the task goes to a node that
  offers them;
- a health check on the runtime's health route, run inside the container by the node's
  engine (Swarm reports the task ``running`` once it first passes, and ends a task that
  fails it ``retries`` times in a row after ``start_period``);
- the app's port published in ``host`` mode on a port of ``swarm_ports`` (see ``ports``);
- the installation's labels on the service and its container, so ``purge`` finds them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import docker.types

from shipyard_runners.containers.dockerfiles import APP_DIR, APP_PORT, SERVICE_USER, VENV
from shipyard_runners.containers.limits import NANO
from shipyard_runners.swarm.cluster import GPU_RESOURCE
from shipyard_sdk.runtime.health import HEALTH_PATH

__all__ = ["HealthTiming", "ReplicaSpec", "health_probe", "replica_spec", "service_name"]



def health_probe(port: int, timeout: float) -> str:
    """The health check's program, for the venv's Python in isolated mode without
    site-packages (a check costs the interpreter's start and one request): exit status 0
    when the health route answers 200 within ``timeout`` seconds."""
    return (
        "import http.client, sys\n"
        f"connection = http.client.HTTPConnection('127.0.0.1', {port}, timeout={timeout!r})\n"
        f"connection.request('GET', {HEALTH_PATH!r})\n"
        "sys.exit(0 if connection.getresponse().status == 200 else 1)\n"
    )


@dataclass(frozen=True)
class HealthTiming:
    """The health check's timing, in seconds."""

    interval: float = 10.0
    timeout: float = 5.0
    retries: int = 3
    start_period: float = 60.0
    """Failures before this count for nothing: the app may be loading a model."""

    def healthcheck(self) -> docker.types.Healthcheck:
        return docker.types.Healthcheck(
            test=["CMD", f"{VENV}/bin/python", "-I", "-S", "-c",
                  health_probe(APP_PORT, self.timeout)],
            interval=int(self.interval * NANO), timeout=int(self.timeout * NANO),
            retries=self.retries, start_period=int(self.start_period * NANO),
        )


@dataclass(frozen=True)
class ReplicaSpec:
    """What ``create_service`` is given for one replica."""

    name: str
    labels: dict[str, str]
    task_template: docker.types.TaskTemplate
    endpoint_spec: docker.types.EndpointSpec
    mode: docker.types.ServiceMode

    def create_options(self) -> dict[str, Any]:
        return {"name": self.name, "labels": self.labels, "mode": self.mode,
                "endpoint_spec": self.endpoint_spec}


def service_name(instance_id: str) -> str:
    """The name of a replica's service: instance ids are unique, so the name is too."""
    return f"shipyard-{instance_id}"


def replica_spec(
    *,
    instance_id: str,
    image: str,
    command: Sequence[str],
    environment: Mapping[str, str],
    labels: Mapping[str, str],
    nano_cpus: int,
    memory_bytes: int,
    gpus: int,
    published_port: int,
    stop_grace: float,
    health: HealthTiming,
    secrets: Sequence[docker.types.SecretReference] = (),
) -> ReplicaSpec:
    resources = docker.types.Resources(
        cpu_limit=nano_cpus or None, cpu_reservation=nano_cpus or None,
        mem_limit=memory_bytes or None, mem_reservation=memory_bytes or None,
        generic_resources={GPU_RESOURCE: gpus} if gpus > 0 else None,
    )
    container = docker.types.ContainerSpec(
        image, list(command),
        env=[f"{name}={value}" for name, value in environment.items()],
        labels=dict(labels),
        user=SERVICE_USER,
        workdir=APP_DIR,
        stop_signal="SIGTERM",
        stop_grace_period=int(stop_grace * NANO),
        healthcheck=health.healthcheck(),
        secrets=list(secrets) or None,
    )
    template = docker.types.TaskTemplate(
        container, resources=resources,
        restart_policy=docker.types.RestartPolicy(condition="none"),
    )
    endpoint = docker.types.EndpointSpec(ports=[{
        "Protocol": "tcp", "TargetPort": APP_PORT, "PublishedPort": published_port,
        "PublishMode": "host",
    }])
    return ReplicaSpec(
        name=service_name(instance_id), labels=dict(labels), task_template=template,
        endpoint_spec=endpoint, mode=docker.types.ServiceMode("replicated", replicas=1),
    )
