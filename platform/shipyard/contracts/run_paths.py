"""The run folder, ``<home>/run``: the files through which the processes of one
``shipyard up`` find each other and hand each other work. Each is named here once, with
who writes it and who reads it:

    api.json        up writes the URL it serves (``write_run_file``); the CLI reads it
    up.lock         up holds it while it runs (``shipyard.home.lock_home``)
    routes.json     the supervisor writes the routing table; the gateway reads it
    supervisor.wake the supervisor reads this FIFO between ticks; the API writes a byte into
                    it after a change the supervisor acts on (``supervisor_wakeups``)
    fleet.json      the supervisor writes its fleet snapshot; the gateway's /metrics reads it
    metrics/        a gateway with several workers keeps their Prometheus counters there
    query-spool/    gateways write query records; the supervisor ingests them
    demand/         a gateway writes <service id> when a call waits for a service scaled to
                    zero (and wakes the supervisor); the supervisor starts a replica
    build-scratch/  the supervisor's builds unpack code there; a new one empties it
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = [
    "build_scratch_dir",
    "clear_run_file",
    "demand_dir",
    "fleet_file",
    "lock_file",
    "metrics_dir",
    "query_spool_dir",
    "read_run_file",
    "routes_file",
    "run_dir",
    "run_file",
    "supervisor_wakeups_file",
    "write_run_file",
]


def run_dir(home: Path) -> Path:
    return home / "run"


def routes_file(home: Path) -> Path:
    """Where the supervisor publishes the routing table the gateway reads."""
    return run_dir(home) / "routes.json"


def supervisor_wakeups_file(home: Path) -> Path:
    """The FIFO through which the API wakes the supervisor."""
    return run_dir(home) / "supervisor.wake"


def demand_dir(home: Path) -> Path:
    """Where a gateway asks for a replica of a service scaled to zero: a file named after
    the service's id, written when a call waits for it."""
    return run_dir(home) / "demand"


def fleet_file(home: Path) -> Path:
    """Where the supervisor publishes the fleet snapshot (instances and builds) that the
    gateway's ``/metrics`` reads."""
    return run_dir(home) / "fleet.json"


def metrics_dir(home: Path) -> Path:
    """Where the workers of a gateway keep their Prometheus counters (multiprocess
    mode); the gateway empties it when it starts."""
    return run_dir(home) / "metrics"


def query_spool_dir(home: Path) -> Path:
    """Where gateways leave their query-log records for the supervisor to ingest."""
    return run_dir(home) / "query-spool"


def build_scratch_dir(home: Path) -> Path:
    """Where the supervisor's builds unpack a generation's code."""
    return run_dir(home) / "build-scratch"


def lock_file(home: Path) -> Path:
    """The lock a running ``shipyard up`` holds on its home."""
    return run_dir(home) / "up.lock"


def run_file(home: Path) -> Path:
    """Where a running ``shipyard up`` records its URL, so the CLI can find it."""
    return run_dir(home) / "api.json"


def read_run_file(home: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(run_file(home).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_run_file(home: Path, url: str) -> None:
    path = run_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"url": url, "pid": os.getpid()}))


def clear_run_file(home: Path) -> None:
    """Remove the run file if this process wrote it."""
    info = read_run_file(home)
    if info and info.get("pid") == os.getpid():
        run_file(home).unlink(missing_ok=True)
