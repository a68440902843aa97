"""The promotion gates run beside the supervisor's loop: asking them returns at once, the
verdict is picked up when it comes, each generation is asked once, and a gate that
breaks is asked again."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from shipyard.domain.control_plane import ControlPlane
from shipyard.store import GenerationRow, InstanceRow, Store
from shipyard.supervisor.gatekeeper import Gatekeeper

WAIT = 10.0


@pytest.fixture
def waiting(app: Flask, client: FlaskClient) -> tuple[Store, str]:
    """Service ``svc`` deployed (v1 to take all traffic, nothing in force yet) with one
    healthy instance of v1; the store and v1's id."""
    assert client.post("/api/v1/services", json={"name": "svc"}).status_code == 201
    assert client.post("/api/v1/services/svc/enable").status_code == 200
    assert client.post("/api/v1/services/svc/deploy").status_code == 202
    plane: ControlPlane = app.extensions["shipyard"]
    with plane.store.writing() as session:
        generation = session.scalars(select(GenerationRow)).one()
        session.add(InstanceRow(
            id="i1", service_id=generation.service_id, generation_id=generation.id,
            state="healthy", handle={"host": "127.0.0.1", "port": 9},
        ))
        return plane.store, generation.id


class Gate:
    """A gate that answers ``problem`` once let go, counting its calls."""

    def __init__(self, problem: str | None = None, breaks: int = 0) -> None:
        self.problem = problem
        self.breaks = breaks
        self.calls: list[tuple[str, str, tuple[str, int]]] = []
        self.go = threading.Event()

    def __call__(self, store: Store, service_id: str, generation_id: str,
                 address: tuple[str, int]) -> str | None:
        self.calls.append((service_id, generation_id, address))
        assert self.go.wait(WAIT)
        if len(self.calls) <= self.breaks:
            raise RuntimeError("the gate broke")
        return self.problem


@pytest.fixture
def keepers() -> Iterator[list[Gatekeeper]]:
    made: list[Gatekeeper] = []
    yield made
    for keeper in made:
        for gate in keeper.gates:
            gate.go.set()  # type: ignore[attr-defined]
        keeper.shutdown()


def until_answered(keeper: Gatekeeper, generation_id: str) -> None:
    deadline = time.monotonic() + WAIT
    while not keeper.answered([generation_id]):
        assert time.monotonic() < deadline, "the gate never answered"
        keeper.ask_due()
        time.sleep(0.01)


def test_asking_returns_before_the_gate_answers_and_each_generation_is_asked_once(
    waiting: tuple[Store, str], keepers: list[Gatekeeper]
) -> None:
    store, generation_id = waiting
    gate = Gate(problem="fails on the baseline sample")
    keeper = Gatekeeper(store, [gate])
    keepers.append(keeper)
    # Had asking waited for the gate, the gate would have given up waiting to be let go
    # (and been asked again): it is let go only now.
    for _ in range(5):
        keeper.ask_due()
    assert not keeper.answered([generation_id])
    gate.go.set()
    until_answered(keeper, generation_id)
    assert len(gate.calls) == 1
    assert gate.calls[0][1:] == (generation_id, ("127.0.0.1", 9))
    assert keeper.take(generation_id) == "fails on the baseline sample"
    assert not keeper.answered([generation_id])


def test_a_gate_that_breaks_is_asked_again(
    waiting: tuple[Store, str], keepers: list[Gatekeeper]
) -> None:
    store, generation_id = waiting
    gate = Gate(problem=None, breaks=1)
    gate.go.set()
    keeper = Gatekeeper(store, [gate])
    keepers.append(keeper)
    until_answered(keeper, generation_id)
    assert len(gate.calls) == 2
    assert keeper.take(generation_id) is None


def test_without_gates_every_generation_has_passed(waiting: tuple[Store, str]) -> None:
    store, generation_id = waiting
    keeper = Gatekeeper(store, [])
    keeper.ask_due()
    assert keeper.answered([generation_id])
    assert keeper.take(generation_id) is None
    keeper.shutdown()
