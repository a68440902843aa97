"""The docker runner: images built per generation, containers per instance.

Its public surface, for the control plane: the runner, the installation's id and labels,
the engine connection, and whether an address is loopback (to open the gateway to
containers). The other modules are its own.
"""

from shipyard_runners.containers import labels
from shipyard_runners.containers.engine import Engine, engine_errors
from shipyard_runners.containers.host_address import is_loopback
from shipyard_runners.containers.labels import installation_id
from shipyard_runners.containers.runner import DockerRunner

__all__ = ["DockerRunner", "Engine", "engine_errors", "installation_id", "is_loopback", "labels"]
