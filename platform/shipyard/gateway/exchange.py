"""One call through the gateway: a client's request forwarded upstream, and the answer
streamed back.

An exchange is driven by callbacks, not by a task (its upstream side, forwarding and
retrying, is in ``gateway.forwarding``): the client connection feeds it the
request (``feed_body``, ``end_body``) and starts it when the answers before it are done
(``start``); the upstream connection feeds it the answer (``response_head``,
``response_body``, ``response_flush``). Bodies are streamed both ways as they arrive,
with back-pressure (a full write buffer on one side pauses reading on the other); a body
is re-framed only when it is chunked, and an answer is written to the client in one
write per read from the upstream.

Only failures before the answer's head has been sent become error answers (502, 504,
413...); after that, the client connection is cut so the caller sees a truncated answer.

A call to a service that is not public waits for its credentials to be checked
(``gateway.authentication``) before anything is forwarded; its body is held meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import TYPE_CHECKING

from shipyard.contracts.query_record import BATCH_JOB_HEADER
from shipyard.errors import (
    Forbidden,
    InvalidInput,
    PayloadTooLarge,
    ShipyardError,
    Unauthorized,
    Unavailable,
    UpstreamTimeout,
)
from shipyard.gateway.access import CLIENT_GONE, log_call
from shipyard.gateway.authentication import SIGV4, credentials_kind
from shipyard.gateway.dispatch import Destination, ScaledToZero, refused_destination
from shipyard.gateway.forwarding import Forwarding
from shipyard.gateway.headers import RequestHeaders, ResponseHeaders, request_id_of
from shipyard.gateway.recording import BodyCopies, record_call
from shipyard.gateway.responses import CONTINUE, error_response
from shipyard.gateway.upstream import UpstreamConnection
from shipyard.iam.authenticator import CREDENTIALS_NEEDED
from shipyard.iam.principals import Caller

if TYPE_CHECKING:
    from shipyard.contracts.routing_table import ServiceRoute
    from shipyard.gateway.downstream import ClientConnection

__all__ = ["Exchange"]

log = logging.getLogger(__name__)

# Body bytes buffered while no upstream connection is ready, before reading pauses.
BUFFER_LIMIT = 1024 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})
_READS = frozenset({b"GET", b"HEAD"})
_LAST_CHUNK = b"0\r\n\r\n"
# What a signed call without a body hashes to: most calls are GETs, and a hash object
# costs more to make than the rest of what waits for the body.
_EMPTY_SHA256 = hashlib.sha256().hexdigest()


class Exchange(Forwarding):
    """One call; its upstream side is ``Forwarding``'s (``gateway.forwarding``)."""

    __slots__ = (
        "awaiting",
        "body_complete",
        "body_hash",
        "body_size",
        "caller",
        "chunked_out",
        "client",
        "close_after",
        "connecting",
        "copies",
        "counted",
        "destination",
        "done",
        "error",
        "forwarded",
        "forwarded_at",
        "gateway",
        "hashing_body",
        "head_written",
        "headers",
        "held",
        "http11",
        "keep_upstream",
        "last_read",
        "limit",
        "method",
        "moved",
        "no_body",
        "out",
        "pending",
        "pending_size",
        "predictions",
        "raw_headers",
        "request_id",
        "response_bytes",
        "retried",
        "sent",
        "sent_size",
        "sized",
        "started",
        "started_at",
        "status",
        "target",
        "unsent",
        "until_close",
        "upstream",
        "warnings",
        "watch_idle"
    )

    def __init__(
        self,
        client: ClientConnection,
        method: bytes,
        target: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        http11: bool,
        keep_alive: bool,
    ) -> None:
        gateway = client.gateway
        self.client = client
        self.gateway = gateway
        self.method = method
        self.target = target
        self.http11 = http11
        self.close_after = not keep_alive
        self.started_at = time.perf_counter()
        self.started = False
        self.done = False
        self.body_size = 0
        self.body_complete = False
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.sent: list[bytes] | None = None
        self.sent_size = 0
        self.upstream: UpstreamConnection | None = None
        self.connecting: asyncio.Task[UpstreamConnection] | None = None
        self.retried = False
        self.moved = False
        self.counted = False
        self.held = False
        self.unsent = b""
        self.watch_idle = False
        self.last_read = 0.0
        self.status = 0
        self.head_written = False
        self.chunked_out = False
        self.until_close = False
        self.sized = False
        self.keep_upstream = False
        self.no_body = method == b"HEAD"
        self.response_bytes = 0
        self.out: list[bytes] = []
        self.error: ShipyardError | None = None
        self.destination: Destination | None = None
        self.limit: int | None = None
        self.headers: RequestHeaders | None = None
        self.caller: Caller | None = None
        self.awaiting = False
        self.forwarded = False
        self.forwarded_at = 0.0
        self.predictions: int | None = None
        self.warnings: int | None = None
        self.body_hash: hashlib._Hash | None = None
        self.hashing_body = False
        self.raw_headers: list[tuple[bytes, bytes]] | None = None
        self.copies: BodyCopies | None = None
        try:
            self.headers = headers = RequestHeaders(raw_headers)
        except InvalidInput as error:
            self.error = error
            self.request_id = request_id_of(None)
            return
        self.request_id = headers.request_id
        try:
            self.destination = gateway.dispatch(target, headers)
        except ScaledToZero as idle:
            self._hold(idle.route)
        except ShipyardError as error:
            self.error = error
            # Logged under its service when it names one (a 503 for a stopped service).
            self.destination = refused_destination(gateway.table, target)
            return
        self.limit = limit = self.destination.body_limit
        if limit is not None and headers.content_length is not None and (
            headers.content_length > limit
        ):
            self.error = _too_large(limit)
            return
        if self.destination.route is not None:
            self.copies = BodyCopies.for_route(self.destination.route, gateway.settings)
        if self.destination.needs_credentials or (
                headers.batch_job is not None and self.destination.route is not None):
            self._require_credentials(raw_headers)

    # -- the request, from the client ----------------------------------------------------

    def feed_body(self, chunk: bytes) -> None:
        if self.done or self.error is not None:
            return
        self.body_size += len(chunk)
        limit = self.limit
        if limit is not None and self.body_size > limit:
            self.fail(_too_large(limit))
            return
        assert self.headers is not None
        if self.hashing_body:
            if self.body_hash is None:
                self.body_hash = hashlib.sha256()
            self.body_hash.update(chunk)
        if self.copies is not None:
            self.copies.request_chunk(chunk)
        if self.headers.chunked:
            chunk = b"%x\r\n%b\r\n" % (len(chunk), chunk)
        self._send_body(chunk)

    def end_body(self) -> None:
        self.body_complete = True
        if self.done or self.error is not None:
            return
        assert self.headers is not None
        if self.headers.chunked:
            self._send_body(_LAST_CHUNK)
        if self.awaiting and self.hashing_body:
            body_hash = self.body_hash
            self._check_credentials(
                _EMPTY_SHA256 if body_hash is None else body_hash.hexdigest())
        if self.upstream is not None and self.status == 0:
            self._arm_answer_timer()

    def _send_body(self, data: bytes) -> None:
        upstream = self.upstream
        if upstream is None:
            self.pending.append(data)
            self.pending_size += len(data)
            # A held call keeps its whole body (up to the body limit) until it may go.
            if self.pending_size > BUFFER_LIMIT and not self.awaiting:
                self.client.pause_reading("body")
            return
        upstream.write(data)
        self._keep_for_retry(data)

    def fail(self, error: ShipyardError) -> None:
        """The request turned out to be unacceptable (too large, malformed)."""
        self.close_after = True
        if self.started:
            self.respond_error(error)
        else:
            self.error = error
            self.pending = []
            self.client.resume_reading("body")

    # -- forwarding ----------------------------------------------------------------------

    def start(self) -> None:
        """Forward the request, or answer its error; called when it is this one's turn."""
        self.started = True
        if self.error is not None:
            self.respond_error(self.error)
            return
        assert self.headers is not None and self.destination is not None
        if self.headers.expect_continue and not self.body_complete:
            self.client.write(CONTINUE)
        if not self.awaiting:
            self._forward()

    # -- credentials ---------------------------------------------------------------------

    def _require_credentials(self, raw_headers: list[tuple[bytes, bytes]]) -> None:
        kind = credentials_kind(self.target, raw_headers)
        if kind is None:
            self.error = Unauthorized(CREDENTIALS_NEEDED)
            return
        self.awaiting = True
        self.raw_headers = raw_headers
        if kind == SIGV4:
            self.hashing_body = True  # checked once the body is complete
        else:
            self._check_credentials(None)

    def _check_credentials(self, body_sha256: str | None) -> None:
        assert self.destination is not None and self.destination.route is not None
        assert self.raw_headers is not None
        self.gateway.guard.check(
            self.gateway.loop, self.destination.route, self.method, self.target,
            self.raw_headers, body_sha256, self._credentials_checked,
        )

    def _credentials_checked(self, caller: Caller | None, error: ShipyardError | None) -> None:
        if self.done:
            return
        self.awaiting = False
        self.raw_headers = None
        self.body_hash = None
        self.hashing_body = False
        if error is None and self.headers is not None and self.headers.batch_job is not None and (
                caller is None or caller.batch_job != self.headers.batch_job):
            error = Forbidden(f"only batch job {self.headers.batch_job!r}'s own access key "
                              f"may send {BATCH_JOB_HEADER}")
        if error is not None:
            self.fail(error)
            return
        self.caller = caller
        if self.pending_size > BUFFER_LIMIT and not self.body_complete:
            self.client.pause_reading("body")
        if self.started:
            self._forward()

    # -- a service scaled to zero -------------------------------------------------------

    def _hold(self, route: ServiceRoute) -> None:
        """Wait for a replica of ``route`` (``gateway.activation``), at most the upstream
        timeout; the request is read (and its credentials checked) meanwhile."""
        gateway = self.gateway
        assert gateway.demand is not None
        self.held = True
        self.destination = Destination.held(route, gateway.settings)
        gateway.demand.hold(route.id, self)
        gateway.deadlines.set(self, gateway.settings.upstream_timeout, self._never_resumed)

    def resume(self) -> bool:
        """The routing table changed: go on if the service has a replica now; False while
        it has none."""
        if self.done or not self.held:
            return True
        assert self.headers is not None
        try:
            destination = self.gateway.dispatch(self.target, self.headers)
        except ScaledToZero:
            return False
        except ShipyardError as error:  # disabled, undeployed, deleted meanwhile
            self.held = False
            self._cancel_timer()
            self._refuse(error)
            return True
        self.held = False
        self._cancel_timer()
        self.destination = destination
        if self.started and not self.awaiting and self.error is None:
            self._forward()
        return True

    def _never_resumed(self) -> None:
        self.held = False
        name = self.destination.service if self.destination is not None else "?"
        self._refuse(Unavailable(
            f"service {name!r} is scaled to zero and no replica of it became healthy "
            f"within {self.gateway.settings.upstream_timeout:g}s"
        ))

    def _refuse(self, error: ShipyardError) -> None:
        """Answer ``error`` in this call's turn (now, if it is its turn)."""
        if self.started:
            self.respond_error(error)
        else:
            self.error = error

    # -- the answer, from the upstream ---------------------------------------------------

    def response_head(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], keep_alive: bool
    ) -> None:
        if self.done:
            return
        self._cancel_timer()
        self.status = status
        self.keep_upstream = keep_alive
        answer = ResponseHeaders(headers)
        self.predictions = answer.predictions
        self.warnings = answer.warnings
        no_body = self.no_body or status in _NO_BODY_STATUSES
        self.sized = not no_body and answer.sized
        if not no_body and not self.sized:
            # Chunked, or delimited by the upstream closing: chunked to an HTTP/1.1
            # client, delimited by closing to an HTTP/1.0 one.
            self.until_close = not answer.chunked
            self.chunked_out = self.http11
            self.close_after = self.close_after or not self.http11
        if not self.body_complete or self.gateway.stopping:
            self.close_after = True
        destination = self.destination
        assert destination is not None
        assert self.headers is not None
        self.out.append(answer.head(
            status, reason, self.chunked_out, self.close_after, self.http11,
            destination.generation, self.request_id,
            self.gateway.routes_line if destination.service is None else b"",
            self.headers.null_origin and self.method in _READS and destination.route is not None
            and destination.route.access_level == "public",
        ))
        self.head_written = True
        idle_timeout = destination.idle_timeout
        if idle_timeout is not None and not no_body:
            self.last_read = self.gateway.loop.time()
            self.watch_idle = True
            self.gateway.deadlines.set(self, idle_timeout, self._check_idle)

    def response_body(self, chunk: bytes) -> None:
        if self.done:
            return
        self.response_bytes += len(chunk)
        if self.copies is not None:
            self.copies.answer_chunk(chunk)
        if self.chunked_out:
            self.out += (b"%x\r\n" % len(chunk), chunk, b"\r\n")
        else:
            self.out.append(chunk)
        if self.watch_idle:
            self.last_read = self.gateway.loop.time()

    def response_flush(self, complete: bool) -> None:
        if self.done:
            return
        if complete:
            self._complete()
        elif self.out and (self.response_bytes or not self.sized):
            self.client.write(b"".join(self.out))
            self.out.clear()
        # Else only the head of a sized answer has come: it leaves with the first body
        # bytes, which instances send right behind it, one write (and wake-up) fewer.

    # -- the client ----------------------------------------------------------------------

    def client_write_paused(self, paused: bool) -> None:
        upstream = self.upstream
        if upstream is not None:
            if paused:
                upstream.pause_reading()
            else:
                upstream.resume_reading()

    def client_lost(self) -> None:
        """The client connection closed; drop whatever is still in flight."""
        if self.done:
            return
        if not self.started:
            self.done = True
            return
        self._drop_upstream()
        self._end(self.status if self.head_written and self.status else CLIENT_GONE)

    # -- ending ------------------------------------------------------------------------

    def respond_error(self, error: ShipyardError) -> None:
        """Answer ``error`` if nothing was answered yet, else cut the client connection."""
        if self.done:
            return
        if self.head_written:
            self._abort()
            return
        self._drop_upstream()
        if not self.body_complete:
            self.close_after = True
        data = error_response(error, self.request_id, self.close_after)
        self.status = error.http_status
        self.client.write(data)
        self._end(self.status)
        self.client.exchange_finished(self)

    def _complete(self) -> None:
        self._cancel_timer()
        if self.chunked_out:
            self.out.append(_LAST_CHUNK)
        if self.out:
            self.client.write(b"".join(self.out))
            self.out.clear()
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            if self.keep_upstream and self.body_complete and not self.until_close:
                self.gateway.pool.release(upstream)
            else:
                upstream.close()
        self._end(self.status)
        self.client.exchange_finished(self)

    def _abort(self) -> None:
        self._drop_upstream()
        self._end(self.status or CLIENT_GONE)
        self.client.abort()

    def _drop_upstream(self) -> None:
        self._cancel_timer()
        if self.connecting is not None:
            self.connecting.cancel()
            self.connecting = None
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.close()

    def _end(self, status: int) -> None:
        self.done = True
        self.out.clear()
        self.pending = []
        elapsed = time.perf_counter() - self.started_at
        destination = self.destination
        if self.counted:
            assert destination is not None
            self.counted = False
            self.gateway.balancer.ended(destination.address)
        if self.gateway.settings.access_log:
            log_call(
                destination.label if destination is not None else "-",
                destination.generation if destination is not None else None,
                self.method, self.target, status, elapsed, self.response_bytes,
                self.request_id,
            )
        if destination is not None and destination.route is not None:
            record_call(self, destination, status, elapsed)

    # -- timeouts ----------------------------------------------------------------------

    def _arm_answer_timer(self) -> None:
        deadlines = self.gateway.deadlines
        if self not in deadlines:
            deadlines.set(self, self.gateway.settings.upstream_timeout, self._answer_timed_out)

    def _answer_timed_out(self) -> None:
        self.respond_error(UpstreamTimeout(
            f"{self._upstream_name()} did not answer within "
            f"{self.gateway.settings.upstream_timeout:g}s"
        ))

    def _check_idle(self) -> None:
        if self.done or self.destination is None or self.destination.idle_timeout is None:
            return
        timeout = self.destination.idle_timeout
        waited = self.gateway.loop.time() - self.last_read
        if waited >= timeout:
            log.warning("%s stalled for %.0fs in the middle of an answer; cut",
                        self._upstream_name(), waited)
            self._abort()
        else:
            self.gateway.deadlines.set(self, timeout - waited, self._check_idle)

    def _cancel_timer(self) -> None:
        self.watch_idle = False
        self.gateway.deadlines.clear(self)

    def _upstream_name(self) -> str:
        destination = self.destination
        if destination is None or destination.service is None:
            return "the control plane API"
        return f"service {destination.service!r} (generation {destination.generation})"


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is over the limit of {limit} bytes")
