"""Scale-out benchmark: replicas of a CPU-bound service, and the autoscaler under a step.

    python bench/scale.py [--connections 8] [--duration 8] [--rounds 2]
                          [--stable-window 12] [--panic-window 3] [--scale-down-delay 6]

Prints, from one real ``shipyard up`` on this machine (local runner, public service, the
load through the gateway from this process's own keep-alive client):

- the throughput of a CPU-bound service (about 5 ms of pure Python a call) with 1, 2 and
  4 replicas (min_replicas = max_replicas), the counts alternating each round, and each
  count's ratio to one replica: near-linear is the goal up to the cores there are;
- the autoscaler (min 1, max 4, target 1 call in flight per replica) under a step: from
  one connection to ``--connections``, the time until it runs 4 healthy replicas; then
  back to one connection, the time until it runs 1 again; the failed calls of each phase
  (goal 0). The windows are shortened (the flags) so the run takes a minute, not five.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from rollout import Call, load, percentile  # noqa: E402

from tests.conftest import RunningShipyard, start_shipyard  # noqa: E402

SERVICE = "crunch"
CRUNCH = (
    "from flask import Flask\napp = Flask(__name__)\n\n"
    "@app.get('/')\ndef crunch():\n"
    "    return {'sum': sum(i * i for i in range(60_000))}\n"
)


def api(shipyard: RunningShipyard, path: str = "") -> str:
    return f"{shipyard.url}/api/v1/services/{SERVICE}{path}"


def status(shipyard: RunningShipyard) -> dict[str, Any]:
    return shipyard.http.get(api(shipyard), timeout=10).json()


def healthy(shipyard: RunningShipyard) -> int:
    return sum(i["state"] == "healthy" for i in status(shipyard)["instances"])


def replicas(shipyard: RunningShipyard) -> int:
    scaling = [e for e in status(shipyard)["scaling"] if e["generation"] == "v1"]
    return scaling[0]["replicas"] if scaling else 0


def wait(predicate: Any, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    raise SystemExit(f"timed out after {timeout:g} s waiting for {what}")


def serve(shipyard: RunningShipyard) -> str:
    shipyard.http.post(f"{shipyard.url}/api/v1/services", json={"name": SERVICE},
                       timeout=10).raise_for_status()
    shipyard.http.put(api(shipyard, "/files/app.py"), data=CRUNCH,
                      timeout=10).raise_for_status()
    shipyard.http.post(api(shipyard, "/enable"), timeout=10).raise_for_status()
    shipyard.set_access_level(SERVICE, "public")
    tag = shipyard.http.post(api(shipyard, "/deploy"), timeout=10).json()["tag"]
    with shipyard.sdk() as client:
        client.services.wait_until_serving(SERVICE, tag, timeout=300)
    return f"{shipyard.url}/user-services/invoke/{SERVICE}/"


def set_replicas(shipyard: RunningShipyard, low: int, high: int, target: float = 2.0) -> None:
    shipyard.http.patch(api(shipyard), json={
        "min_replicas": low, "max_replicas": high, "target_concurrency": target,
    }, timeout=10).raise_for_status()


def bench_replicas(shipyard: RunningShipyard, url: str, connections: int, duration: float,
                   rounds: int) -> None:
    counts = (1, 2, 4)
    rates: dict[int, list[float]] = {count: [] for count in counts}
    failed = 0
    for _ in range(rounds):
        for count in counts:
            set_replicas(shipyard, count, count)
            wait(lambda c=count: replicas(shipyard) == c and healthy(shipyard) == c
                 and len(status(shipyard)["instances"]) == c, 120, f"{count} replicas")
            shipyard.wait_for_gateway_routes()
            calls = load(url, connections, duration)
            failed += sum(not call.ok for call in calls)
            rates[count].append(sum(call.ok for call in calls) / duration)
    one = statistics.median(rates[1])
    print(f"CPU-bound service ({connections} connections, median of {rounds} rounds of "
          f"{duration:g} s, {failed} failed calls):")
    for count in counts:
        rate = statistics.median(rates[count])
        print(f"  {count} replica(s): {rate:,.0f} calls/s ({rate / one:.2f}x one replica)")


def bench_autoscaler(shipyard: RunningShipyard, url: str, connections: int) -> None:
    set_replicas(shipyard, 1, 1)
    wait(lambda: len(status(shipyard)["instances"]) == 1, 120, "one replica")
    set_replicas(shipyard, 1, 4, target=1.0)
    calls: list[Call] = []
    level = {"connections": connections}
    done = threading.Event()

    def drive() -> None:
        while not done.is_set():
            calls.extend(load(url, level["connections"], 0.5))

    driver = threading.Thread(target=drive)
    started = time.monotonic()
    driver.start()
    try:
        up = wait(lambda: replicas(shipyard) == 4 and healthy(shipyard) == 4, 180,
                  "4 healthy replicas")
        up_calls = len(calls)
        up_failed = sum(not call.ok for call in calls)
        time.sleep(3)
        level["connections"] = 1
        turned = time.monotonic()
        down = wait(lambda: replicas(shipyard) == 1
                    and len(status(shipyard)["instances"]) == 1, 180, "1 replica again")
        time.sleep(1)
    finally:
        done.set()
        driver.join()
    after_up = [call for call in calls[up_calls:]]
    print(f"autoscaler, step from 1 to {connections} connections (target 1 in flight per "
          f"replica, max 4): 4 healthy replicas after {up:.1f} s, {up_failed} failed of "
          f"{up_calls:,} calls; back to 1 connection: 1 replica after {down:.1f} s, "
          f"{sum(not c.ok for c in after_up)} failed of {len(after_up):,} calls "
          f"(p99 {percentile([c.latency for c in calls], 0.99) * 1000:.0f} ms over "
          f"{turned - started + down:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--stable-window", type=int, default=12)
    parser.add_argument("--panic-window", type=int, default=3)
    parser.add_argument("--scale-down-delay", type=int, default=6)
    args = parser.parse_args()
    windows = {"SHIPYARD_SCALE_STABLE_WINDOW": str(args.stable_window),
               "SHIPYARD_SCALE_PANIC_WINDOW": str(args.panic_window),
               "SHIPYARD_SCALE_DOWN_DELAY": str(args.scale_down_delay)}
    print(f"windows: stable {args.stable_window} s, panic {args.panic_window} s, scale-down "
          f"delay {args.scale_down_delay} s")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        shipyard = start_shipyard(Path(scratch) / "home", env=windows)
        try:
            url = serve(shipyard)
            bench_replicas(shipyard, url, args.connections, args.duration, args.rounds)
            bench_autoscaler(shipyard, url, args.connections)
        finally:
            shipyard.stop()


if __name__ == "__main__":
    main()
