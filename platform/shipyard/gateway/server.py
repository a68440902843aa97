"""The gateway server: one event loop serving a listening socket.

``Gateway`` holds what the connections share (the routing table, the upstream pool, the
settings, the challenger copies, the query log's spool and the metrics) and starts and
stops serving;
``run_gateway`` runs one on uvloop until SIGTERM or SIGINT, then stops accepting, lets the
calls in flight finish for up to the grace period, and cuts the rest."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import uvloop

from shipyard.contracts.query_record import QueryRecord
from shipyard.contracts.routing_table import RoutingTable
from shipyard.gateway.access import access_log
from shipyard.gateway.activation import ReplicaDemand
from shipyard.gateway.authentication import GatewayGuard
from shipyard.gateway.balancing import Balancer
from shipyard.gateway.challenger import ChallengerMirror
from shipyard.gateway.coalescing import WriteCoalescer
from shipyard.gateway.deadlines import Deadlines
from shipyard.gateway.dispatch import Destination, dispatch
from shipyard.gateway.downstream import ClientConnection
from shipyard.gateway.headers import RequestHeaders
from shipyard.gateway.metrics import GatewayMetrics, MetricsSetup
from shipyard.gateway.metrics_endpoint import MetricsEndpoint
from shipyard.gateway.pool import ConnectionPool
from shipyard.gateway.settings import GatewaySettings
from shipyard.gateway.spool import QuerySpool
from shipyard.gateway.watcher import TableWatcher
from shipyard.iam.authenticator import Authenticator
from shipyard_sdk.user_services import ROUTES_HEADER

__all__ = ["Gateway", "run_gateway"]

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 1.0
LOG_FLUSH_INTERVAL = 0.5
BACKLOG = 2048
# While the query spool's thread turns a second's calls into lines, it and the event loop
# both want the interpreter; the loop would get it back only every switch interval, 5 ms
# by default, which was the p99 of every call then. A tenth of that bounds the wait.
SWITCH_INTERVAL = 0.0005


class Gateway:
    """Serves the data path on one event loop; ``start`` it inside a running loop."""

    def __init__(
        self,
        settings: GatewaySettings,
        routes_path: Path | str,
        api_address: tuple[str, int],
        rng: random.Random | None = None,
        guard: GatewayGuard | None = None,
        query_spool: QuerySpool | None = None,
        metrics: GatewayMetrics | None = None,
        demand: ReplicaDemand | None = None,
    ) -> None:
        """Without ``guard``, no credentials are known: only public services answer.
        Without ``demand``, a call to a service scaled to zero is refused (503), not held.
        Without ``query_spool``, calls are not recorded (challengers still get copies).
        Without ``metrics``, nothing is counted and ``/metrics`` goes to the API."""
        self.settings = settings
        self.metrics = metrics
        self.metrics_address: tuple[str, int] | None = None
        self.record_query: Callable[[QueryRecord], None] = (
            query_spool.submit if query_spool is not None else _forget
        )
        self.guard = guard or GatewayGuard(Authenticator(
            lambda _key_id: None, lambda _api_key: None, services=("-",)
        ))
        self.routes_path = Path(routes_path)
        self.api_address = api_address
        self.rng = rng or random.Random()
        self.balancer = Balancer()
        self.demand = demand
        self.table = RoutingTable()
        self.routes_line = routes_line(self.table)
        self.connections: set[ClientConnection] = set()
        self.stopping = False
        self._live: frozenset[tuple[str, int]] = frozenset({api_address})
        self._servers: list[asyncio.Server] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: ConnectionPool | None = None
        self._deadlines: Deadlines | None = None
        self._challengers: ChallengerMirror | None = None
        self._endpoint: MetricsEndpoint | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "the gateway is not started"
        return self._loop

    @property
    def pool(self) -> ConnectionPool:
        assert self._pool is not None, "the gateway is not started"
        return self._pool

    @property
    def writes(self) -> WriteCoalescer:
        """Where the gateway's connections write, client and upstream alike: its pool's
        (``gateway.coalescing``)."""
        return self.pool.writes

    @property
    def challengers(self) -> ChallengerMirror:
        assert self._challengers is not None, "the gateway is not started"
        return self._challengers

    @property
    def deadlines(self) -> Deadlines:
        assert self._deadlines is not None, "the gateway is not started"
        return self._deadlines

    def use_table(self, table: RoutingTable) -> None:
        self.table = table
        self.routes_line = routes_line(table)
        live = table.addresses()
        self.balancer.keep_only(live)
        live |= {self.api_address}
        if self.demand is not None:
            self.demand.table_changed()
        if self.metrics_address is not None:
            live.add(self.metrics_address)
        self._live = frozenset(live)

    def dispatch(self, target: bytes, headers: RequestHeaders) -> Destination:
        return dispatch(self.table, target, headers, self.rng, self.settings, self.api_address,
                        self.metrics_address, self.balancer.choose, self.demand is not None)

    async def start(self, socks: Sequence[socket.socket]) -> None:
        """Load the routing table and serve ``socks`` (listening sockets)."""
        loop = self._loop = asyncio.get_running_loop()
        settings = self.settings
        self._pool = ConnectionPool(
            loop, settings.pool_max_idle, settings.pool_idle_timeout, settings.connect_timeout
        )
        self._deadlines = Deadlines(loop)
        self._challengers = ChallengerMirror(
            loop, self.record_query, timeout=settings.challenger_timeout,
            body_cap=settings.query_body_bytes, max_in_flight=settings.challenger_in_flight,
            balancer=self.balancer,
        )
        if self.metrics is not None:
            self._endpoint = MetricsEndpoint(self.metrics, self.guard, settings.metrics_token)
            self.metrics_address = await self._endpoint.start()
        watcher = TableWatcher(self.routes_path, settings.reload_interval, self.use_table)
        watcher.load_now()
        self._servers = [
            await loop.create_server(lambda: ClientConnection(self), sock=sock, backlog=BACKLOG)
            for sock in socks
        ]
        self._tasks = [loop.create_task(watcher.run()), loop.create_task(self._sweep()),
                       loop.create_task(self._deadlines.run())]

    async def stop(self) -> None:
        """Stop accepting, let calls in flight finish for the grace period, cut the rest."""
        self.stopping = True
        for server in self._servers:
            server.close()
        for connection in list(self.connections):
            connection.shutdown()
        deadline = self.loop.time() + self.settings.grace_period
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.02)
        if self.connections:
            log.warning("cutting %d connections still open after the grace period",
                        len(self.connections))
        for connection in list(self.connections):
            connection.abort()
        await self.challengers.close(max(0.0, deadline - self.loop.time()))
        if self.metrics is not None:
            self.metrics.flush()
        if self._endpoint is not None:
            await self._endpoint.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.pool.close()
        for handler in access_log.handlers:
            handler.flush()
        for server in self._servers:
            await server.wait_closed()

    async def _sweep(self) -> None:
        """Close idle upstream connections past their time; flush the access log and the
        metrics."""
        next_sweep = self.loop.time() + SWEEP_INTERVAL
        while True:
            await asyncio.sleep(LOG_FLUSH_INTERVAL)
            for handler in access_log.handlers:
                handler.flush()
            if self.metrics is not None:
                self.metrics.flush()
            if self.loop.time() >= next_sweep:
                next_sweep += SWEEP_INTERVAL
                self.pool.sweep(self._live)


def run_gateway(
    settings: GatewaySettings,
    socks: Sequence[socket.socket],
    routes_path: Path | str,
    api_address: tuple[str, int],
    guard: GatewayGuard | None = None,
    query_spool_dir: Path | None = None,
    metrics: MetricsSetup | None = None,
    demand: ReplicaDemand | None = None,
) -> int:
    """Serve ``socks`` on uvloop until SIGTERM or SIGINT; returns the exit status.

    With ``query_spool_dir``, every service call is recorded there for the query log; the
    spool is written out in full when the gateway stops. With ``metrics``, calls are
    counted for Prometheus and ``/metrics`` serves them."""
    spool = QuerySpool(query_spool_dir) if query_spool_dir is not None else None
    counted = GatewayMetrics(metrics) if metrics is not None else None
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_serve(settings, socks, routes_path, api_address, guard, spool,
                              counted, demand))
    finally:
        if spool is not None:
            spool.close()
    return 0


async def _serve(
    settings: GatewaySettings,
    socks: Sequence[socket.socket],
    routes_path: Path | str,
    api_address: tuple[str, int],
    guard: GatewayGuard | None,
    spool: QuerySpool | None,
    metrics: GatewayMetrics | None,
    demand: ReplicaDemand | None,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    gateway = Gateway(settings, routes_path, api_address, guard=guard, query_spool=spool,
                      metrics=metrics, demand=demand)
    await gateway.start(socks)
    # What exists now lives as long as the process: keep it out of every collection.
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL)
    addresses = ", ".join(str(sock.getsockname()) for sock in socks)
    log.info("gateway serving %s (api upstream %s:%d)", addresses, *api_address)
    await stop.wait()
    log.info("gateway stopping")
    await gateway.stop()


def routes_line(table: RoutingTable) -> bytes:
    """The header line that tells, on the control plane's answers, which routing table this
    gateway worker serves (a client waiting for a deploy compares it with the service's
    ``routes_serial``)."""
    return b"%s: %d\r\n" % (ROUTES_HEADER.encode(), table.serial)


def _forget(_query: QueryRecord) -> None:
    pass
