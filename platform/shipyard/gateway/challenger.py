"""The challenger: a copy of a call, sent to another generation once the caller has its
answer.

The copy leaves only after the call it copies has ended, on a connection of its own, so
the caller's latency never includes it and a slow, failing or unreachable challenger
cannot touch the caller. Its status, latency and (capped) answer are written into the
call's query record, which goes to the query log only then: both answers sit on one line
under one request id. At most ``max_in_flight`` copies run at once; a call made while
that many are running gets no copy, and its record says so (challenger status 0 with
no latency). Each copy also counts in the gateway's metrics (``metrics.CopyTally``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httptools

from shipyard.contracts.query_record import QueryRecord
from shipyard.contracts.routing_table import Upstream
from shipyard.gateway import metrics
from shipyard.gateway.balancing import Balancer

__all__ = [
    "SKIPPED", "TIMED_OUT", "UNREACHABLE", "ChallengerMirror", "append_capped", "copy_request",
]

log = logging.getLogger(__name__)

SKIPPED = 0
"""Challenger status of a call that got no copy (too many copies in flight, or a body
over the copy limit)."""
UNREACHABLE = 502
TIMED_OUT = 504
_READ_SIZE = 64 * 1024


class ChallengerMirror:
    """Sends copies of calls to challengers and completes their query records."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        record: Callable[[QueryRecord], None],
        *,
        timeout: float,
        body_cap: int,
        max_in_flight: int = 64,
        balancer: Balancer | None = None,
    ) -> None:
        """``balancer`` counts the copies in flight on each of the challenger's replicas,
        so that the next copy goes to the least busy one."""
        self.loop = loop
        self.balancer = balancer
        self.record = record
        self.timeout = timeout
        self.body_cap = body_cap
        self.max_in_flight = max_in_flight
        self._tasks: set[asyncio.Task[None]] = set()

    def send(
        self, upstream: Upstream, generation: str, request: bytes | None,
        query: QueryRecord, tally: metrics.CopyTally | None = None,
    ) -> None:
        """Copy ``request`` (a whole HTTP/1.1 request, or None when it could not be kept)
        to ``upstream``; ``query`` is recorded once the copy has its answer, and the copy
        counted in ``tally``."""
        query.challenger_generation = generation
        if request is None or len(self._tasks) >= self.max_in_flight:
            query.challenger_status = SKIPPED
            self.record(query)
            if tally is not None:
                tally.skipped()
            return
        task = self.loop.create_task(self._call(upstream, request, query, tally))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, grace: float) -> None:
        """Let copies in flight finish for ``grace`` seconds, then cancel the rest (whose
        records are written with what is known)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    async def _call(
        self, upstream: Upstream, request: bytes, query: QueryRecord,
        tally: metrics.CopyTally | None,
    ) -> None:
        started = time.perf_counter()
        outcome = metrics.UNREACHABLE
        if self.balancer is not None:
            self.balancer.started(upstream.address)
        # The answer's body is kept only where the query log keeps bodies, or the
        # supervisor reads the challenger's predictions from it (drift).
        answer = _Answer(self.body_cap if query.keep_bodies or query.monitored else 0)
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(upstream.host, upstream.port)
                writer.write(request)
                parser = answer.parser = httptools.HttpResponseParser(answer)
                while not answer.complete:
                    data = await reader.read(_READ_SIZE)
                    if not data:
                        parser.feed_data(data)  # an answer delimited by the close ends here
                        break
                    parser.feed_data(data)
            query.challenger_status = answer.status or UNREACHABLE
            if answer.status:
                outcome = metrics.ANSWERED
        except TimeoutError:
            query.challenger_status = TIMED_OUT
            outcome = metrics.TIMED_OUT
        except (OSError, httptools.HttpParserError) as error:
            log.debug("challenger %s: %s", upstream.instance_id, error)
            query.challenger_status = UNREACHABLE
        except asyncio.CancelledError:
            if not query.challenger_status:
                query.challenger_status = TIMED_OUT
                outcome = metrics.TIMED_OUT
            raise
        finally:
            if self.balancer is not None:
                self.balancer.ended(upstream.address)
            seconds = time.perf_counter() - started
            query.challenger_latency_ms = seconds * 1000.0
            if answer.body:
                query.challenger_body = bytes(answer.body)
            if writer is not None:
                writer.close()
            self.record(query)
            if tally is not None:
                tally.copied(outcome, query.challenger_status or UNREACHABLE, seconds)


def append_capped(copy: bytearray, chunk: bytes, cap: int) -> bool:
    """Append what room is left of ``chunk`` to ``copy``; whether any of it was cut."""
    room = cap - len(copy)
    if room > 0:
        copy += chunk[:room]
    return len(chunk) > room


def copy_request(head: list[bytes], chunked: bool, body: bytes) -> bytes:
    """A whole request for the challenger from the head of the forwarded one (as
    ``RequestHeaders.head`` makes it) and its whole body, de-chunked: the same headers,
    a length, and ``Connection: close``."""
    pieces = head[:-1]  # without the blank line
    if chunked:
        pieces = pieces[:-1]  # without Transfer-Encoding: chunked
        pieces.append(b"Content-Length: %d\r\n" % len(body))
    pieces += (b"Connection: close\r\n\r\n", body)
    return b"".join(pieces)


class _Answer:
    """httptools callbacks that keep the status and the first ``cap`` bytes of the body."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.status = 0
        self.body = bytearray()
        self.complete = False
        self.parser: httptools.HttpResponseParser | None = None

    def on_headers_complete(self) -> None:
        assert self.parser is not None
        self.status = self.parser.get_status_code()

    def on_body(self, chunk: bytes) -> None:
        append_capped(self.body, chunk, self.cap)

    def on_message_complete(self) -> None:
        self.complete = True
