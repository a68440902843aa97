"""Replicas on the embedded default (real control plane, real gunicorn instances): each
generation runs min_replicas of them, the gateway spreads its calls over the healthy ones,
a killed replica costs no more than its calls in flight while the others carry its share,
and running fewer drains the ones too many before they stop."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningShipyard, start_shipyard
from tests.integration.test_deploy import (
    master_pid,
    port_closed,
    put_file,
    scaffold_and_push,
    wait_for,
)

pytestmark = pytest.mark.slow

SERVICE = "add-numbers"
# Says which process answered (one gunicorn worker per replica on the small profile; each
# in a PID namespace of its own, so a token made at import, not its pid).
SAYS_WHO = (
    "import uuid\nfrom flask import Flask, request\napp = Flask(__name__)\n"
    "WHO = uuid.uuid4().hex\n"
    "@app.post('/add-numbers')\ndef add_numbers():\n"
    "    return {'sum': request.json['num1'] + request.json['num2'], 'who': WHO}\n"
)


def status(shipyard: RunningShipyard) -> dict[str, Any]:
    return shipyard.http.get(f"{shipyard.url}/api/v1/services/{SERVICE}", timeout=10).json()


def healthy(shipyard: RunningShipyard) -> list[dict[str, Any]]:
    return [i for i in status(shipyard)["instances"] if i["state"] == "healthy"]


class Load:
    """Callers calling the service through the gateway until stopped, counting answers."""

    def __init__(self, shipyard: RunningShipyard, callers: int) -> None:
        self.url = f"{shipyard.url}/user-services/invoke/{SERVICE}/add-numbers"
        self.sessions = [shipyard.new_session() for _ in range(callers)]
        self.who: Counter[str] = Counter()
        self.failures: list[str] = []
        self.calls = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(session,))
                         for session in self.sessions]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for session in self.sessions:
            session.close()

    def _run(self, session: Any) -> None:
        while not self._stop.is_set():
            try:
                answer = session.post(self.url, json={"num1": 2, "num2": 5}, timeout=30)
                outcome = answer.json() if answer.status_code == 200 else answer.text
            except Exception as exc:  # a cut connection counts as a failed call
                outcome = repr(exc)
            with self._lock:
                self.calls += 1
                if isinstance(outcome, dict) and outcome["sum"] == 7:
                    self.who[outcome["who"]] += 1
                else:
                    self.failures.append(str(outcome))

    def wait_for_calls(self, more: int) -> None:
        target = self.calls + more
        wait_for(lambda: self.calls >= target, what=f"{more} more calls")


def test_replicas_share_the_calls_and_a_killed_one_costs_only_its_calls_in_flight(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    scaffold_and_push(shipyard, tmp_path)
    put_file(shipyard, "app.py", SAYS_WHO)
    updated = shipyard.cli("services", "update", SERVICE, "--min-replicas", "3",
                           "--max-replicas", "4")
    assert updated.returncode == 0, updated.stderr
    assert "replicas: 3 to 4 per generation" in updated.stdout
    refused = shipyard.cli("services", "update", SERVICE, "--max-replicas", "9")
    assert refused.returncode == 1
    assert "Error: max_replicas (9) is over the 'small' profile's ceiling of 8" in refused.stderr

    deployed = shipyard.cli("deploy", SERVICE)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    # Live only once all three are healthy.
    replicas = healthy(shipyard)
    assert len(replicas) == 3 and {i["generation"] for i in replicas} == {"v1"}
    shipyard.wait_for_gateway_routes()

    callers = 4
    with Load(shipyard, callers) as load:
        load.wait_for_calls(300)
        assert len(load.who) == 3, load.who  # every replica takes calls
        assert not load.failures, load.failures[:3]

        victim = replicas[0]["address"]
        os.kill(master_pid(victim), signal.SIGKILL)
        failed_before = len(load.failures)
        load.wait_for_calls(300)
        # At most the calls that were in flight on it (one per caller at most) fail.
        failed = len(load.failures) - failed_before
        assert failed <= callers, load.failures
        print(f"calls failed by the kill: {failed} of {load.calls}")
        again = wait_for(lambda: len(h := healthy(shipyard)) == 3
                         and any(i["restarts"] >= 1 for i in h) and h,
                         what="the killed replica to come back")
        steady = len(load.failures)
        load.wait_for_calls(200)
        assert len(load.failures) == steady, load.failures[steady:][:3]

        # Running fewer: the replicas too many drain, then stop; no call fails meanwhile.
        fewer = shipyard.cli("services", "update", SERVICE, "--min-replicas", "1",
                             "--max-replicas", "1")
        assert fewer.returncode == 0, fewer.stderr
        wait_for(lambda: len(status(shipyard)["instances"]) == 1, what="two replicas to stop")
        served_since = Counter(load.who)
        load.wait_for_calls(200)
        assert len(load.failures) == steady, load.failures[steady:][:3]
        assert len(load.who - served_since) == 1  # one replica serves now

    stopped = [i["address"] for i in again if i["address"] not in
               {r["address"] for r in healthy(shipyard)}]
    assert len(stopped) == 2
    for address in stopped:
        wait_for(lambda a=address: port_closed(a), what=f"{address} to close")


def test_the_status_waits_for_every_replica_of_a_new_generation(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    scaffold_and_push(shipyard, tmp_path)
    assert shipyard.cli("services", "update", SERVICE, "--min-replicas", "2",
                        "--max-replicas", "2").returncode == 0
    assert shipyard.cli("deploy", SERVICE).returncode == 0
    put_file(shipyard, "generation.txt", "change\n")
    started = time.monotonic()
    assert shipyard.cli("deploy", SERVICE).returncode == 0
    assert time.monotonic() - started < 120
    now = status(shipyard)
    assert now["live_generation"] == "v2"
    v2 = [i for i in now["instances"] if i["generation"] == "v2" and i["state"] == "healthy"]
    assert len(v2) == 2
    wait_for(lambda: {i["generation"] for i in status(shipyard)["instances"]} == {"v2"},
             what="v1's replicas to stop")

    # A generation's own bounds, over its service's; then its service's again.
    own = shipyard.cli("generations", "replicas", SERVICE, "v2", "--min-replicas", "3",
                       "--max-replicas", "3")
    assert own.returncode == 0, own.stderr
    assert "v2: replica bounds min 3, max 3" in own.stdout
    wait_for(lambda: len(healthy(shipyard)) == 3, what="3 replicas of v2")
    back = shipyard.cli("generations", "replicas", SERVICE, "v2", "--service-bounds")
    assert back.returncode == 0 and "replica bounds its service's" in back.stdout
    wait_for(lambda: len(status(shipyard)["instances"]) == 2, what="2 replicas of v2 again")


SLOW = (
    "import time, uuid\nfrom flask import Flask, request\napp = Flask(__name__)\n"
    "WHO = uuid.uuid4().hex\n"
    "@app.post('/add-numbers')\ndef add_numbers():\n    time.sleep(0.2)\n"
    "    return {'sum': request.json['num1'] + request.json['num2'], 'who': WHO}\n"
)
SHORT_WINDOWS = {"SHIPYARD_SCALE_STABLE_WINDOW": "6", "SHIPYARD_SCALE_PANIC_WINDOW": "2",
                 "SHIPYARD_SCALE_DOWN_DELAY": "3"}


def replicas_of(shipyard: RunningShipyard, tag: str) -> dict[str, Any]:
    (entry,) = [e for e in status(shipyard)["scaling"] if e["generation"] == tag]
    return entry


def test_the_autoscaler_follows_a_step_load_up_and_back_down_without_a_failed_call(
    tmp_path: Path, database_url: str
) -> None:
    shipyard = start_shipyard(tmp_path / "home", env=SHORT_WINDOWS,
                              database_url=database_url)
    try:
        scaffold_and_push(shipyard, tmp_path)
        put_file(shipyard, "app.py", SLOW)
        assert shipyard.cli("services", "update", SERVICE, "--min-replicas", "1",
                            "--max-replicas", "4", "--target-concurrency", "1").returncode == 0
        assert shipyard.cli("deploy", SERVICE).returncode == 0
        first = replicas_of(shipyard, "v1")
        assert first["replicas"] == 1 and "to start with" in first["reason"]

        with Load(shipyard, 4) as load:  # about 4 calls in flight: 4 replicas wanted
            up = wait_for(lambda: (e := replicas_of(shipyard, "v1"))["replicas"] == 4 and e,
                          timeout=60, what="4 replicas")
            assert "calls in flight on average" in up["reason"], up
            wait_for(lambda: len(healthy(shipyard)) == 4, timeout=60,
                     what="4 healthy replicas")
            load.wait_for_calls(100)
            assert len(load.who) >= 4, load.who
        assert not load.failures, load.failures[:3]

        down = wait_for(lambda: (e := replicas_of(shipyard, "v1"))["replicas"] == 1 and e,
                        timeout=60, what="1 replica again")
        assert "0.00 calls in flight" in down["reason"], down
        wait_for(lambda: len(status(shipyard)["instances"]) == 1, timeout=60,
                 what="3 replicas to stop")
        log = shipyard.output.read_text()
        assert "add-numbers v1: 4 replicas:" in log and "add-numbers v1: 1 replica:" in log
    finally:
        shipyard.stop()


def test_scaled_to_zero_when_idle_and_the_first_call_waits_for_a_replica(
    tmp_path: Path, database_url: str
) -> None:
    shipyard = start_shipyard(tmp_path / "home", env=SHORT_WINDOWS,
                              database_url=database_url)
    try:
        scaffold_and_push(shipyard, tmp_path)
        put_file(shipyard, "app.py", SAYS_WHO)
        assert shipyard.cli("services", "update", SERVICE, "--min-replicas", "0",
                            "--max-replicas", "2").returncode == 0
        assert shipyard.cli("deploy", SERVICE).returncode == 0
        assert replicas_of(shipyard, "v1")["replicas"] == 1  # at least one to go live

        zero = wait_for(lambda: (e := replicas_of(shipyard, "v1"))["replicas"] == 0 and e,
                        timeout=60, what="scaled to zero")
        assert "0.00 calls in flight" in zero["reason"]
        wait_for(lambda: not status(shipyard)["instances"], timeout=60,
                 what="its last replica to stop")
        assert status(shipyard)["live_generation"] == "v1"

        with shipyard.new_session() as session:
            started = time.monotonic()
            answer = session.post(f"{shipyard.url}/user-services/invoke/{SERVICE}/add-numbers",
                                  json={"num1": 2, "num2": 5}, timeout=90)
            waited = time.monotonic() - started
            assert answer.status_code == 200, answer.text
            assert answer.json()["sum"] == 7
            print(f"first call after scale to zero answered in {waited:.2f}s")
            woken = replicas_of(shipyard, "v1")
            assert woken["replicas"] == 1
            assert woken["reason"] == "1 replica: a call came while it ran none"
            # The next calls find it at once.
            for _ in range(5):
                assert session.post(
                    f"{shipyard.url}/user-services/invoke/{SERVICE}/add-numbers",
                    json={"num1": 1, "num2": 1}, timeout=10).json()["sum"] == 2
    finally:
        shipyard.stop()
