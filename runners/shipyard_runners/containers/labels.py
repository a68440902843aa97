"""The labels that mark what Shipyard made on a Docker engine, so it finds and cleans up its
own, and only its own.

Every image and container the docker runner makes carries ``MANAGED`` and the
``INSTALLATION`` it belongs to (one Shipyard home, or one test session), and ``KIND`` says
what it is. Base images carry ``MANAGED`` and ``KIND=base`` only: every installation on the
engine shares them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

from shipyard_sdk.errors import RunnerError

__all__ = [
    "ARTIFACT",
    "ENV_KEY",
    "GENERATION",
    "INSTALLATION",
    "INSTANCE",
    "KIND",
    "MANAGED",
    "SERVICE",
    "checked_installation",
    "installation_filter",
    "installation_id",
    "installation_labels",
]

PREFIX = "io.shipyard."
MANAGED = PREFIX + "managed"
INSTALLATION = PREFIX + "installation"
KIND = PREFIX + "kind"
"""``base``, ``environment``, ``generation`` (images), ``instance``, ``routes`` (containers)."""
SERVICE = PREFIX + "service"
GENERATION = PREFIX + "generation"
ENV_KEY = PREFIX + "env-key"
ARTIFACT = PREFIX + "artifact"
INSTANCE = PREFIX + "instance"

_INSTALLATION = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def installation_id(home: Path) -> str:
    """The installation id of the Shipyard whose data lives in ``home``."""
    return "h" + hashlib.sha256(str(Path(home).absolute()).encode()).hexdigest()[:12]


def checked_installation(installation: str) -> str:
    if not _INSTALLATION.match(installation):
        raise RunnerError(
            f"installation id {installation!r} must be 1-40 lowercase letters, digits or '-'"
        )
    return installation


def installation_labels(installation: str, kind: str, **more: str) -> dict[str, str]:
    """The labels of one object of ``installation``."""
    return {MANAGED: "true", INSTALLATION: installation, KIND: kind, **more}


def installation_filter(
    installation: str, more: Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """A Docker ``filters`` value that matches the objects of ``installation`` only (and
    carry the labels in ``more``)."""
    labels = [f"{MANAGED}=true", f"{INSTALLATION}={installation}"]
    labels += [f"{name}={value}" for name, value in (more or {}).items()]
    return {"label": labels}
