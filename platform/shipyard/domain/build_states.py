"""The states of a generation's one build."""

from __future__ import annotations

__all__ = ["BuildState"]


class BuildState:
    PENDING = "pending"
    BUILDING = "building"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DONE = (SUCCEEDED, FAILED)
    UNDER_WAY = (PENDING, BUILDING)
