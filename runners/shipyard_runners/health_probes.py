"""A runner's own look at an instance's health route, from where the gateway calls it.

An engine's proxy (or a node's published port) may accept a connection before gunicorn
listens, so an instance that does not answer is ``starting`` until it has answered once,
and ``unhealthy`` after.
"""

from __future__ import annotations

import http.client
import threading

from shipyard_runners.protocol import InstanceHandle, State
from shipyard_sdk.runtime.health import HEALTH_PATH

__all__ = ["HealthProbes"]


class HealthProbes:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._answered: set[str] = set()
        self._lock = threading.Lock()

    def state(self, handle: InstanceHandle) -> State:
        """What ``GET HEALTH_PATH`` at the handle's address says now."""
        connection = http.client.HTTPConnection(handle.host, handle.port, timeout=self.timeout)
        try:
            connection.request("GET", HEALTH_PATH)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            with self._lock:
                answered = handle.instance_id in self._answered
            return State.UNHEALTHY if answered else State.STARTING
        finally:
            connection.close()
        if response.status != 200:
            return State.UNHEALTHY
        with self._lock:
            self._answered.add(handle.instance_id)
        return State.HEALTHY

    def forget(self, instance_id: str) -> None:
        with self._lock:
            self._answered.discard(instance_id)
