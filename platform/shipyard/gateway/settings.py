"""The gateway's limits and timeouts: one frozen object, read once at start.

``GatewaySettings.from_env(environ)`` reads ``SHIPYARD_GATEWAY_<NAME>`` variables (for
example ``SHIPYARD_GATEWAY_MAX_BODY_BYTES=1048576``); the environment is passed in, never
read at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from shipyard.errors import InvalidInput

__all__ = ["ENV_PREFIX", "GatewaySettings"]

ENV_PREFIX = "SHIPYARD_GATEWAY_"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class GatewaySettings:
    """Limits and timeouts of the data path.

    ``max_body_bytes`` bounds the request body of a service call (the API upstream enforces
    its own upload limit). ``upstream_timeout`` is the longest wait for an instance's
    answer to start, and then for each next piece of it; for the API upstream only the
    start is bounded, because the API streams long-lived answers (a build log followed
    live). ``client_timeout`` is how long a client connection may stay idle or stall in
    the middle of sending a request. ``grace_period`` is how long a stopping gateway lets
    requests in flight finish.

    ``query_body_bytes`` caps each body the query log keeps (for services that collect
    prediction data, or name an association id field); ``challenger_body_bytes`` is the
    largest request copied to a challenger; ``challenger_timeout`` bounds a copy's whole
    exchange; ``challenger_in_flight`` bounds the copies running at once.

    ``metrics`` counts the calls for Prometheus and serves ``GET /metrics`` (off, the
    path goes to the API upstream like any other); ``metrics_token`` is a bearer token
    that may scrape it, besides an administrator's signature ("" for none). It is a
    secret: never shown in a repr or a log.
    """

    max_body_bytes: int = 10 * 1024 * 1024
    upstream_timeout: float = 60.0
    connect_timeout: float = 5.0
    client_timeout: float = 75.0
    grace_period: float = 10.0
    pool_max_idle: int = 64
    pool_idle_timeout: float = 15.0
    reload_interval: float = 0.05
    trust_forwarded_headers: bool = False
    access_log: bool = True
    query_body_bytes: int = 64 * 1024
    challenger_body_bytes: int = 1024 * 1024
    challenger_timeout: float = 30.0
    challenger_in_flight: int = 64
    metrics: bool = True
    metrics_token: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                raise InvalidInput(f"gateway setting {spec.name!r} must not be negative")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> GatewaySettings:
        """Settings from ``SHIPYARD_GATEWAY_*`` variables, defaults for the others."""
        values: dict[str, Any] = {}
        for spec in fields(cls):
            raw = environ.get(ENV_PREFIX + spec.name.upper())
            if raw:
                values[spec.name] = _convert(spec.name, str(spec.type), raw)
        return cls(**values)


def _convert(name: str, kind: str, raw: str) -> int | float | bool | str:
    if kind == "str":
        return raw
    try:
        if kind == "bool":
            lowered = raw.strip().lower()
            if lowered in _TRUE | _FALSE:
                return lowered in _TRUE
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        return float(raw)
    except ValueError as exc:
        raise InvalidInput(f"gateway setting {name!r} must be {kind}, got {raw!r}") from exc
