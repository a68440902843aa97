"""Rollout benchmark: switches under load, and what a challenger costs the gateway.

    python bench/rollout.py [--connections N] [--duration S]

Prints, from one run through a real ``shipyard up`` on this machine:
- while keep-alive connections call a hello service without pause: the calls that failed
  and the p50 / p99 latency, over the whole run and within the switches (a redeploy to v2,
  a 50/50 mapping, a rollback to v1, a switch to the newest), and each switch's duration;
- the gateway's throughput with no challenger and with one (every call copied to another
  generation after its answer), measured side by side, and their ratio.

Goals: no failed call during the switches; the challenger kept off the caller's latency.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import RunningShipyard, start_shipyard  # noqa: E402

SERVICE = "hello"
HELLO = (
    "from flask import Flask\napp = Flask(__name__)\n\n"
    "@app.get('/')\ndef hello():\n    return {{'v': {n}}}\n"
)


@dataclass(frozen=True)
class Call:
    started: float
    latency: float
    ok: bool


def load(url: str, connections: int, duration: float) -> list[Call]:
    """Keep-alive HTTP/1.1 calls over ``connections`` connections for ``duration`` s."""
    match = re.fullmatch(r"http://([^:/]+):(\d+)(/.*)", url)
    assert match is not None
    host, port, path = match.group(1), int(match.group(2)), match.group(3)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    calls: list[Call] = []

    async def one_connection(deadline: float) -> None:
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                if connection is None:
                    connection = await asyncio.open_connection(host, port)
                reader, writer = connection
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                calls.append(Call(started, time.perf_counter() - started,
                                  head.startswith(b"HTTP/1.1 200")))
                if re.search(rb"(?i)\r\nconnection:\s*close", head):
                    writer.close()
                    connection = None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                calls.append(Call(started, time.perf_counter() - started, False))
                connection = None
        if connection is not None:
            connection[1].close()

    async def run() -> None:
        deadline = time.perf_counter() + duration
        await asyncio.gather(*(one_connection(deadline) for _ in range(connections)))

    asyncio.run(run())
    return calls


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


def deploy(shipyard: RunningShipyard, n: int) -> str:
    api = f"{shipyard.url}/api/v1/services/{SERVICE}"
    shipyard.http.put(f"{api}/files/app.py", data=HELLO.format(n=n), timeout=10)
    tag = shipyard.http.post(f"{api}/deploy", timeout=10).json()["tag"]
    with shipyard.sdk() as client:
        client.services.wait_until_serving(SERVICE, tag, timeout=300)
    return tag


def serve_hello(shipyard: RunningShipyard) -> str:
    """Create, enable and deploy the public hello service; its URL through the gateway."""
    api = f"{shipyard.url}/api/v1/services"
    shipyard.http.post(api, json={"name": SERVICE}, timeout=10).raise_for_status()
    shipyard.http.post(f"{api}/{SERVICE}/enable", timeout=10).raise_for_status()
    # Public, so that the load measures routing, not signing.
    shipyard.set_access_level(SERVICE, "public")
    deploy(shipyard, 1)
    return f"{shipyard.url}/user-services/invoke/{SERVICE}/"


def bench_switches(shipyard: RunningShipyard, url: str, connections: int) -> None:
    windows: list[tuple[str, float, float]] = []

    def step(name: str, action: Callable[[], object]) -> None:
        started = time.perf_counter()
        action()
        windows.append((name, started, time.perf_counter()))

    def switches() -> None:
        time.sleep(1.0)
        with shipyard.sdk() as client:
            step("redeploy to v2", lambda: deploy(shipyard, 2))
            step("50/50 mapping", lambda: (
                client.traffic.set_mapping(SERVICE, {"weights": {"v1": 1, "v2": 1}}),
                client.traffic.wait_for_mapping(SERVICE),
            ))
            step("rollback to v1", lambda: (
                client.traffic.rollback(SERVICE, "v1"),
                client.services.wait_until_serving(SERVICE, "v1"),
            ))
            step("switch to newest", lambda: (
                client.traffic.switch_to_newest(SERVICE),
                client.services.wait_until_serving(SERVICE, "v2"),
            ))
        time.sleep(1.0)
        done.set()

    done = threading.Event()
    worker = threading.Thread(target=switches)
    worker.start()
    calls: list[Call] = []
    while not done.is_set():
        calls += load(url, connections, 2.0)
    worker.join()
    during = [c for c in calls if any(s <= c.started <= e for _, s, e in windows)]
    failed = sum(not c.ok for c in calls)
    print(f"switches under load ({connections} connections): {failed} failed of {len(calls):,} "
          f"calls; p50 {percentile([c.latency for c in calls], 0.5) * 1000:.1f} ms, "
          f"p99 {percentile([c.latency for c in calls], 0.99) * 1000:.1f} ms overall, "
          f"p99 {percentile([c.latency for c in during], 0.99) * 1000:.1f} ms during switches "
          f"({len(during):,} calls)")
    for name, started, ended in windows:
        print(f"  {name}: {ended - started:.2f} s")


def bench_challenger(shipyard: RunningShipyard, url: str, connections: int,
                     duration: float, rounds: int) -> None:
    rates: dict[str, list[float]] = {"no challenger": [], "challenger v1": []}
    p99s: dict[str, list[float]] = {name: [] for name in rates}
    with shipyard.sdk() as client:
        for _ in range(rounds):
            for name, challenger in (("no challenger", None), ("challenger v1", "v1")):
                client.traffic.set_challenger(SERVICE, challenger)
                wanted = {"v1"} if challenger else set()
                while {g["tag"] for g in client.traffic.generations(SERVICE)
                       if g["challenger"] and g["mounted"]} != wanted:
                    time.sleep(0.1)
                time.sleep(0.5)  # the gateway reads the routing table every 50 ms
                calls = load(url, connections, duration)
                rates[name].append(sum(c.ok for c in calls) / duration)
                p99s[name].append(percentile([c.latency for c in calls], 0.99) * 1000)
                time.sleep(1.0)  # let the copies in flight finish before the next round
    alone, copied = (statistics.median(rates[n]) for n in rates)
    print(f"gateway throughput ({connections} connections, median of {rounds} rounds of "
          f"{duration:g} s): {alone:,.0f} calls/s with no challenger, {copied:,.0f} calls/s "
          f"with a challenger ({copied / alone:.2f}x); caller p99 "
          f"{statistics.median(p99s['no challenger']):.1f} ms vs "
          f"{statistics.median(p99s['challenger v1']):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as scratch:
        shipyard = start_shipyard(Path(scratch) / "home")
        try:
            url = serve_hello(shipyard)
            bench_switches(shipyard, url, args.connections)
            bench_challenger(shipyard, url, args.connections, args.duration, args.rounds)
        finally:
            shipyard.stop()


if __name__ == "__main__":
    main()
