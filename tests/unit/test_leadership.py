"""The supervisor's lease: one leader at a time, a takeover only once the lease expired
(or from the same node), and every write of a leader that lost it refused (its epoch
fences it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from shipyard.contracts.routing_table import RoutingTable
from shipyard.contracts.run_paths import demand_dir, routes_file
from shipyard.store import LeaseRow, NodeRow, Store
from shipyard.supervisor.leadership import FencedStore, Lease, LeaseLost, node_name
from shipyard.supervisor.node_duties import NodeDuties, asked_replicas, other_nodes_alive
from shipyard.supervisor.routing import RoutesPublisher
from tests.conftest import store_url


@pytest.fixture
def url(database_url: str, tmp_path: Path) -> Iterator[str]:
    url = store_url(database_url, tmp_path)
    if not database_url:
        Store(url).migrate()
    yield url


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    store = Store(url)
    yield store
    store.dispose()


def lease_row(store: Store) -> tuple[str, int]:
    with store.reading() as session:
        row = session.get_one(LeaseRow, 1)
        return row.holder, row.epoch


def expiry(store: Store) -> float:
    with store.reading() as session:
        return session.get_one(LeaseRow, 1).expires_at


def test_one_holder_leads_until_its_lease_expires(store: Store) -> None:
    first = Lease(store, "node-a", duration=0.6)
    second = Lease(store, "node-b", duration=0.6)
    assert first.acquire_or_renew()
    assert not second.acquire_or_renew()
    assert first.acquire_or_renew()  # a renewal keeps the epoch
    assert lease_row(store) == ("node-a", 1)
    time.sleep(0.7)
    assert not first.held()
    assert second.acquire_or_renew()
    assert lease_row(store) == ("node-b", 2)
    assert not first.acquire_or_renew()  # it sees the new holder, and stops leading
    assert first.epoch == 0


def test_a_released_lease_is_taken_at_once(store: Store) -> None:
    first = Lease(store, "node-a", duration=30)
    second = Lease(store, "node-b", duration=30)
    assert first.acquire_or_renew()
    first.release()
    assert second.acquire_or_renew()
    assert lease_row(store) == ("node-b", 2)


def test_the_same_node_started_again_takes_its_lease_back_in_a_new_epoch(store: Store) -> None:
    before = Lease(store, "node-a", duration=30)
    assert before.acquire_or_renew()
    again = Lease(store, "node-a", duration=30)  # the supervisor, restarted
    assert again.acquire_or_renew()
    assert lease_row(store) == ("node-a", 2)
    # The old incarnation's writes are refused.
    with pytest.raises(LeaseLost), store.writing() as session:
        before.fence(session)


def test_a_leader_that_lost_its_lease_cannot_write(url: str, store: Store) -> None:
    old = Lease(store, "node-a", duration=0.3)
    assert old.acquire_or_renew()
    fenced = FencedStore(url, old)
    try:
        with fenced.writing() as session:
            session.add(NodeRow(name="written-while-leading", url="", started_at=0.0,
                                seen_at=0.0))
        time.sleep(0.4)  # paused past its lease: another node takes over
        assert Lease(store, "node-b", duration=30).acquire_or_renew()
        with pytest.raises(LeaseLost, match="no longer leads"), fenced.writing() as session:
            session.add(NodeRow(name="written-after", url="", started_at=0.0,
                                seen_at=0.0))
        with store.reading() as session:
            names = set(session.scalars(select(NodeRow.name)))
        assert names == {"written-while-leading"}
    finally:
        fenced.dispose()


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_takeover_waits_for_the_leaders_open_transaction(url: str, store: Store) -> None:
    """Never two leaders at once: the takeover does not commit while a transaction the
    old leader began (and fenced) is open; once it is, the old leader's next write fails.
    (On SQLite, BEGIN IMMEDIATE's one write lock serialises them.)"""
    old = Lease(store, "node-a", duration=0.3)
    assert old.acquire_or_renew()
    fenced = FencedStore(url, old)
    taken = threading.Event()
    new = Lease(store, "node-b", duration=30)

    def take_over() -> None:
        while not new.acquire_or_renew():
            time.sleep(0.05)
        taken.set()

    try:
        with fenced.writing() as session:
            session.add(NodeRow(name="open", url="", started_at=0.0, seen_at=0.0))
            time.sleep(0.4)  # the lease expires while the transaction is open
            taker = threading.Thread(target=take_over)
            taker.start()
            assert not taken.wait(1.5)
        taker.join(10)
        assert taken.is_set()
        with pytest.raises(LeaseLost), fenced.writing():
            pass
    finally:
        fenced.dispose()


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_the_leader_renews_while_its_own_transaction_is_open(url: str, store: Store) -> None:
    """A leader's write transaction may last (a runner call inside it): its renewal does
    not wait for it, or one long transaction would cost the leader its lease."""
    lease = Lease(store, "node-a", duration=30)
    assert lease.acquire_or_renew()
    before = expiry(store)
    fenced = FencedStore(url, lease)
    try:
        with fenced.writing() as session:
            session.add(NodeRow(name="open", url="", started_at=0.0, seen_at=0.0))
            session.flush()
            assert lease.acquire_or_renew()
            assert expiry(store) > before
    finally:
        fenced.dispose()


def test_nodes_tell_they_are_alive_and_leave(tmp_path: Path, store: Store) -> None:
    first = NodeDuties(store, tmp_path / "a", "node-a")
    second = NodeDuties(store, tmp_path / "b", "node-b")
    first.run(leading=True)
    second.run(leading=False)
    assert other_nodes_alive(store, "node-a") == ["node-b"]
    second.leave()
    assert other_nodes_alive(store, "node-a") == []


def test_node_names_differ_by_home(tmp_path: Path) -> None:
    assert node_name(tmp_path / "a") != node_name(tmp_path / "b")
    assert node_name(tmp_path / "a") == node_name(tmp_path / "a")


def test_a_standby_hands_its_gateways_asks_for_replicas_to_the_leader(
    tmp_path: Path, store: Store
) -> None:
    standby = NodeDuties(store, tmp_path / "b", "node-b")
    asks = demand_dir(tmp_path / "b")
    asks.mkdir(parents=True)
    (asks / "svc_1").touch()
    (asks / "svc_2").touch()
    standby.run(leading=False)
    assert not any(asks.iterdir())  # handed on
    assert sorted(asked_replicas(store)) == ["svc_1", "svc_2"]
    assert asked_replicas(store) == []  # taken off the list by the leader


def test_a_standby_copies_the_routing_table_the_leader_published(
    tmp_path: Path, store: Store
) -> None:
    leader = RoutesPublisher(tmp_path / "a" / "routes.json")
    (tmp_path / "a").mkdir()
    standby = NodeDuties(store, tmp_path / "b", "node-b")
    routes = routes_file(tmp_path / "b")
    routes.parent.mkdir(parents=True)
    standby.run(leading=False)
    assert not routes.exists()  # nothing published yet
    with store.writing() as session:
        leader.publish(session, RoutingTable())
    standby.run(leading=False)
    assert RoutingTable.load(routes) == RoutingTable.load(tmp_path / "a" / "routes.json")
    assert RoutingTable.load(routes).serial == 1
