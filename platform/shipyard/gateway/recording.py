"""What the gateway keeps of a service call besides forwarding it: a line in the query log,
and the copy its challenger gets.

``BodyCopies`` keeps the request body (for the query log, or to copy to a challenger) and
the answer's body (for the query log) as they stream through, each cut at its cap; the
query log keeps what was cut, a challenger gets a copy only of a whole request.
``record_call`` turns an ended exchange into its ``QueryRecord`` and hands it to the query
log, or first to the challenger, which records it once its copy has an answer; it also
counts the call in the gateway's metrics (``gateway.metrics``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from shipyard.contracts.query_record import BATCH_ROLE, QueryRecord
from shipyard.contracts.routing_table import ServiceRoute
from shipyard.gateway.access import CLIENT_GONE
from shipyard.gateway.challenger import append_capped, copy_request
from shipyard.gateway.dispatch import Destination
from shipyard.gateway.settings import GatewaySettings

if TYPE_CHECKING:
    from shipyard.gateway.exchange import Exchange

__all__ = ["BodyCopies", "record_call"]


class BodyCopies:
    __slots__ = ("answer", "answer_cap", "request", "request_cap", "request_cut")

    def __init__(self, request_cap: int, answer_cap: int) -> None:
        self.request: bytearray | None = bytearray() if request_cap else None
        self.request_cap = request_cap
        self.request_cut = False
        self.answer: bytearray | None = bytearray() if answer_cap else None
        self.answer_cap = answer_cap

    @classmethod
    def for_route(cls, route: ServiceRoute, settings: GatewaySettings) -> BodyCopies | None:
        """The copies a call to ``route`` needs, or None when it needs none."""
        request_cap = 0
        if _logs_request(route):
            request_cap = settings.query_body_bytes
        if route.challenger is not None:
            request_cap = max(request_cap, settings.challenger_body_bytes)
        answer_cap = (settings.query_body_bytes
                      if route.collect_prediction_data or route.monitored else 0)
        if not request_cap and not answer_cap:
            return None
        return cls(request_cap, answer_cap)

    def request_chunk(self, chunk: bytes) -> None:
        if self.request is not None and append_capped(self.request, chunk, self.request_cap):
            self.request_cut = True

    def answer_chunk(self, chunk: bytes) -> None:
        if self.answer is not None:
            append_capped(self.answer, chunk, self.answer_cap)

    def request_for_challenger(self, body_size: int, cap: int) -> bytes | None:
        """The request body to copy to a challenger: only a whole one of at most ``cap``
        bytes (the copy may hold more, for the query log)."""
        if self.request is None or self.request_cut or body_size > cap:
            return None
        return bytes(self.request)


def _logs_request(route: ServiceRoute) -> bool:
    return route.collect_prediction_data or bool(route.association_id_field) or route.monitored


def record_call(exchange: Exchange, destination: Destination, status: int, elapsed: float) -> None:
    """The call's line in the query log, after its challenger's answer if it has one.

    A call refused before it was forwarded (credentials, limits) names no generation and
    is not copied; nor is one whose caller went away.
    """
    route = destination.route
    headers = exchange.headers
    assert route is not None and headers is not None
    gateway = exchange.gateway
    settings = gateway.settings
    generation = destination.generation if exchange.forwarded else None
    copies = exchange.copies
    body = copies.request if copies is not None else None
    answer = copies.answer if copies is not None else None
    # The request body goes to the log only where the spool needs it (to keep it, to
    # read an association id from it, or for the supervisor's drift); a body kept for
    # the challenger alone does not.
    logged = body if _logs_request(route) else None
    instance = None
    if exchange.forwarded:
        instance = elapsed - (exchange.forwarded_at - exchange.started_at)
    metrics = gateway.metrics
    if metrics is not None:
        metrics.call(route.name, generation, status, elapsed, instance)
    caller = exchange.caller
    # A batch job's call: its own role, and no copy to the challenger (the job scores
    # with the challenger itself when asked).
    batch = caller is not None and caller.batch_job is not None
    query = QueryRecord(
        at=time.time() - elapsed, request_id=exchange.request_id.decode("latin-1"),
        service_id=route.id, generation=generation,
        method=exchange.method.decode("latin-1"), path=exchange.target.decode("latin-1"),
        status=status, latency_ms=elapsed * 1000.0,
        instance_ms=instance * 1000.0 if instance is not None else None,
        request_bytes=exchange.body_size, response_bytes=exchange.response_bytes,
        caller=caller.label if caller is not None else "",
        role=BATCH_ROLE if batch else None,
        predictions=exchange.predictions,
        warnings=exchange.warnings,
        association_id=headers.association_id,
        association_field=route.association_id_field,
        keep_bodies=route.collect_prediction_data,
        monitored=route.monitored,
        request_body=(bytes(memoryview(logged)[:settings.query_body_bytes])
                      if logged is not None else None),
        response_body=bytes(answer) if answer is not None else None,
    )
    challenger = (route.challenger_instance(generation, gateway.balancer.choose)
                  if generation and status != CLIENT_GONE and not batch else None)
    if challenger is None or route.challenger is None:
        gateway.record_query(query)
        return
    whole = None
    if copies is not None and exchange.body_complete:
        whole = copies.request_for_challenger(exchange.body_size, settings.challenger_body_bytes)
    request = None
    if whole is not None:
        head = headers.head(
            exchange.method, destination.path, challenger.authority, exchange.client.peer,
            settings.trust_forwarded_headers, route.instance_headers,
        )
        request = copy_request(head, headers.chunked, whole)
    tally = metrics.copies_of(route.name, route.challenger) if metrics is not None else None
    gateway.challengers.send(challenger, route.challenger, request, query, tally)
