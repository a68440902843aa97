"""The supervisor's publication of the routing table: numbered, and noted on each service
whose route it changed, so that a client knows which table the gateway needs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from shipyard.contracts.routing_table import RoutingTable, ServiceRoute
from shipyard.store import Base, ServiceRow, Store
from shipyard.supervisor.routing import RoutesPublisher
from tests.conftest import store_url


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> Iterator[Store]:
    store = Store(store_url(database_url, tmp_path))
    Base.metadata.create_all(store.engine)
    now = datetime.now(UTC)
    with store.writing() as session:
        for name in ("a", "b"):
            session.add(ServiceRow(
                id=f"svc_{name}", name=name, kind="custom", template="", environment="small",
                packages=[], description="", access_level="project", project_id=None,
                runner="local", enabled=True, deployed=True, last_generation_number=1,
                state="running", status_message="", created_at=now, updated_at=now,
            ))
    yield store
    store.dispose()


def route(name: str, generation: str) -> ServiceRoute:
    return ServiceRoute(id=f"svc_{name}", name=name, enabled=True, deployed=True,
                        state="running", message="", mapping=((generation, 1.0),),
                        instances={})


def table(a: str, b: str) -> RoutingTable:
    return RoutingTable({"svc_a": route("a", a), "svc_b": route("b", b)})


def serials(store: Store) -> dict[str, int]:
    with store.reading() as session:
        return dict(session.execute(select(ServiceRow.name, ServiceRow.routes_serial)).all())


def publish(store: Store, publisher: RoutesPublisher, routes: RoutingTable) -> None:
    with store.writing() as session:
        publisher.publish(session, routes)


def test_each_publication_is_numbered_and_names_the_services_it_changed(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "routes.json"
    publisher = RoutesPublisher(path)
    publish(store, publisher, table("v1", "v1"))
    assert RoutingTable.load(path).serial == 1
    assert serials(store) == {"a": 1, "b": 1}
    publish(store, publisher, table("v2", "v1"))
    assert RoutingTable.load(path).serial == 2
    assert serials(store) == {"a": 2, "b": 1}  # b's route did not change
    publish(store, publisher, table("v2", "v1"))  # the same table: nothing is written
    assert RoutingTable.load(path).serial == 2


def test_a_new_supervisor_numbers_on_past_every_serial_already_told(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "routes.json"
    publish(store, RoutesPublisher(path), table("v1", "v1"))
    publish(store, RoutesPublisher(path), table("v1", "v1"))
    assert RoutingTable.load(path).serial == 2
    # shipyard up starts from an empty table (serial 0): the services still say 2.
    path.unlink()
    publish(store, RoutesPublisher(path), table("v1", "v2"))
    assert RoutingTable.load(path).serial == 3
    assert serials(store) == {"a": 3, "b": 3}
