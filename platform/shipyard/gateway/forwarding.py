"""The upstream side of an exchange: forwarding the request to an instance (or the API),
on a pooled connection or a new one, sending it again once on a fresh connection when a
reused one turns out to have been closed while idle, and what happens when the upstream
connection is lost.

``Forwarding`` is a part of ``Exchange`` (``gateway.exchange``), kept in a module of its
own so that each side of the call reads on its own: the exchange holds the state (its
``__slots__``), this class only the behaviour, and calls back into the exchange to arm
timers, answer errors and end the call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from shipyard.errors import BadGateway, UpstreamTimeout

if TYPE_CHECKING:
    from shipyard.gateway.dispatch import Destination
    from shipyard.gateway.downstream import ClientConnection
    from shipyard.gateway.headers import RequestHeaders
    from shipyard.gateway.server import Gateway
    from shipyard.gateway.upstream import UpstreamConnection

__all__ = ["REPLAY_LIMIT", "Forwarding"]

log = logging.getLogger(__name__)

# A request body is kept (to send it again on a fresh connection when a reused one turns
# out to have been closed by the upstream) up to this size.
REPLAY_LIMIT = 256 * 1024


class Forwarding:
    """The upstream side of ``Exchange`` (see the module)."""

    __slots__ = ()

    client: ClientConnection
    gateway: Gateway
    method: bytes
    headers: RequestHeaders | None
    destination: Destination | None
    upstream: UpstreamConnection | None
    connecting: asyncio.Task[UpstreamConnection] | None
    pending: list[bytes]
    pending_size: int
    sent: list[bytes] | None
    sent_size: int
    unsent: bytes
    retried: bool
    held: bool
    moved: bool
    counted: bool
    forwarded: bool
    forwarded_at: float
    no_body: bool
    body_complete: bool
    done: bool
    head_written: bool
    until_close: bool

    def _keep_for_retry(self, data: bytes) -> None:
        if self.sent is not None:
            self.sent_size += len(data)
            if self.sent_size > REPLAY_LIMIT:
                self.sent = None
            else:
                self.sent.append(data)

    def _forward(self) -> None:
        if self.held:
            return  # it goes on once its service has a replica (``resume``)
        destination = self.destination
        assert destination is not None
        self.forwarded = True
        self.forwarded_at = time.perf_counter()
        if destination.route is not None:
            self.gateway.balancer.started(destination.address)
            self.counted = True
        upstream = self.gateway.pool.take(destination.address)
        if upstream is None:
            self._connect()
        else:
            self._attach(upstream, self._request_data())

    def _request_data(self) -> bytes:
        """What to send upstream now: the head (on a retry, all that was sent before) and
        the body received so far; kept for a retry while it is small."""
        assert self.headers is not None and self.destination is not None
        if self.retried and self.sent is not None:
            pieces = list(self.sent)
        else:
            destination = self.destination
            route = destination.route
            pieces = self.headers.head(
                self.method, destination.path, destination.authority, self.client.peer,
                self.gateway.settings.trust_forwarded_headers,
                route.instance_headers if route is not None else b"",
                to_control_plane=route is None,
            )
        pieces += self._take_pending()
        data = b"".join(pieces)
        self.sent_size = len(data)
        self.sent = [data] if self.sent_size <= REPLAY_LIMIT else None
        return data

    def _take_pending(self) -> list[bytes]:
        pending = self.pending
        if pending:
            self.pending = []
            self.pending_size = 0
            self.client.resume_reading("body")
        return pending

    def _connect(self) -> None:
        assert self.destination is not None
        gateway = self.gateway
        address = self.destination.address
        data = self._request_data()
        try:
            sock, sent = gateway.pool.dial(address, data)
        except OSError as error:
            self._unreachable(error)
            return
        self.unsent = data[sent:]
        task = gateway.loop.create_task(
            gateway.pool.open(address, self._upstream_ready, sock, connected=sent > 0)
        )
        self.connecting = task
        task.add_done_callback(self._connected)
        gateway.deadlines.set(self, gateway.settings.connect_timeout, self._connect_timed_out)

    def _upstream_ready(self, upstream: UpstreamConnection) -> None:
        # Called from the new connection's connection_made, a few loop turns before the
        # connecting task finishes.
        if self.done or self.connecting is None or self.upstream is not None:
            upstream.close()
            return
        self.connecting = None
        self._cancel_timer()
        data, self.unsent = self.unsent, b""
        later = self._take_pending()
        if later:
            # Body that arrived while connecting: it follows what was already prepared.
            data += b"".join(later)
            for chunk in later:
                self._keep_for_retry(chunk)
        self._attach(upstream, data)

    def _connect_timed_out(self) -> None:
        self.respond_error(UpstreamTimeout(
            f"{self._upstream_name()} did not accept a connection within "
            f"{self.gateway.settings.connect_timeout:g}s"
        ))

    def _connected(self, task: asyncio.Task[UpstreamConnection]) -> None:
        """The connecting task ended: only its failures are left to handle here."""
        if task is not self.connecting:
            return
        self.connecting = None
        self._cancel_timer()
        if task.cancelled():
            self.respond_error(BadGateway(f"cannot reach {self._upstream_name()}"))
            return
        error = task.exception()
        if error is None:
            task.result().close()
        elif isinstance(error, OSError):
            self._unreachable(error)
        else:
            log.error("connecting upstream failed", exc_info=error)
            self.respond_error(BadGateway(f"cannot reach {self._upstream_name()}"))

    def _unreachable(self, error: OSError) -> None:
        if self._to_another_replica():
            return
        reason = error.strerror or str(error)
        self.respond_error(BadGateway(f"cannot reach {self._upstream_name()}: {reason}"))

    def _to_another_replica(self) -> bool:
        """The chosen replica refused the connection: it is dead. Send the call to another
        replica of the same generation (once, and only while all that was sent is kept),
        and let the next calls pass it by until the routing table drops it."""
        destination = self.destination
        assert destination is not None
        route, generation = destination.route, destination.generation
        if route is None or generation is None or self.moved or self.sent is None:
            return False
        balancer = self.gateway.balancer
        balancer.mark_down(destination.address)
        other = (balancer.choose(route.instances[generation], avoid=destination.address)
                 if route.mounted(generation) else None)
        if other is None:
            return False
        log.info("%s refused a connection; its call goes to instance %s",
                 self._upstream_name(), other.instance_id)
        if self.counted:
            balancer.ended(destination.address)
        self.destination = destination.moved_to(other)
        balancer.started(other.address)
        self.counted = True
        # What was sent is sent again as it is (its Host is the caller's, or the refused
        # replica's when the caller sent none: replicas of a generation serve alike).
        self.moved = self.retried = True
        self._connect()
        return True

    def _attach(self, upstream: UpstreamConnection, data: bytes) -> None:
        self.upstream = upstream
        upstream.send(self, data, self.no_body)
        if self.client.write_paused:
            upstream.pause_reading()
        if self.body_complete:
            self._arm_answer_timer()

    def upstream_lost(self, connection: UpstreamConnection, error: str | None) -> None:
        """The upstream connection ended before the answer did; ``error`` is None for a
        plain close."""
        if self.done or connection is not self.upstream:
            return
        self.upstream = None
        if not self.head_written:
            if (connection.requests > 1 and not connection.received
                    and self.sent is not None and not self.retried):
                # A reused connection that the upstream closed while it sat idle.
                self.retried = True
                self._cancel_timer()
                self._connect()
                return
            what = error or "closed the connection without answering"
            self.respond_error(BadGateway(f"{self._upstream_name()} {what}"))
        elif self.until_close and error is None:
            self._complete()
        else:
            self._abort()

    def upstream_write_paused(self, paused: bool) -> None:
        if paused:
            self.client.pause_reading("upstream")
        else:
            self.client.resume_reading("upstream")
