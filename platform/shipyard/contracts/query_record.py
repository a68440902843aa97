"""``QueryRecord``: what the gateway knows about one call, filled on its event loop."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ASSOCIATION_ID_HEADER", "QueryRecord"]

ASSOCIATION_ID_HEADER = "X-Shipyard-Association-Id"
"""The request header that names a call's association id (it wins over a JSON field)."""


@dataclass(slots=True)
class QueryRecord:
    """One call through the gateway, as the gateway saw it.

    Built and filled on the gateway's event loop, so it holds raw values only; everything
    that costs (JSON, text decoding, dropping bodies) happens later, in the spool's
    thread. ``request_body`` must be set (capped) whenever ``keep_bodies`` is true *or*
    ``association_field`` is set: the spool reads the association id from it and drops
    it unless ``keep_bodies``.
    """

    at: float
    """Epoch seconds when the call started."""
    request_id: str
    service_id: str
    generation: str | None
    method: str
    path: str
    """The path the caller sent, query included, decoded as Latin-1."""
    status: int
    latency_ms: float
    request_bytes: int = 0
    response_bytes: int = 0
    caller: str = ""
    """A label for who called; "" for anonymous."""
    association_id: str | None = None
    """From the ``X-Shipyard-Association-Id`` header; None to look in the body."""
    association_field: str = ""
    """The service's top-level JSON field holding an association id; "" for none."""
    keep_bodies: bool = False
    """The service's ``collect_prediction_data``."""
    request_body: bytes | None = None
    response_body: bytes | None = None
    challenger_body: bytes | None = None
    challenger_generation: str | None = None
    challenger_status: int | None = None
    challenger_latency_ms: float | None = None
