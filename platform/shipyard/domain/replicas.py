"""How many instances (replicas) each generation of a service runs.

A service has ``min_replicas`` and ``max_replicas`` (1 and 1 unless set), within the
``max_replicas`` ceiling of its environment profile (``environments.yaml``). Each
generation it deploys runs that many replicas, and the gateway splits the generation's
share of the calls among the healthy ones (least outstanding requests first).
"""

from __future__ import annotations

from typing import Any

from shipyard.domain.environments import Environment
from shipyard.errors import InvalidInput

__all__ = ["DEFAULT_REPLICAS", "replicas_to_run", "validate_replicas"]

DEFAULT_REPLICAS = 1


def validate_replicas(min_replicas: Any, max_replicas: Any, environment: Environment
                      ) -> tuple[int, int]:
    """``(min_replicas, max_replicas)`` checked against each other and the profile; an
    ``InvalidInput`` that names the problem otherwise."""
    low = _count(min_replicas, "min_replicas")
    high = _count(max_replicas, "max_replicas")
    if high < 1:
        raise InvalidInput("max_replicas must be at least 1")
    if low > high:
        raise InvalidInput(f"min_replicas ({low}) is over max_replicas ({high})")
    if high > environment.max_replicas:
        raise InvalidInput(
            f"max_replicas ({high}) is over the {environment.name!r} profile's ceiling of "
            f"{environment.max_replicas}"
        )
    return low, high


def replicas_to_run(min_replicas: int, max_replicas: int) -> int:
    """The replicas each wanted generation runs: its minimum, and at least one."""
    return max(1, min(min_replicas, max_replicas))


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be a whole number, not {value!r}")
    if value < 0:
        raise InvalidInput(f"{name} must not be negative (got {value})")
    return value
