"""Backends that build generations and run their instances: ``local`` for now.

Every runner implements ``Runner``; the values crossing it are plain frozen dataclasses.
"""

from shipyard_runners.local import LocalRunner
from shipyard_runners.protocol import (
    Artifact,
    BuildSpec,
    InstanceHandle,
    LogSink,
    Profile,
    Runner,
    State,
    Usage,
)

__all__ = [
    "Artifact",
    "BuildSpec",
    "InstanceHandle",
    "LocalRunner",
    "LogSink",
    "Profile",
    "Runner",
    "State",
    "Usage",
]
