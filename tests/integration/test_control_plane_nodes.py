"""Two control-plane nodes on one PostgreSQL database (two ``shipyard up`` on loopback,
each with its own home): a deploy made through one is served by both gateways, the calls
through both are in the one query log, and killing the leading node's supervisor moves
the lead to the other within the lease, with nothing rebuilt."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.exc import OperationalError

from shipyard.store import GenerationRow, LeaseRow
from shipyard.supervisor.leadership import LEASE_DURATION, node_name
from tests.conftest import RunningShipyard, start_shipyard
from tests.integration.test_deploy import scaffold_and_push, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database", ["postgresql"],
                                                        indirect=True)]

SERVICE = "add-numbers"


def join(first: RunningShipyard, home: Path) -> None:
    """What an operator copies to a new node's home: the server key the secrets are
    sealed with, and (for these tests' CLI) the administrator's credentials."""
    for part in ("secrets/server.key", "credentials/admin.json"):
        target = home / part
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copy2(first.home / part, target)


@contextmanager
def two_nodes(tmp_path: Path, database_url: str) -> Iterator[list[RunningShipyard]]:
    """Two ``shipyard up`` on one database, the first leading; stopped after."""
    first = start_shipyard(tmp_path / "a" / "home", database_url=database_url)
    started = [first]
    try:
        join(first, tmp_path / "b" / "home")
        started.append(start_shipyard(tmp_path / "b" / "home", database_url=database_url))
        yield started
    finally:
        # The standby first, so that the last node knows it is the last and stops the
        # instances.
        leader = leader_name(database_url)
        for node in sorted(started, key=lambda n: leader == node_name(n.home)):
            if node.process.poll() is None:
                node.stop()


@pytest.fixture
def nodes(tmp_path: Path, database_url: str) -> Iterator[list[RunningShipyard]]:
    with two_nodes(tmp_path, database_url) as started:
        yield started


def lease_of(url: str) -> tuple[str, int] | None:
    """The lease's holder and epoch (None before anyone led, or while the database is
    away)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            row = connection.execute(select(LeaseRow.holder, LeaseRow.epoch)).first()
    except OperationalError:
        return None
    finally:
        engine.dispose()
    return None if row is None else (str(row[0]), int(row[1]))


def leader_name(url: str) -> str | None:
    lease = lease_of(url)
    return None if lease is None else lease[0]


def call(node: RunningShipyard, a: int, b: int, request_id: str = "") -> requests.Response:
    headers = {"X-Request-Id": request_id} if request_id else {}
    return node.http.post(f"{node.url}/user-services/invoke/{SERVICE}/add-numbers",
                          json={"num1": a, "num2": b}, headers=headers, timeout=30)


def serves_what_the_leader_published(node: RunningShipyard, leader: RunningShipyard) -> None:
    """Return once ``node``'s gateway serves the routing table ``leader`` published last
    (copied from the store by ``node``'s supervisor)."""
    published = json.loads((leader.home / "run" / "routes.json").read_text())["serial"]
    wait_for(lambda: int(node.http.get(f"{node.url}/api/v1/environments", timeout=10)
                         .headers["X-Shipyard-Routes"]) >= published,
             what=f"routing table {published} at {node.url}")


def supervisor_of(node: RunningShipyard) -> psutil.Process:
    (found,) = [child for child in psutil.Process(node.process.pid).children()
                if "shipyard.supervisor" in " ".join(child.cmdline())]
    return found


def builds(url: str) -> list[tuple[int, str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(  # type: ignore[misc]
                select(GenerationRow.build_attempts, GenerationRow.build_state))]
    finally:
        engine.dispose()


def deployed_on(first: RunningShipyard, tmp_path: Path) -> None:
    scaffold_and_push(first, tmp_path)
    result = first.cli("deploy", SERVICE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_deploy_through_one_node_is_served_by_both_gateways_and_logged_once(
    nodes: list[RunningShipyard], tmp_path: Path, database_url: str
) -> None:
    first, second = nodes
    assert leader_name(database_url) == node_name(first.home)
    deployed_on(first, tmp_path)
    first.wait_for_gateway_routes()
    serves_what_the_leader_published(second, first)
    ids = {node.url: [f"req-{uuid.uuid4().hex[:12]}" for _ in range(5)] for node in nodes}
    for node in nodes:
        for number, request_id in enumerate(ids[node.url]):
            answer = call(node, number, 1, request_id)
            assert answer.status_code == 200, answer.text
            assert answer.json() == number + 1

    def logged() -> list[str] | None:
        export = first.http.get(f"{first.url}/api/v1/services/{SERVICE}/queries",
                                timeout=10)
        seen = [json.loads(line)["request_id"] for line in export.text.splitlines()]
        everything = [request_id for batch in ids.values() for request_id in batch]
        return seen if sorted(seen) == sorted(everything) else None

    # Each node ingests its own gateway's spool: every call once, none twice.
    wait_for(logged, what="the calls of both gateways in the query log")
    # The second node's API answers from the same store.
    listed = second.http.get(f"{second.url}/api/v1/services/{SERVICE}", timeout=10).json()
    assert listed["live_generation"] == "v1"


def test_killing_the_leading_supervisor_moves_the_lead_and_rebuilds_nothing(
    nodes: list[RunningShipyard], tmp_path: Path, database_url: str
) -> None:
    first, second = nodes
    deployed_on(first, tmp_path)
    serves_what_the_leader_published(second, first)
    assert call(second, 2, 5).json() == 7
    before = builds(database_url)

    # The first node dies as a machine would: its tree and its supervisor at once.
    supervisor = supervisor_of(first)
    os.kill(first.process.pid, signal.SIGKILL)
    supervisor.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    first.process.wait(10)
    wait_for(lambda: leader_name(database_url) == node_name(second.home),
             timeout=30, what="the second node to lead")
    took = time.monotonic() - killed
    print(f"the second node leads {took:.1f} s after the leader died")
    assert took <= 10, took
    # It waited for the lease to expire: renewed every third of it, the last renewal came
    # at most that (and a round of the renewing thread) before the kill.
    assert took >= LEASE_DURATION * 2 / 3 - 1.5, took

    # It adopts (or restarts from their artifacts) the instances: nothing is rebuilt.
    wait_for(lambda: call(second, 2, 5).status_code == 200 or None, timeout=60,
             what="the service to answer through the second node")
    assert call(second, 40, 2).json() == 42
    assert builds(database_url) == before


def test_a_leader_stopped_cleanly_hands_over_at_once_and_its_instances_keep_serving(
    nodes: list[RunningShipyard], tmp_path: Path, database_url: str
) -> None:
    first, second = nodes
    deployed_on(first, tmp_path)
    serves_what_the_leader_published(second, first)
    before = instances_of(second)
    first.stop()  # a clean stop releases the lease and leaves the instances running
    stopped = time.monotonic()
    wait_for(lambda: leader_name(database_url) == node_name(second.home), timeout=10,
             what="the second node to lead")
    took = time.monotonic() - stopped
    print(f"the second node leads {took:.1f} s after the leader stopped")
    assert took < LEASE_DURATION / 2, took  # it did not wait for the lease to expire
    for number in range(20):
        answer = call(second, number, 1)
        assert answer.status_code == 200, answer.text
    # Adopted, not started again.
    assert instances_of(second) == before


def instances_of(node: RunningShipyard) -> list[tuple[str, str, int]]:
    found = node.http.get(f"{node.url}/api/v1/services/{SERVICE}", timeout=10).json()
    return sorted((i["id"], i["state"], i["restarts"]) for i in found["instances"])


def test_a_node_without_the_others_server_key_refuses_to_start(
    tmp_path: Path, database_url: str
) -> None:
    first = start_shipyard(tmp_path / "a" / "home", database_url=database_url)
    try:
        refused = subprocess.run(
            [sys.executable, "-m", "shipyard", "up", "--port", "0", "--home",
             str(tmp_path / "b" / "home"), "--database-url", database_url],
            capture_output=True, text=True, timeout=120)
    finally:
        first.stop()
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "Error: this node's server key does not open the secrets in the database" in (
        refused.stderr)
