"""``/metrics`` on a real gateway (``python -m shipyard.gateway``, one worker and two) in
front of real HTTP servers on loopback, with a store holding an administrator; then on a
real ``shipyard up``, whose supervisor publishes the instances and builds."""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from shipyard.gateway import write_routing_table
from shipyard.iam.access_control import AccessControl
from shipyard.settings import RESOLVED_SETTINGS_VAR, Settings
from shipyard.store import Store
from tests.conftest import start_shipyard
from tests.credentials import Credentials

pytestmark = pytest.mark.slow

TOKEN = "scrape-me-8d1f0c"
WAIT = 15.0
Samples = dict[tuple[tuple[str, str], ...], float]


class StatusHandler(BaseHTTPRequestHandler):
    """Answers ``/<status>`` with that status."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        status = int(self.path.strip("/").split("/")[0] or 200)
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def instances() -> Iterator[dict[str, int]]:
    """Two instances, by name, and their ports."""
    servers = {name: ThreadingHTTPServer(("127.0.0.1", 0), StatusHandler)
               for name in ("one", "two")}
    for server in servers.values():
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {name: server.server_address[1] for name, server in servers.items()}
    for server in servers.values():
        server.shutdown()
        server.server_close()


def route(name: str, instances: dict[str, int], **fields: Any) -> dict[str, Any]:
    return {
        "id": f"svc_{name}", "name": name, "enabled": True, "deployed": True,
        "state": "running", "message": "", "access_level": "public",
        "mapping": [{"generation": "v1", "proba": 1.0}],
        "instances": {gen: [{"instance_id": f"{name}-{gen}", "host": "127.0.0.1", "port": port}]
                      for gen, port in instances.items()},
        **fields,
    }


@dataclass
class Gateway:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    metrics_dir: Path

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def administrator_store(home: Path) -> tuple[Settings, Path]:
    """A store with an administrator, as a first ``shipyard up`` leaves it."""
    settings = Settings(home=home, port=0)
    store = Store(settings.effective_database_url)
    try:
        store.migrate(lock_dir=home)
        return settings, AccessControl.build(settings, store).ensure_administrator(settings)
    finally:
        store.dispose()


def start_gateway(work: Path, settings: Settings, routes: dict[str, Any],
                  workers: int) -> Gateway:
    routes_file = work / "routes.json"
    write_routing_table(routes_file, {"version": 1, "services": routes})
    log = work / "gateway.log"
    metrics_dir = work / "metrics"
    listener = socket.create_server(("127.0.0.1", 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    with listener, log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "shipyard.gateway", f"--fd={listener.fileno()}",
             "--routes", str(routes_file), "--api-upstream", "127.0.0.1:9",
             "--workers", str(workers), "--metrics-dir", str(metrics_dir)],
            pass_fds=(listener.fileno(),),
            env={**env, RESOLVED_SETTINGS_VAR: settings.to_json(),
                 "SHIPYARD_GATEWAY_METRICS_TOKEN": TOKEN},
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    gateway = Gateway(url, process, log, metrics_dir)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/metrics", timeout=2).status_code == 401:
                return gateway
        except requests.ConnectionError:
            time.sleep(0.05)
    gateway.stop()
    raise AssertionError("the gateway did not serve:\n" + log.read_text())


def scrape(url: str, **kwargs: Any) -> dict[str, Samples]:
    answer = requests.get(f"{url}/metrics", timeout=WAIT, **kwargs)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found: dict[str, Samples] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def requests_counted(found: dict[str, Samples]) -> dict[tuple[str, ...], float]:
    return {tuple(dict(labels)[k] for k in ("service", "generation", "role", "status_class")):
            value for labels, value in found.get("shipyard_gateway_requests_total", {}).items()}


def scrape_until(url: str, expected: dict[tuple[str, ...], int]) -> dict[str, Samples]:
    """Scrape until the request counters are the ones expected (each worker adds what it
    counted twice a second); fail if they never are."""
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    deadline = time.monotonic() + WAIT
    while True:
        found = scrape(url, headers=bearer)
        if requests_counted(found) == expected or time.monotonic() > deadline:
            assert requests_counted(found) == expected
            return found
        time.sleep(0.1)


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_count_every_call_and_only_scrapers_read_them(
    tmp_path: Path, instances: dict[str, int], workers: int
) -> None:
    settings, admin_file = administrator_store(tmp_path / "home")
    admin = Credentials.read(admin_file)
    routes = {
        "svc_alpha": route("alpha", {"v1": instances["one"], "v2": instances["two"]},
                           challenger="v2"),
        "svc_beta": route("beta", {"v1": instances["one"], "v2": instances["two"]}),
        "svc_gamma": route("gamma", {"v1": instances["one"]}, enabled=False),
    }
    gateway = start_gateway(tmp_path, settings, routes, workers)
    try:
        invoke = f"{gateway.url}/user-services/invoke"
        plan: list[tuple[str, dict[str, str], int]] = [
            *[("alpha/200", {}, 200)] * 4, *[("alpha/404", {}, 404)] * 2,
            *[("alpha/500", {}, 500)] * 3,
            *[("beta/200", {}, 200)] * 3,
            *[("beta/302", {"X-Shipyard-Target-Generation": "v2"}, 302)] * 2,
            ("beta/200", {"X-Shipyard-Target-Generation": "v9"}, 404),  # not mounted
            *[("gamma/200", {}, 503)] * 2,  # disabled
        ]
        statuses: list[int] = []

        def make_the_calls() -> None:
            # A connection per call, so that both workers take some.
            statuses.extend(
                requests.get(f"{invoke}/{path}", headers={**headers, "Connection": "close"},
                             allow_redirects=False, timeout=WAIT).status_code
                for path, headers, _ in plan
            )

        threads = [threading.Thread(target=make_the_calls) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == sorted(status for _, _, status in plan for _ in range(4))
        counts = collections.Counter[tuple[str, ...]]()
        for path, headers, status in plan:
            service = path.split("/")[0]
            generation = headers.get("X-Shipyard-Target-Generation", "v1")
            if status in (404, 503) and service != "alpha":
                generation = "-"  # answered without being forwarded
            counts[(service, generation, "main", f"{status // 100}xx")] += 4
            if service == "alpha":  # every call copied to the challenger
                counts[(service, "v2", "challenger", f"{status // 100}xx")] += 4
        found = scrape_until(gateway.url, dict(counts))

        def sample(name: str, **labels: str) -> float:
            return found[name][tuple(sorted(labels.items()))]

        assert sample("shipyard_gateway_request_duration_seconds_count",
                      service="alpha", generation="v1", role="main") == 36
        assert sample("shipyard_gateway_overhead_seconds_count",
                      service="beta", generation="v2") == 8
        assert ("-",) not in {(dict(k)["generation"],)
                              for k in found["shipyard_gateway_overhead_seconds_count"]}
        assert sample("shipyard_gateway_challenger_copies_total",
                      service="alpha", generation="v2", outcome="answered") == 36
        assert sample("shipyard_gateway_workers") == workers

        # Who may read them: the token, an administrator; nobody else.
        anonymous = requests.get(f"{gateway.url}/metrics", timeout=WAIT)
        assert anonymous.status_code == 401
        assert json.loads(anonymous.text)["error"]["type"] == "Unauthorized"
        wrong = requests.get(f"{gateway.url}/metrics", timeout=WAIT,
                             headers={"Authorization": "Bearer not-the-token"})
        assert (wrong.status_code, wrong.json()["error"]["type"]) == (403, "Forbidden")
        assert requests_counted(scrape(gateway.url, auth=admin.aws4auth())) == counts
        alice = _user_credentials(settings, "alice")
        refused = requests.get(f"{gateway.url}/metrics", auth=alice.aws4auth(), timeout=WAIT)
        assert refused.status_code == 403, refused.text
        assert "administrator" in refused.json()["error"]["message"]

        if workers > 1:
            _a_worker_dies_and_nothing_is_lost(gateway, counts)
    finally:
        assert gateway.stop() == 0, gateway.log.read_text()
    assert TOKEN not in gateway.log.read_text()


def _a_worker_dies_and_nothing_is_lost(
    gateway: Gateway, counts: collections.Counter[tuple[str, ...]]
) -> None:
    """A worker killed after flushing keeps its counts; the parent forgets its live
    gauge and starts another."""
    victim = psutil.Process(gateway.process.pid).children()[0]
    victim.kill()
    victim.wait(WAIT)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    deadline = time.monotonic() + WAIT
    while True:
        found = scrape(gateway.url, headers=bearer)
        if (len(psutil.Process(gateway.process.pid).children()) == 2
                and found["shipyard_gateway_workers"][()] == 2) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert found["shipyard_gateway_workers"][()] == 2
    assert requests_counted(found) == counts
    assert not list(gateway.metrics_dir.glob(f"gauge_livesum_{victim.pid}.db"))


def _user_credentials(settings: Settings, name: str) -> Credentials:
    store = Store(settings.effective_database_url)
    try:
        access = AccessControl.build(settings, store)
        user = access.directory.create_user(name)
        new = access.access_keys.create(user.id, description="test")
        return Credentials(new.key.id, new.secret_access_key)
    finally:
        store.dispose()


def test_shipyard_up_passes_the_token_and_publishes_its_fleet(
    tmp_path: Path, database_url: str
) -> None:
    running = start_shipyard(tmp_path / "home", env={"SHIPYARD_METRICS_TOKEN": TOKEN},
                             database_url=database_url)
    try:
        assert requests.get(f"{running.url}/metrics", timeout=WAIT).status_code == 401
        admin = Credentials.read(tmp_path / "home" / "credentials" / "admin.json")
        deadline = time.monotonic() + WAIT
        while True:
            found = scrape(running.url, headers={"Authorization": f"Bearer {TOKEN}"})
            if "shipyard_fleet_snapshot_age_seconds" in found or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert 0 <= found["shipyard_fleet_snapshot_age_seconds"][()] < WAIT
        assert "shipyard_gateway_workers" in scrape(running.url, auth=admin.aws4auth())
    finally:
        assert running.stop() == 0
