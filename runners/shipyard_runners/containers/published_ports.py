"""The host port an instance's container publishes, after the container is gone."""

from __future__ import annotations

import socket
import time

__all__ = ["wait_until_refused"]


def wait_until_refused(host: str, port: int, within: float = 5.0) -> bool:
    """Wait until nothing accepts connections at ``host:port``; False if something still did
    after ``within`` seconds.

    The engine answers a stop once the container's state is "exited", and releases its
    published ports (the docker-proxy listening on the host) only afterwards, in the exit's
    clean-up; an instance is not stopped for its callers while its port still accepts.
    """
    deadline = time.monotonic() + within
    while True:
        with socket.socket() as probe:
            probe.settimeout(1.0)
            if probe.connect_ex((host, port)) != 0:
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
