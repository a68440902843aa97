"""Backends that build generations and run their instances: ``local``, ``docker`` and
``swarm``.

Every runner implements ``Runner``; the values crossing it are plain frozen dataclasses.
This module is the package's public surface, and it is lazy: the protocol's values load
at once, each runner (and docker-py with the docker one) on first use, so that a process
that only needs ``State`` never pays for a runner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shipyard_runners.protocol import (
    NO_SECRETS,
    AppRoutes,
    Artifact,
    BuildSpec,
    InstanceHandle,
    LogSink,
    Profile,
    Route,
    RouteSpec,
    Runner,
    State,
    Usage,
)

if TYPE_CHECKING:
    from shipyard_runners.commands import run
    from shipyard_runners.containers import DockerRunner
    from shipyard_runners.local import CHECK_TIMEOUT, LocalRunner
    from shipyard_runners.sandbox import Sandbox
    from shipyard_runners.swarm import SwarmRunner
    from shipyard_runners.venvs import INSTALL_TIMEOUT, EnvironmentStore, user_bytecode_store

RUNNERS = ("local", "docker", "swarm")
"""The names of the runners this package has."""

__all__ = [
    "CHECK_TIMEOUT",
    "INSTALL_TIMEOUT",
    "NO_SECRETS",
    "RUNNERS",
    "AppRoutes",
    "Artifact",
    "BuildSpec",
    "DockerRunner",
    "EnvironmentStore",
    "InstanceHandle",
    "LocalRunner",
    "LogSink",
    "Profile",
    "Route",
    "RouteSpec",
    "Runner",
    "Sandbox",
    "State",
    "SwarmRunner",
    "Usage",
    "run",
    "user_bytecode_store",
]

_LAZY = {
    "DockerRunner": "shipyard_runners.containers",
    "LocalRunner": "shipyard_runners.local",
    "CHECK_TIMEOUT": "shipyard_runners.local",
    "EnvironmentStore": "shipyard_runners.venvs",
    "INSTALL_TIMEOUT": "shipyard_runners.venvs",
    "Sandbox": "shipyard_runners.sandbox",
    "SwarmRunner": "shipyard_runners.swarm",
    "run": "shipyard_runners.commands",
    "user_bytecode_store": "shipyard_runners.venvs",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'shipyard_runners' has no attribute {name!r}")
