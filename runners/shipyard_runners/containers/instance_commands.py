"""What a container of a generation image runs as an instance, and the environment it
runs with: the one definition the docker and swarm runners share.

An instance is gunicorn, as the non-root service user, serving the runtime's WSGI app on
``APP_PORT`` with one worker per core of its profile (never more than the cores it is
given) and a few threads each.
"""

from __future__ import annotations

from collections.abc import Mapping

from shipyard_runners.containers import labels as label
from shipyard_runners.containers.dockerfiles import APP_PORT, VENV
from shipyard_runners.containers.limits import NANO, ContainerLimits
from shipyard_runners.protocol import Profile

__all__ = ["gunicorn_command", "instance_environment", "worker_count"]

WSGI_APP = "shipyard_sdk.runtime.wsgi:application"
GUNICORN_CONFIG = "python:shipyard_sdk.runtime.gunicorn_conf"
INSTANCE_THREADS = 4
INSTANCE_KEEP_ALIVE = 75


def worker_count(profile: Profile, limits: ContainerLimits) -> int:
    """One gunicorn worker per core of the profile, at most the cores it is given."""
    return max(1, int(min(profile.cpu, limits.nano_cpus / NANO or profile.cpu)))


def gunicorn_command(workers: int, request_timeout: float, graceful_timeout: float
                     ) -> list[str]:
    return [
        f"{VENV}/bin/python", "-m", "gunicorn",
        "--config", GUNICORN_CONFIG,
        "--bind", f"0.0.0.0:{APP_PORT}",
        "--workers", str(workers),
        "--worker-class", "gthread",
        "--threads", str(INSTANCE_THREADS),
        "--keep-alive", str(INSTANCE_KEEP_ALIVE),
        "--timeout", str(round(request_timeout)),
        "--graceful-timeout", str(round(graceful_timeout)),
        WSGI_APP,
    ]


def instance_environment(env: Mapping[str, str], image_labels: Mapping[str, str],
                         instance_id: str, *, kind: str = "instance") -> dict[str, str]:
    """``env`` and what the runtime reads of its generation, service and instance; an
    import check (``kind`` other than ``instance``) is told no more than the local
    runner's."""
    environment = {
        **env,
        "SHIPYARD_GENERATION": image_labels.get(label.GENERATION, ""),
        "PYTHONUNBUFFERED": "1",
    }
    if kind == "instance":
        environment["SHIPYARD_SERVICE_ID"] = image_labels.get(label.SERVICE, "")
        environment["SHIPYARD_INSTANCE_ID"] = instance_id
    return environment
