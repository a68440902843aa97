"""The docker runner: images built per generation, containers per instance."""

from shipyard_runners.containers.labels import installation_id
from shipyard_runners.containers.runner import DockerRunner

__all__ = ["DockerRunner", "installation_id"]
