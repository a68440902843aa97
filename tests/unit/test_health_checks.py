"""The supervisor's health checks: probes made side by side, a busy instance's missed
probes tolerated, a hung or exited one taken out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from shipyard.supervisor.health_checks import HealthChecks
from shipyard_runners import InstanceHandle, State
from shipyard_sdk.errors import RunnerError

HEALTHY = State.HEALTHY.value
STARTING = State.STARTING.value


def handle(instance_id: str) -> dict[str, object]:
    return InstanceHandle(instance_id=instance_id, artifact_key="k", host="127.0.0.1",
                          port=1, pid=None, runner="local", started_at=0.0).to_dict()


@pytest.fixture
def checks_with() -> Iterator[Callable[..., HealthChecks]]:
    made: list[HealthChecks] = []

    def make(probe: Callable[[InstanceHandle], State], *, interval: float = 0.0,
             missed_allowed: int = 3) -> HealthChecks:
        checks = HealthChecks(probe, interval=interval, missed_allowed=missed_allowed)
        made.append(checks)
        return checks

    yield make
    for checks in made:
        checks.shutdown()


def test_instances_are_probed_side_by_side(checks_with: Callable[..., HealthChecks]) -> None:
    # Each probe answers only once all three are under way: one after the other, the
    # first would wait for the others until the barrier gives up.
    together = threading.Barrier(3, timeout=30)

    def probe(_: InstanceHandle) -> State:
        together.wait()
        return State.HEALTHY

    checks = checks_with(probe)
    started = [(name, STARTING, handle(name)) for name in ("a", "b", "c")]
    assert checks.check(started) == {"a": State.HEALTHY, "b": State.HEALTHY,
                                     "c": State.HEALTHY}


def test_a_healthy_instance_leaves_only_after_missing_probes_in_a_row(
    checks_with: Callable[..., HealthChecks],
) -> None:
    answers = iter([State.UNHEALTHY, State.UNHEALTHY, State.HEALTHY,
                    State.UNHEALTHY, State.UNHEALTHY, State.UNHEALTHY])
    checks = checks_with(lambda _: next(answers))
    row = [("a", HEALTHY, handle("a"))]
    assert checks.check(row) == {}  # missed 1: stays as it is
    assert checks.check(row) == {}  # missed 2
    assert checks.check(row) == {"a": State.HEALTHY}  # answered: the count starts again
    assert checks.check(row) == {}
    assert checks.check(row) == {}
    assert checks.check(row) == {"a": State.UNHEALTHY}  # 3 in a row: out


def test_an_unhealthy_instance_is_probed_every_check_and_comes_back_at_its_first_answer(
    checks_with: Callable[..., HealthChecks],
) -> None:
    answers = iter([State.UNHEALTHY, State.HEALTHY])
    checks = checks_with(lambda _: next(answers), interval=3600)
    row = [("a", State.UNHEALTHY.value, handle("a"))]
    assert checks.check(row) == {"a": State.UNHEALTHY}
    assert checks.check(row) == {"a": State.HEALTHY}


def test_an_exited_instance_is_out_at_once(checks_with: Callable[..., HealthChecks]) -> None:
    checks = checks_with(lambda _: State.EXITED)
    assert checks.check([("a", HEALTHY, handle("a"))]) == {"a": State.EXITED}


def test_a_healthy_instance_is_probed_once_an_interval_until_forgotten(
    checks_with: Callable[..., HealthChecks],
) -> None:
    probed: list[str] = []

    def probe(instance: InstanceHandle) -> State:
        probed.append(instance.instance_id)
        return State.HEALTHY

    checks = checks_with(probe, interval=3600)
    rows = [("a", HEALTHY, handle("a")), ("b", STARTING, handle("b"))]
    checks.check(rows)
    checks.check(rows)
    assert sorted(probed) == ["a", "b", "b"]
    checks.forget("a")
    checks.check(rows)
    assert sorted(probed) == ["a", "a", "b", "b", "b"]


def test_a_missed_count_is_forgotten_with_its_instance(
    checks_with: Callable[..., HealthChecks],
) -> None:
    checks = checks_with(lambda _: State.UNHEALTHY, missed_allowed=2)
    row = [("a", HEALTHY, handle("a"))]
    assert checks.check(row) == {}
    checks.forget("a")
    assert checks.check(row) == {}  # a new count: 1 missed, not 2
    assert checks.check(row) == {"a": State.UNHEALTHY}


def test_starting_instances_are_watched_in_the_background_one_probe_each_at_a_time(
    checks_with: Callable[..., HealthChecks],
) -> None:
    # "slow" accepts and does not answer yet (its model still loading); "ready" answers.
    slow_may_answer = threading.Event()
    probed: list[str] = []

    def probe(instance: InstanceHandle) -> State:
        probed.append(instance.instance_id)
        if instance.instance_id == "slow":
            assert slow_may_answer.wait(30)
            return State.STARTING
        return State.HEALTHY

    checks = checks_with(probe)
    answered = threading.Event()
    starting = {name: InstanceHandle.from_dict(handle(name)) for name in ("slow", "ready")}
    checks.watch_starting(starting, answered=answered.set)  # returns without waiting
    assert answered.wait(10), "the ready instance's answer waited for the slow one"
    # Watched again meanwhile: no second probe of "slow" while its first is under way,
    # "ready" probed again (its probe ended).
    checks.watch_starting(starting, answered=lambda: None)
    assert checks._starting["ready"].result(10)
    assert sorted(probed) == ["ready", "ready", "slow"]
    slow_may_answer.set()
    deadline = time.monotonic() + 10
    while checks._starting["slow"].running() and time.monotonic() < deadline:
        time.sleep(0.01)
    checks.watch_starting({"slow": starting["slow"]}, answered=lambda: None)
    assert not checks._starting["slow"].result(10)  # a new probe: still starting
    assert sorted(probed) == ["ready", "ready", "slow", "slow"]


def test_a_starting_instance_the_runner_cannot_tell_about_is_left_to_the_tick(
    checks_with: Callable[..., HealthChecks],
) -> None:
    def probe(_: InstanceHandle) -> State:
        raise RunnerError("the engine did not answer")

    checks = checks_with(probe)
    answered = threading.Event()
    checks.watch_starting({"a": InstanceHandle.from_dict(handle("a"))}, answered=answered.set)
    checks._starting["a"].result(10)
    assert not answered.is_set()
