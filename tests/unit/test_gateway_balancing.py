"""The gateway's choice among a generation's replicas: least outstanding requests, turns
among equals, and a replica found dead passed by for a while."""

from __future__ import annotations

from collections import Counter

from shipyard.contracts.routing_table import Upstream
from shipyard.gateway.balancing import DOWN_SECONDS, Balancer

A, B, C = (Upstream(f"i-{name}", "127.0.0.1", port)
           for name, port in (("a", 8001), ("b", 8002), ("c", 8003)))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_replicas_with_no_call_in_flight_take_turns() -> None:
    balancer = Balancer()
    chosen = Counter(balancer.choose((A, B, C)).instance_id for _ in range(30))  # type: ignore[union-attr]
    assert chosen == {"i-a": 10, "i-b": 10, "i-c": 10}


def test_the_replica_with_the_fewest_calls_in_flight_is_chosen() -> None:
    balancer = Balancer()
    for _ in range(3):
        balancer.started(A.address)
    balancer.started(B.address)
    assert all(balancer.choose((A, B, C)) is C for _ in range(5))
    balancer.started(C.address)
    balancer.started(C.address)
    assert all(balancer.choose((A, B, C)) is B for _ in range(5))
    for _ in range(3):
        balancer.ended(A.address)
    assert balancer.outstanding(A.address) == 0
    assert balancer.choose((A, B, C)) is A


def test_calls_spread_as_they_start_and_end() -> None:
    balancer = Balancer()
    in_flight = []
    for _ in range(9):
        chosen = balancer.choose((A, B, C))
        assert chosen is not None
        balancer.started(chosen.address)
        in_flight.append(chosen)
    assert Counter(in_flight) == {A: 3, B: 3, C: 3}
    for upstream in in_flight:
        balancer.ended(upstream.address)
    assert [balancer.outstanding(u.address) for u in (A, B, C)] == [0, 0, 0]
    balancer.ended(A.address)  # one end too many leaves no negative count
    assert balancer.outstanding(A.address) == 0


def test_a_replica_found_dead_is_passed_by_until_its_time_is_up() -> None:
    clock = Clock()
    balancer = Balancer(clock)
    balancer.mark_down(B.address)
    assert balancer.is_down(B.address)
    assert {balancer.choose((A, B, C)) for _ in range(20)} == {A, C}
    clock.now += DOWN_SECONDS + 0.1
    assert not balancer.is_down(B.address)
    assert B in {balancer.choose((A, B, C)) for _ in range(20)}


def test_when_every_replica_is_down_the_least_loaded_is_chosen_all_the_same() -> None:
    balancer = Balancer(Clock())
    for upstream in (A, B, C):
        balancer.mark_down(upstream.address)
    balancer.started(A.address)
    balancer.started(C.address)
    assert balancer.choose((A, B, C)) is B


def test_avoid_leaves_out_the_replica_that_just_refused() -> None:
    balancer = Balancer()
    assert {balancer.choose((A, B), avoid=A.address) for _ in range(6)} == {B}
    assert balancer.choose((A,), avoid=A.address) is None
    assert balancer.choose((A,)) is A


def test_a_new_table_forgets_the_dead_it_no_longer_lists() -> None:
    balancer = Balancer(Clock())
    balancer.mark_down(A.address)
    balancer.mark_down(B.address)
    balancer.keep_only({B.address, C.address})
    assert not balancer.is_down(A.address) and balancer.is_down(B.address)
