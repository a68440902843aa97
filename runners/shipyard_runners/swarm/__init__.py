"""The swarm runner: generations built as the docker runner builds them and pushed to a
registry, each instance a Swarm service of one task that Swarm places on a node.

Its public surface, for the control plane: the runner, and the default range of the host
ports its replicas publish. The other modules are its own: ``runner`` (the protocol),
``replica_specs`` (the service of one replica), ``replicas`` (finding it, waiting for its
placement, its output), ``tasks`` (its task as Swarm reports it), ``cluster`` (the swarm's
nodes), ``ports``, ``registries`` and ``secret_objects``.
"""

from shipyard_runners.swarm.ports import DEFAULT_PORTS
from shipyard_runners.swarm.runner import SwarmRunner

__all__ = ["DEFAULT_PORTS", "SwarmRunner"]
