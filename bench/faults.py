"""Fault benchmark: each process of ``shipyard up`` killed under load.

    python bench/faults.py [--connections N] [--settle S]

A hello service is called through the gateway without pause on keep-alive connections
while, one at a time, the gateway, the API, the supervisor and the service's instance get
SIGKILL. For each kill it prints the calls that failed, the time from the kill to the
last failed call (how long the service was out), the time until the killed process was
replaced (for the instance: until a new master listens; its sandbox's PID namespace ends
with the master, workers included), and, for
the gateway, how many calls answered before the kill never reached the query log (the
gateway flushes its records once a second, so the README allows a second). The tree keeps
the listening sockets, so callers who connect while a gateway restarts wait for it.

Goals: the service back within 3 s of any kill; calls fail only in that window; no
query record lost beyond the last second's.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from rollout import SERVICE, Call, load, serve_hello  # noqa: E402

from tests.conftest import RunningShipyard, start_shipyard  # noqa: E402

CHILDREN = {"gateway": "shipyard.gateway", "api": "shipyard.api.process",
            "supervisor": "shipyard.supervisor"}


def child(shipyard: RunningShipyard, module: str) -> psutil.Process:
    for process in psutil.Process(shipyard.process.pid).children():
        if module in process.cmdline():
            return process
    raise LookupError(module)


def instance(shipyard: RunningShipyard) -> psutil.Process:
    """The gunicorn master of the service's instance: from a gunicorn process listening on
    the instance's port (a worker, or the master), up its parents while they are gunicorn
    (the sandbox's bwrap, which holds the socket too, is not)."""
    with shipyard.sdk() as client:
        address = client.services.get(SERVICE)["instances"][0]["address"]
    if not address:  # being started again
        raise LookupError(SERVICE)
    port = int(address.rsplit(":", 1)[1])
    for connection in psutil.net_connections("tcp"):
        if (connection.status != psutil.CONN_LISTEN or connection.laddr.port != port
                or not connection.pid):
            continue
        process = psutil.Process(connection.pid)
        if not _is_gunicorn(process):
            continue
        while (parent := process.parent()) is not None and _is_gunicorn(parent):
            process = parent
        return process
    raise LookupError(address)


def _is_gunicorn(process: psutil.Process) -> bool:
    """``python -m gunicorn``: not the bwrap around it, whose arguments name it too."""
    return process.cmdline()[1:3] == ["-m", "gunicorn"]


def replaced(find, old_pid: int, timeout: float = 60.0) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            if find().pid != old_pid:
                return time.perf_counter() - started
        except (LookupError, KeyError, IndexError, psutil.Error):
            pass
        time.sleep(0.02)
    return float("nan")


def logged_calls(shipyard: RunningShipyard, since: float) -> int:
    """Calls answered 200 in the query log from ``since`` (a UNIX time) on."""
    start = datetime.fromtimestamp(since, UTC).isoformat()
    answer = shipyard.http.get(f"{shipyard.url}/api/v1/services/{SERVICE}/queries",
                               params={"since": start}, timeout=60)
    answer.raise_for_status()
    return sum(1 for line in answer.text.splitlines() if json.loads(line)["status"] == 200)


def one_kill(shipyard: RunningShipyard, url: str, name: str, connections: int,
             settle: float) -> None:
    find = (lambda: instance(shipyard)) if name == "instance" else (
        lambda: child(shipyard, CHILDREN[name]))
    victim = find()
    calls: list[Call] = []
    began = time.time()
    loader = threading.Thread(
        target=lambda: calls.extend(load(url, connections, 2 * settle + 4)))
    loader.start()
    time.sleep(settle)
    killed_at = time.perf_counter()
    os.kill(victim.pid, signal.SIGKILL)
    back_after = replaced(find, victim.pid)
    loader.join()
    failed = [call for call in calls if not call.ok]
    out = max((call.started + call.latency for call in failed), default=killed_at) - killed_at
    line = (f"{name:<11} {len(failed):>6} failed of {len(calls):>6}  out {max(out, 0):5.2f} s"
            f"  replaced in {back_after:5.2f} s")
    if name == "gateway":
        time.sleep(3)  # the new gateway's records reach the log
        answered = [call for call in calls if call.ok and call.started < killed_at]
        after = sum(1 for call in calls if call.ok and call.started >= killed_at)
        lost = max(0, len(answered) + after - logged_calls(shipyard, began))
        per_second = len(answered) / settle
        line += f"  query records lost {lost} ({lost / per_second:.2f} s of calls)"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds of load before each kill")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as scratch:
        shipyard = start_shipyard(Path(scratch) / "home")
        try:
            url = serve_hello(shipyard)
            print(f"{'killed':<11} {'calls':>24}  {'service out':>12}  process back", flush=True)
            for name in ("gateway", "api", "supervisor", "instance"):
                one_kill(shipyard, url, name, args.connections, args.settle)
                time.sleep(2)
        finally:
            shipyard.stop()


if __name__ == "__main__":
    main()
