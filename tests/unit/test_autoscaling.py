"""The autoscaler's decisions from calls in flight (Knative's model): stable and panic
windows, the scale-down delay, a full window before shrinking, the bounds, scale to zero;
and the load read from the query log's rows by Little's law."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipyard.supervisor.autoscaling import Autoscaler, Decision, ScalingPolicy
from shipyard.supervisor.concurrency import ConcurrencyMeter

KEY = ("svc_1", "v1")
POLICY = ScalingPolicy(stable_window=60, panic_window=6, scale_down_delay=30)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def steady(meter: ConcurrencyMeter, in_flight: float, start: float, end: float) -> None:
    """``in_flight`` calls in flight all the time from ``start`` to ``end``: as many calls
    of a second each, every second."""
    second = start
    while second < end:
        whole, part = divmod(in_flight, 1.0)
        for _ in range(int(whole)):
            meter.add(KEY, second, 1.0)
        if part:
            meter.add(KEY, second, part)
        second += 1


def run(scaler: Autoscaler, clock: Clock, seconds: int, running: int, low: int = 1,
        high: int = 10) -> Decision:
    """Decide once a second for ``seconds`` seconds, as the supervisor does, applying each
    decision; the last one."""
    decision = Decision(running, "")
    for _ in range(seconds):
        clock.now += 1
        decision = scaler.decide("g1", KEY, running, low, high, 2.0)
        running = decision.replicas
    return decision


def test_little_law_average_calls_in_flight() -> None:
    meter = ConcurrencyMeter()
    # 100 calls of 0.5 s each within 10 s: 5 in flight on average.
    for index in range(100):
        meter.add(KEY, 1000.0 + index * 0.1, 0.5)
    assert meter.average(KEY, 10, 1010.5) == pytest.approx(5.0, rel=0.02)
    assert meter.average(("svc_1", "v2"), 10, 1010.0) == 0.0
    # A call spanning seconds counts in each, for its part of it.
    spread = ConcurrencyMeter()
    spread.add(KEY, 10.5, 2.0)
    assert spread.average(KEY, 1, 11.0) == pytest.approx(0.5)
    assert spread.average(KEY, 1, 12.0) == pytest.approx(1.0)
    assert spread.average(KEY, 1, 13.0) == pytest.approx(0.5)
    spread.prune(1000.0)
    assert spread.average(KEY, 5, 13.0) == 0.0


def test_rows_as_ingested_count_only_calls_that_reached_a_generation() -> None:
    meter = ConcurrencyMeter()
    at = datetime.fromtimestamp(2000.0, UTC)
    meter.observe([
        {"service_id": "svc_1", "generation": "v1", "at": at, "latency_ms": 1000.0},
        {"service_id": "svc_1", "generation": None, "at": at, "latency_ms": 5000.0},
    ])
    assert meter.average(KEY, 2, 2002.0) == pytest.approx(0.5)


def test_stable_load_sets_the_replicas_after_a_full_window() -> None:
    clock, meter = Clock(), ConcurrencyMeter()
    scaler = Autoscaler(meter, POLICY, clock)
    steady(meter, 5.0, clock.now - 120, clock.now + 300)
    decision = scaler.decide("g1", KEY, 2, 1, 10, 2.0)
    assert decision.replicas == 3  # 5 in flight, 2 per replica
    assert "5.00 calls in flight on average over the last 60s" in decision.reason
    assert "panic" not in decision.reason


def test_a_burst_panics_and_holds_the_replicas_until_a_calm_window() -> None:
    clock, meter = Clock(), ConcurrencyMeter()
    scaler = Autoscaler(meter, POLICY, clock)
    steady(meter, 1.0, clock.now - 120, clock.now - 6)
    steady(meter, 8.0, clock.now - 6, clock.now)  # a burst in the last 6 s
    decision = scaler.decide("g1", KEY, 1, 1, 10, 2.0)
    assert decision.replicas == 4
    assert decision.reason.startswith("4 replicas: panic: 8.00 calls in flight")
    # The burst ends; in panic it keeps what it runs for a whole stable window, then
    # for the scale-down delay.
    assert run(scaler, clock, 55, 4).replicas == 4
    assert run(scaler, clock, 20, 4).replicas == 4
    calm = run(scaler, clock, 20, 4)
    assert calm.replicas == 1, calm.reason


def test_fewer_only_after_the_scale_down_delay() -> None:
    clock, meter = Clock(), ConcurrencyMeter()
    scaler = Autoscaler(meter, POLICY, clock)
    steady(meter, 6.0, clock.now - 200, clock.now + 61)
    assert run(scaler, clock, 61, 3).replicas == 3  # a whole window watched, under load
    clock.now += 60  # the load is gone now
    held = run(scaler, clock, 1, 3)
    assert held.replicas == 3 and "keeps 3 for the 30s scale-down delay" in held.reason
    assert run(scaler, clock, 28, 3).replicas == 3
    assert run(scaler, clock, 2, 3).replicas == 1


def test_a_generation_just_watched_does_not_shrink() -> None:
    clock, meter = Clock(), ConcurrencyMeter()
    scaler = Autoscaler(meter, POLICY, clock)
    first = scaler.decide("g1", KEY, 4, 1, 10, 2.0)
    assert first.replicas == 4 and "until it has watched a whole window" in first.reason


def test_bounds_and_scale_to_zero_only_when_asked_and_idle() -> None:
    clock, meter = Clock(), ConcurrencyMeter()
    scaler = Autoscaler(meter, POLICY, clock)
    steady(meter, 40.0, clock.now - 120, clock.now)
    capped = scaler.decide("g1", KEY, 1, 1, 4, 2.0)
    assert capped.replicas == 4 and "within min_replicas 1 and max_replicas 4" in capped.reason
    idle = Autoscaler(ConcurrencyMeter(), POLICY, clock)
    assert run(idle, clock, 100, 2, low=2, high=4).replicas == 2  # min_replicas 2
    zero = Autoscaler(ConcurrencyMeter(), POLICY, clock)
    assert run(zero, clock, 60, 1, low=0, high=4).replicas == 1  # a window first
    assert run(zero, clock, 29, 1, low=0, high=4).replicas == 1  # then the delay
    assert run(zero, clock, 2, 1, low=0, high=4).replicas == 0  # min 0, no call for long
    busy = Autoscaler(meter, POLICY, clock)
    meter.add(KEY, clock.now - 10, 0.01)  # one short call in the window keeps one
    busy.decide("g4", KEY, 1, 0, 4, 2.0)
    clock.now += 0.1
    assert busy.decide("g4", KEY, 1, 0, 4, 2.0).replicas == 1
