"""Backends that build generations and run their instances: ``local`` for now.

Every runner implements ``Runner``; the values crossing it are plain frozen dataclasses.
"""

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
    "InstanceHandle",
    "LocalRunner",
    "LogSink",
    "Profile",
    "Route",
    "Runner",
    "State",
    "Usage",
]
