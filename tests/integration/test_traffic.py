"""Generations side by side, end to end: mappings, the target header, switches and
rollbacks under load, the challenger, and the query log of the real gateway's calls."""

from __future__ import annotations

import base64
import csv
import io
import itertools
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import RunningShipyard
from tests.integration.test_deploy import put_file, scaffold_and_push, wait_for

pytestmark = pytest.mark.slow

SERVICE = "add-numbers"
# 99.9% two-sided normal bound on a binomial count.
Z_999 = 3.2905
SLEEPS_2S = (
    "import time\nfrom flask import Flask, request\napp = Flask(__name__)\n"
    "@app.post('/add-numbers')\ndef add_numbers():\n    time.sleep(2)\n"
    "    return str(request.json['num1'] + request.json['num2'])\n"
)
ANSWERS_500 = (
    "from flask import Flask\napp = Flask(__name__)\n"
    "@app.post('/add-numbers')\ndef add_numbers():\n    return 'challenger broke', 500\n"
)
BROKEN_AT_IMPORT = "import flask\nraise RuntimeError('this generation is broken on purpose')\n"


def invoke_url(shipyard: RunningShipyard) -> str:
    return f"{shipyard.url}/user-services/invoke/{SERVICE}/add-numbers"


def call(session: requests.Session, shipyard: RunningShipyard, **headers: str) -> requests.Response:
    return session.post(
        invoke_url(shipyard), json={"num1": 2, "num2": 5}, timeout=30,
        headers={name.replace("_", "-"): value for name, value in headers.items()},
    )


def deploy_generation(shipyard: RunningShipyard, app_source: str | None = None) -> None:
    """Deploy the service's files (with ``app.py`` replaced) as a new generation."""
    if app_source is not None:
        put_file(shipyard, "app.py", app_source)
    result = shipyard.cli("deploy", SERVICE, "--no-follow")
    assert result.returncode == 0, result.stderr


def touch(shipyard: RunningShipyard, n: int) -> None:
    """A code change, so that the next deploy makes a different generation."""
    put_file(shipyard, "generation.txt", f"change {n}\n")


def calls_by_generation(
    shipyard: RunningShipyard, count: int, prefix: str, workers: int = 4, **headers: str
) -> dict[str, str]:
    """``count`` calls over ``workers`` connections; request id → answering generation."""
    sessions = [shipyard.new_session() for _ in range(workers)]

    def one(index: int) -> tuple[str, str]:
        request_id = f"{prefix}-{index}"
        answer = call(sessions[index % workers], shipyard, X_Request_Id=request_id, **headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Request-Id"] == request_id
        return request_id, answer.headers["X-Shipyard-Generation"]

    with ThreadPoolExecutor(workers) as pool:
        found = dict(pool.map(one, range(count)))
    for session in sessions:
        session.close()
    return found


def within_binomial_bound(count: int, total: int, proba: float) -> bool:
    return abs(count - total * proba) <= Z_999 * math.sqrt(total * proba * (1 - proba))


def exported_queries(shipyard: RunningShipyard, **params: str) -> list[dict[str, Any]]:
    answer = shipyard.http.get(
        f"{shipyard.url}/api/v1/services/{SERVICE}/queries", params=params, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return [json.loads(line) for line in answer.text.splitlines() if line]


def queries_with_prefix(
    shipyard: RunningShipyard, prefix: str, expected: int, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """The query log's rows of the calls whose request ids start with ``prefix``, once
    there are ``expected`` of them (the log is written in batches, off the hot path)."""
    def rows() -> list[dict[str, Any]] | None:
        found = [row for row in exported_queries(shipyard, since="1h")
                 if row["request_id"].startswith(prefix + "-")]
        return found if len(found) >= expected else None

    return wait_for(rows, timeout=timeout, what=f"{expected} query-log rows of {prefix}")


def test_mappings_split_calls_the_target_header_wins_and_the_query_log_has_every_call(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    scaffold_and_push(shipyard, tmp_path)
    deploy_generation(shipyard)
    touch(shipyard, 2)
    deploy_generation(shipyard)

    mapped = shipyard.cli(
        "mapping", "set", SERVICE,
        stdin='{"entries": [{"generation": "v1", "proba": 0.5},'
              ' {"generation": "v2", "proba": 0.5}]}',
    )
    assert mapped.returncode == 0, mapped.stderr
    assert "v1" in mapped.stdout and "50%" in mapped.stdout

    shares = calls_by_generation(shipyard, 2000, "half")
    counts = Counter(shares.values())
    assert set(counts) == {"v1", "v2"}
    assert within_binomial_bound(counts["v1"], 2000, 0.5), counts

    listed = shipyard.cli("generations", "list", SERVICE, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["tag"]: row for row in json.loads(listed.stdout)}
    assert [(rows[tag]["mounted"], rows[tag]["mapped_percent"], rows[tag]["challenger"])
            for tag in ("v1", "v2")] == [(True, 50.0, False), (True, 50.0, False)]
    table = shipyard.cli("generations", "list", SERVICE)
    assert table.stdout.splitlines()[0].split()[:6] == [
        "TAG", "CREATED_AT", "BUILD_STATE", "MOUNTED", "MAPPED", "CHALLENGER"
    ]

    # The target header wins over the mapping; a generation not mounted is a 404.
    pinned = calls_by_generation(shipyard, 100, "pinned", X_Shipyard_Target_Generation="v1")
    assert set(pinned.values()) == {"v1"}
    with shipyard.new_session() as session:
        missing = call(session, shipyard, X_Shipyard_Target_Generation="v9")
    assert missing.status_code == 404
    assert "generation 'v9'" in missing.json()["error"]["message"]

    # Integer weights are normalized; a change applies to the next calls.
    with shipyard.sdk() as client:
        client.traffic.set_mapping(SERVICE, {"weights": {"v1": 25, "v2": 75}})
        in_force = client.traffic.wait_for_mapping(SERVICE, timeout=60)
    assert in_force["live"] == [{"generation": "v1", "proba": 0.25},
                                {"generation": "v2", "proba": 0.75}]
    quarter = Counter(calls_by_generation(shipyard, 2000, "quarter").values())
    assert within_binomial_bound(quarter["v1"], 2000, 0.25), quarter
    with shipyard.sdk() as client:
        client.traffic.set_mapping(SERVICE, {"weights": {"v1": 0, "v2": 1}})
        client.traffic.wait_for_mapping(SERVICE, timeout=60)
    assert set(calls_by_generation(shipyard, 50, "all-v2").values()) == {"v2"}

    # Every call is in the query log, once, with the generation that answered it.
    logged = queries_with_prefix(shipyard, "half", 2000)
    assert len(logged) == 2000
    assert {row["request_id"]: row["generation"] for row in logged} == shares
    sample = logged[0]
    assert (sample["method"], sample["status"], sample["caller"]) == ("POST", 200, "user:admin")
    assert sample["path"] == f"/user-services/invoke/{SERVICE}/add-numbers"
    assert sample["request_bytes"] > 0 and sample["response_bytes"] > 0
    assert sample["request_body"] is None  # prediction data collection is off by default
    # The time in the instance is part of the whole; the rest is the gateway's overhead.
    assert all(0 < row["instance_ms"] <= row["latency_ms"] for row in logged)
    assert sample["predictions"] is None  # a custom service that does not say
    exported = shipyard.cli("logs", SERVICE, "--queries", "--since", "1h", "--format", "csv")
    assert exported.returncode == 0, exported.stderr
    csv_rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert sum(row["request_id"].startswith("half-") for row in csv_rows) == 2000


def test_the_query_log_keeps_bodies_and_association_ids_when_asked(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    scaffold_and_push(shipyard, tmp_path)
    deploy_generation(shipyard)
    with shipyard.sdk() as client:
        client.services.update(
            SERVICE, {"collect_prediction_data": True, "association_id_field": "order"}
        )
    routes = shipyard.home / "run" / "routes.json"
    wait_for(lambda: any(entry.get("association_id_field") == "order"
                         for entry in json.loads(routes.read_text())["services"].values()),
             what="the routing table to name the association id field")
    shipyard.wait_for_gateway_routes()
    url = invoke_url(shipyard)
    body = {"num1": 2, "num2": 5, "order": "A-17"}
    with shipyard.new_session() as session:
        assert session.post(url, json=body, headers={"X-Request-Id": "assoc-1"}).json() == 7
        assert session.post(url, json=body, headers={
            "X-Request-Id": "assoc-2", "X-Shipyard-Association-Id": "from-header"
        }).json() == 7
        binary = session.post(url, data=bytes(range(256)), headers={
            "X-Request-Id": "assoc-4", "Content-Type": "application/octet-stream"})
        assert binary.status_code == 400
    refused = requests.post(url, json=body, headers={"X-Request-Id": "assoc-3"}, timeout=10)
    assert refused.status_code == 401

    rows = {row["request_id"]: row for row in queries_with_prefix(shipyard, "assoc", 4)}
    assert rows["assoc-1"]["association_id"] == "A-17"
    assert json.loads(rows["assoc-1"]["request_body"]) == body
    assert rows["assoc-1"]["response_body"].strip() == "7"
    assert rows["assoc-2"]["association_id"] == "from-header"
    # A body that is not text is kept byte for byte, in base64, as is the rest of its call.
    assert rows["assoc-1"]["body_encoding"] == "utf-8"
    assert rows["assoc-4"]["body_encoding"] == "base64"
    assert base64.b64decode(rows["assoc-4"]["request_body"]) == bytes(range(256))
    assert base64.b64decode(rows["assoc-4"]["response_body"]) == binary.content
    # A call refused for its credentials reached no generation.
    assert (rows["assoc-3"]["status"], rows["assoc-3"]["generation"],
            rows["assoc-3"]["caller"]) == (401, None, "")


def test_bad_mappings_are_refused_with_the_reason(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    scaffold_and_push(shipyard, tmp_path)
    deploy_generation(shipyard)
    put_file(shipyard, "app.py", BROKEN_AT_IMPORT)
    assert shipyard.cli("deploy", SERVICE, "--no-follow").returncode == 1
    url = f"{shipyard.url}/api/v1/services/{SERVICE}/mapping"
    cases = {
        '{"entries": [{"generation": "v1", "proba": 0.9}]}': "must sum to 1",
        '{"entries": [{"generation": "v2", "proba": 1}]}': "'v2' is not a built generation",
        '{"entries": [{"generation": "v7", "proba": 1}]}': "'v7' is not a built generation",
        '{"weights": {"v1": -1}}': "non-negative integer",
        '{"weights": {"v1": 0}}': "must not all be 0",
        '{"weights": {"v1": 1}, "entries": []}': 'exactly one of "entries"',
    }
    for body, reason in cases.items():
        answer = shipyard.http.put(
            url, data=body, headers={"Content-Type": "application/json"}, timeout=10
        )
        assert answer.status_code == 400, body
        assert answer.json()["error"]["type"] == "InvalidInput"
        assert reason in answer.json()["error"]["message"], (body, answer.json())
    refused = shipyard.cli("mapping", "set", SERVICE, stdin="not json")
    assert refused.returncode == 1 and refused.stderr.startswith("Error: ")
    rolled = shipyard.cli("rollback", SERVICE, "v2")
    assert rolled.returncode == 1 and "failed to build" in rolled.stderr
    with shipyard.sdk() as client:
        assert client.traffic.mapping(SERVICE)["live"] == [{"generation": "v1", "proba": 1.0}]


@dataclass
class Probe:
    started: float
    ended: float
    status: int
    generation: str | None


class Prober:
    """Calls the service without pause over several connections, recording each answer."""

    def __init__(self, shipyard: RunningShipyard, connections: int = 4) -> None:
        self.shipyard = shipyard
        self.probes: list[Probe] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(connections)]

    def __enter__(self) -> Prober:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        with self.shipyard.new_session() as session:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    answer = call(session, self.shipyard)
                    status, generation = answer.status_code, answer.headers.get(
                        "X-Shipyard-Generation"
                    )
                except requests.RequestException:
                    status, generation = 0, None
                self.probes.append(Probe(started, time.monotonic(), status, generation))


@dataclass
class Step:
    name: str
    requested: float
    done: float
    serving: frozenset[str]


def timed(name: str, serving: set[str], action: Callable[[], None]) -> Step:
    requested = time.monotonic()
    action()
    return Step(name, requested, time.monotonic(), frozenset(serving))


def test_switches_rollbacks_mappings_and_a_broken_redeploy_fail_no_call(
    shipyard: RunningShipyard, tmp_path: Path
) -> None:
    scaffold_and_push(shipyard, tmp_path)
    deploy_generation(shipyard)
    touch(shipyard, 2)
    client = shipyard.sdk()

    def cli(*args: str, stdin: str | None = None, ok: bool = True) -> Callable[[], None]:
        def run() -> None:
            result = shipyard.cli(*args, stdin=stdin)
            assert (result.returncode == 0) == ok, result.stderr
        return run

    steps = [Step("start", 0.0, time.monotonic(), frozenset({"v1"}))]
    with Prober(shipyard) as prober:
        time.sleep(1)
        steps.append(timed("deploy v2", {"v2"}, cli("deploy", SERVICE, "--no-follow")))
        steps.append(timed("rollback to v1", {"v1"}, cli("rollback", SERVICE, "v1")))
        steps.append(timed("switch to newest", {"v2"}, cli("switch-to-newest", SERVICE)))
        steps.append(timed("50/50", {"v1", "v2"}, cli(
            "mapping", "set", SERVICE,
            stdin='{"weights": {"v1": 1, "v2": 1}}',
        )))
        steps.append(timed("rollback to v1 again", {"v1"}, cli("rollback", SERVICE, "v1")))
        put_file(shipyard, "app.py", BROKEN_AT_IMPORT)
        steps.append(timed("deploy a broken v3", {"v1"}, cli(
            "deploy", SERVICE, "--no-follow", ok=False
        )))
        time.sleep(2)
    client.close()

    probes = prober.probes
    assert len(probes) > 200
    failed = [probe for probe in probes if probe.status != 200]
    assert not failed, f"{len(failed)} of {len(probes)} calls failed: {failed[:5]}"
    for probe in probes:
        allowed = _allowed_generations(steps, probe)
        assert probe.generation in allowed, (probe, [s.name for s in steps])
    # Each step's new mapping was seen serving.
    for step, following in zip(steps, [*steps[1:], None], strict=True):
        end = following.requested if following else math.inf
        seen = {p.generation for p in probes if step.done <= p.started and p.ended <= end}
        assert seen <= step.serving, (step.name, seen)


def _allowed_generations(steps: list[Step], probe: Probe) -> set[str]:
    """The generations that may answer a call made between two steps' ends: those of the
    mapping in force, and during a step, those before and after it."""
    allowed: set[str] = set()
    for before, step in itertools.pairwise(steps):
        if probe.ended >= before.done and probe.started <= step.done:
            allowed |= before.serving
            if probe.ended >= step.requested:
                allowed |= step.serving
    if probe.ended >= steps[-1].done:
        allowed |= steps[-1].serving
    return allowed


def _p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def _timed_calls(shipyard: RunningShipyard, prefix: str, count: int) -> list[float]:
    latencies = []
    with shipyard.new_session() as session:
        for index in range(count):
            started = time.perf_counter()
            answer = call(session, shipyard, X_Request_Id=f"{prefix}-{index}")
            latencies.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.text
            assert answer.headers["X-Shipyard-Generation"] == "v1"
            assert answer.json() == 7
    return latencies


@pytest.fixture
def generations_with_challengers(
    shipyard: RunningShipyard, tmp_path: Path
) -> Iterator[RunningShipyard]:
    """v1 serves; v2 (sleeps 2 s) and v3 (answers 500) are built, not mapped."""
    directory = scaffold_and_push(shipyard, tmp_path)
    deploy_generation(shipyard)
    original = (directory / "app.py").read_text()
    deploy_generation(shipyard, SLEEPS_2S)
    deploy_generation(shipyard, ANSWERS_500)
    put_file(shipyard, "app.py", original)
    rolled = shipyard.cli("rollback", SERVICE, "v1")
    assert rolled.returncode == 0, rolled.stderr
    yield shipyard


def test_a_slow_or_failing_challenger_never_reaches_the_caller(
    generations_with_challengers: RunningShipyard,
) -> None:
    shipyard = generations_with_challengers
    baseline = _timed_calls(shipyard, "alone", 40)

    assert shipyard.cli("challenger", "set", SERVICE, "v2").returncode == 0
    with shipyard.sdk() as client:
        wait_for(lambda: any(g["tag"] == "v2" and g["mounted"] and g["challenger"]
                             for g in client.traffic.generations(SERVICE)),
                 what="the challenger v2 to be mounted")
    shipyard.wait_for_gateway_routes()
    slow = _timed_calls(shipyard, "slow", 40)
    # Were the 2 s of the challenger on the caller's path, each call would take 2 s.
    assert _p99(slow) < 1.0, (_p99(baseline), _p99(slow))
    logged = queries_with_prefix(shipyard, "slow", 40, timeout=120)
    assert all(row["generation"] == "v1" and row["status"] == 200 for row in logged)
    assert all(row["challenger_generation"] == "v2" for row in logged)
    assert all(row["challenger_status"] == 200 for row in logged), logged[:3]
    assert all(row["challenger_latency_ms"] >= 2000 for row in logged)

    assert shipyard.cli("challenger", "set", SERVICE, "v3").returncode == 0
    with shipyard.sdk() as client:
        wait_for(lambda: any(g["tag"] == "v3" and g["mounted"]
                             for g in client.traffic.generations(SERVICE)),
                 what="the challenger v3 to be mounted")
    time.sleep(0.5)
    failing = _timed_calls(shipyard, "failing", 40)
    assert _p99(failing) < 1.0, (_p99(baseline), _p99(failing))
    logged = queries_with_prefix(shipyard, "failing", 40, timeout=60)
    assert {(row["status"], row["challenger_generation"], row["challenger_status"])
            for row in logged} == {(200, "v3", 500)}

    # Without a role, the challengers are stopped.
    assert shipyard.cli("challenger", "unset", SERVICE).returncode == 0
    with shipyard.sdk() as client:
        wait_for(lambda: [g["tag"] for g in client.traffic.generations(SERVICE)
                          if g["mounted"]] == ["v1"], what="v2 and v3 to be stopped")
