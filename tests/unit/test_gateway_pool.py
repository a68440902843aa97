"""The gateway's upstream connection pool, on real loopback connections."""

from __future__ import annotations

import asyncio
import socket

from shipyard.gateway.pool import ConnectionPool
from shipyard.gateway.upstream import UpstreamConnection


def test_a_connection_paused_by_a_slow_client_comes_back_reading() -> None:
    async def scenario() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        accepted: list[asyncio.BaseTransport] = []

        class Upstream(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                accepted.append(transport)

        server = await loop.create_server(Upstream, "127.0.0.1", 0)
        address = server.sockets[0].getsockname()[:2]
        pool = ConnectionPool(loop, max_idle=4, idle_timeout=15, connect_timeout=5)
        connection = UpstreamConnection(pool, address)
        sock = socket.create_connection(address)
        await loop.connect_accepted_socket(lambda: connection, sock)
        assert connection.transport is not None
        connection.pause_reading()  # the client's writes backed up at the answer's end
        paused = not connection.transport.is_reading()
        pool.release(connection)
        reading = connection.transport.is_reading()
        connection.close()
        for transport in accepted:
            transport.close()
        await asyncio.sleep(0.01)  # the transports close on the loop's next turns
        server.close()
        await server.wait_closed()
        return paused, reading

    assert asyncio.run(scenario()) == (True, True)
