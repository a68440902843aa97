"""Backends that build generations and run their instances: ``local`` and ``docker``.

Every runner implements ``Runner``; the values crossing it are plain frozen dataclasses.
"""

from shipyard_runners.containers import DockerRunner
from shipyard_runners.local import LocalRunner
from shipyard_runners.protocol import (
    AppRoutes,
    Artifact,
    BuildSpec,
    InstanceHandle,
    LogSink,
    Profile,
    Route,
    Runner,
    State,
    Usage,
)

__all__ = [
    "AppRoutes",
    "Artifact",
    "BuildSpec",
    "DockerRunner",
    "InstanceHandle",
    "LocalRunner",
    "LogSink",
    "Profile",
    "Route",
    "Runner",
    "State",
    "Usage",
]
