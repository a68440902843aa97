"""The gateway: Shipyard's data path, an asyncio (uvloop) process of its own.

``/user-services/invoke/<service id or name>/<path>`` is forwarded to a live instance of
that service, picked from the routing table the supervisor publishes; every other path
goes unchanged to the control plane's API upstream, but ``/metrics``, which each worker
answers from its own counts (``metrics``, ``metrics_endpoint``, ``metrics_fleet``). Bodies
stream both ways. The routing table is a contract (``shipyard.contracts.routing_table``)
the supervisor writes.

Run by the gateway process only. It imports iam (to check credentials, which reaches the
store), the contracts and the errors; nothing of the domain, the supervisor or the API,
and none of docker-py, jinja2 or flask.

Start it with ``python -m shipyard.gateway --fd N --routes PATH --api-upstream HOST:PORT``.
"""

from shipyard.contracts.routing_table import (
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
