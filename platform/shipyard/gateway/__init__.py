"""The gateway: Shipyard's data path, an asyncio (uvloop) process of its own.

``/user-services/invoke/<service id or name>/<path>`` is forwarded to a live instance of
that service, picked from the routing table the supervisor publishes; every other path
goes unchanged to the control plane's API upstream. Bodies stream both ways; the
supervisor's side of the contract is ``write_routing_table``.

Start it with ``python -m shipyard.gateway --fd N --routes PATH --api-upstream HOST:PORT``.
"""

from shipyard.gateway.routes import (
    ROUTING_TABLE_VERSION,
    RoutingTable,
    RoutingTableError,
    ServiceRoute,
    Upstream,
    write_routing_table,
)
from shipyard.gateway.settings import GatewaySettings

__all__ = [
    "ROUTING_TABLE_VERSION",
    "GatewaySettings",
    "RoutingTable",
    "RoutingTableError",
    "ServiceRoute",
    "Upstream",
    "write_routing_table",
]
