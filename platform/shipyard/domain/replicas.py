"""How many instances (replicas) each generation of a service runs.

A service has ``min_replicas`` and ``max_replicas`` (1 and 1 unless set), within the
``max_replicas`` ceiling of its environment profile (``environments.yaml``); a generation
may set its own (SageMaker's instance count per variant), else it has its service's. Each
generation it deploys starts with its minimum (at least one), the autoscaler
(``supervisor.autoscaling``) moves the generations that take traffic between the bounds
after their calls in flight per replica against ``target_concurrency``, and the gateway
splits a generation's share of the calls among its healthy replicas (least outstanding
requests first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.domain.environments import Environment
from shipyard.errors import InvalidInput

if TYPE_CHECKING:  # the manifest reads this module in the CLI, which loads no store
    from shipyard.store import GenerationRow, ServiceRow

__all__ = [
    "DEFAULT_REPLICAS", "DEFAULT_TARGET_CONCURRENCY", "bounds_of", "replica_count",
    "replicas_to_run", "validate_replicas", "validate_target_concurrency",
]

DEFAULT_REPLICAS = 1
DEFAULT_TARGET_CONCURRENCY = 2.0
"""Calls in flight per replica the autoscaler aims at: a small profile's replica runs one
worker, so two is one call served and one waiting."""
MAX_TARGET_CONCURRENCY = 10_000.0


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


def validate_target_concurrency(value: Any) -> float:
    """The calls in flight per replica the autoscaler aims at: a number over 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            0 < value <= MAX_TARGET_CONCURRENCY):
        raise InvalidInput(f"target_concurrency must be a number over 0 and at most "
                           f"{MAX_TARGET_CONCURRENCY:g}, not {value!r}")
    return float(value)


def bounds_of(service: ServiceRow, generation: GenerationRow) -> tuple[int, int]:
    """A generation's replica bounds: its own where it set them, else its service's."""
    low = service.min_replicas if generation.min_replicas is None else generation.min_replicas
    high = service.max_replicas if generation.max_replicas is None else generation.max_replicas
    return low, high


def replica_count(count: int) -> str:
    """``count`` replicas in words, as a scaling decision's reason starts."""
    return f"{count} replica{'' if count == 1 else 's'}"


def replicas_to_run(min_replicas: int, max_replicas: int) -> int:
    """The replicas each wanted generation runs: its minimum, and at least one."""
    return max(1, min(min_replicas, max_replicas))


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be a whole number, not {value!r}")
    if value < 0:
        raise InvalidInput(f"{name} must not be negative (got {value})")
    return value
