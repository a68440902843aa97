"""Service stats end to end: real calls through a real ``shipyard up`` (two generations
sharing the traffic, a challenger, user and server errors, slow calls, two callers), the
supervisor killed while it ingests, and every stat compared with the same figure computed
from the raw query-log export of the same window."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import psutil
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from shipyard.stats.histogram import RELATIVE_ERROR
from tests.conftest import RunningShipyard, start_shipyard
from tests.integration.test_deploy import put_file, scaffold_and_push, wait_for

pytestmark = pytest.mark.slow

SERVICE = "add-numbers"
APP = """\
import time

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/add-numbers")
def add_numbers():
    body = request.json
    if body.get("fail") == "user":
        return jsonify({"error": "bad numbers"}), 400
    if body.get("fail") == "server":
        return "broke", 500
    time.sleep(body.get("sleep", 0))
    answer = jsonify(body["num1"] + body["num2"])
    answer.headers["X-Shipyard-Predictions"] = str(body.get("rows", 1))
    return answer
"""
CALLS = 240
METRICS_TOKEN = "scrape-me-please-0123456789"
SLOW_MS = 150  # the calls that sleep 0.2 s are slow, the others are not


def minute(epoch: float) -> int:
    return int(epoch) // 60 * 60


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory, module_database_url: str
            ) -> Iterator[tuple[RunningShipyard, str]]:
    """v1 and v2 share the traffic half and half, v3 is the challenger; ``CALLS`` calls
    made by the administrator and by an API key, while the supervisor is killed twice."""
    shipyard = start_shipyard(tmp_path_factory.mktemp("stats") / "home",
                              env={"SHIPYARD_METRICS_TOKEN": METRICS_TOKEN},
                              database_url=module_database_url)
    try:
        started = time.time()
        scaffold_and_push(shipyard, tmp_path_factory.mktemp("code"))
        for number in (1, 2, 3):
            put_file(shipyard, "app.py", APP + f"\nGENERATION = {number}\n")
            deployed = shipyard.cli("deploy", SERVICE)
            assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        with shipyard.sdk() as client:
            client.traffic.set_mapping(SERVICE, {"weights": {"v1": 1, "v2": 1}})
            client.traffic.wait_for_mapping(SERVICE, timeout=120)
            assert shipyard.cli("challenger", "set", SERVICE, "v3").returncode == 0
            wait_for(lambda: any(g["tag"] == "v3" and g["mounted"] and g["challenger"]
                                 for g in client.traffic.generations(SERVICE)),
                     timeout=120, what="the challenger v3 to be mounted")
            api_key = client.iam.create_api_key(SERVICE, "stats")["api_key"]
            client.services.update(SERVICE, {"health_thresholds": {"slow_request_ms": SLOW_MS}})
        shipyard.wait_for_gateway_routes()
        _call_while_killing_the_supervisor(shipyard, api_key)
        yield shipyard, iso(minute(started))
    finally:
        shipyard.stop()


def _call_while_killing_the_supervisor(shipyard: RunningShipyard, api_key: str) -> None:
    url = f"{shipyard.url}/user-services/invoke/{SERVICE}/add-numbers"
    rng = random.Random(16)
    bodies = []
    for number in range(CALLS):
        body: dict[str, Any] = {"num1": number, "num2": 1, "rows": rng.randrange(1, 6)}
        kind = rng.random()
        if kind < 0.1:
            body["fail"] = "user"
        elif kind < 0.15:
            body["fail"] = "server"
        elif kind < 0.25:
            body["sleep"] = 0.2
        bodies.append(body)
    signed = shipyard.new_session()
    keyed = requests.Session()

    def one(number: int) -> int:
        session, headers = ((signed, {}) if number % 3 else
                            (keyed, {"X-Api-Key": api_key}))
        answer = session.post(url, json=bodies[number], timeout=30,
                              headers={**headers, "X-Request-Id": f"stats-{number}"})
        return answer.status_code

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(one, number) for number in range(CALLS)]
        for kill_after in (CALLS // 3, 2 * CALLS // 3):
            wait_for(lambda n=kill_after: sum(f.done() for f in futures) >= n, timeout=120,
                     what=f"{kill_after} calls")
            _kill_supervisor(shipyard)
        statuses = Counter(future.result() for future in futures)
    assert set(statuses) == {200, 400, 500}, statuses


def _kill_supervisor(shipyard: RunningShipyard) -> None:
    """SIGKILL the supervisor, once ``shipyard up`` has one running (it starts a new one a
    moment after the last was killed)."""
    def supervisor() -> psutil.Process | None:
        for process in psutil.Process(shipyard.process.pid).children():
            if "shipyard.supervisor" in process.cmdline():
                return process
        return None

    os.kill(wait_for(supervisor, timeout=30, what="a supervisor").pid, signal.SIGKILL)


def exported(shipyard: RunningShipyard, start: str, end: str) -> list[dict[str, Any]]:
    answer = shipyard.http.get(f"{shipyard.url}/api/v1/services/{SERVICE}/queries",
                               params={"since": start, "until": end}, timeout=30)
    assert answer.status_code == 200, answer.text
    return [json.loads(line) for line in answer.text.splitlines() if line]


@pytest.fixture(scope="module")
def window(traffic: tuple[RunningShipyard, str]) -> tuple[str, str, list[dict[str, Any]]]:
    """A window holding every call, and its calls as the export gives them once every
    one of ours is in (the supervisor came back and ingested what was spooled)."""
    shipyard, start = traffic
    end = iso(minute(time.time()) + 120)

    def everything() -> list[dict[str, Any]] | None:
        rows = exported(shipyard, start, end)
        ours = {row["request_id"] for row in rows if row["request_id"].startswith("stats-")}
        return rows if len(ours) == CALLS else None

    return start, end, wait_for(everything, timeout=120, what="every call in the query log")


def lower_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def within(estimate: float | None, exact: float) -> bool:
    assert estimate is not None
    return abs(estimate - exact) <= RELATIVE_ERROR * exact + 0.0005


def check(figures: dict[str, Any], rows: list[dict[str, Any]], *, challenger: bool = False
          ) -> None:
    """``figures`` are those of ``rows``, computed here from the raw calls."""
    status = "challenger_status" if challenger else "status"
    latency = "challenger_latency_ms" if challenger else "latency_ms"
    assert figures["total_requests"] == len(rows)
    predictions = sum((row["predictions"] or 0) for row in rows
                      if not challenger or row[status] < 400)
    assert figures["total_predictions"] == predictions
    assert figures["user_error_rate"] == pytest.approx(
        sum(400 <= row[status] < 500 for row in rows) / len(rows))
    assert figures["server_error_rate"] == pytest.approx(
        sum(row[status] >= 500 for row in rows) / len(rows))
    assert figures["num_consumers"] == len({row["caller"] for row in rows})
    assert figures["bytes_in"] == sum(row["request_bytes"] for row in rows)
    if not challenger:
        assert figures["bytes_out"] == sum(row["response_bytes"] for row in rows)
    per_minute = sorted(Counter(minute(datetime.fromisoformat(row["at"]).timestamp())
                                for row in rows).values())
    assert figures["peak_load"] == per_minute[-1]
    median = per_minute[(len(per_minute) - 1) // 2]
    assert abs(figures["median_load"] - median) <= RELATIVE_ERROR * median + 0.5
    # A call is counted to its latency bucket's precision: one within RELATIVE_ERROR of
    # the threshold (a quick call slowed by a loaded machine) may fall either side.
    surely_slow = sum(row[latency] > SLOW_MS * (1 + RELATIVE_ERROR) for row in rows)
    maybe_slow = sum(row[latency] > SLOW_MS * (1 - RELATIVE_ERROR) for row in rows)
    assert surely_slow <= figures["slow_requests"] <= maybe_slow, sorted(
        row[latency] for row in rows)
    for label, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        assert within(figures["response_time"][label],
                      lower_quantile([row[latency] for row in rows], q)), label
        forwarded = [row for row in rows if row["instance_ms"] is not None]
        if forwarded and not challenger:
            assert within(figures["execution_time"][label],
                          lower_quantile([row["instance_ms"] for row in forwarded], q))
            assert within(figures["overhead_time"][label], lower_quantile(
                [max(row["latency_ms"] - row["instance_ms"], 0.0) for row in forwarded], q))


def test_every_stat_agrees_with_the_raw_query_log(
    traffic: tuple[RunningShipyard, str], window: tuple[str, str, list[dict[str, Any]]]
) -> None:
    shipyard, _ = traffic
    start, end, rows = window
    with shipyard.sdk() as client:
        stats = client.services.stats(SERVICE, start, end)
    assert (stats["start"], stats["end"]) == (start, end)
    check(stats["overall"], rows)
    series = {(g["generation"], g["role"]): g for g in stats["generations"]}
    assert {("v1", "main"), ("v2", "main"), ("v3", "challenger")} <= set(series)
    for tag in ("v1", "v2"):
        check(series[(tag, "main")], [row for row in rows if row["generation"] == tag])
    copies = [row for row in rows if row["challenger_generation"] == "v3"
              and row["challenger_status"]]
    assert copies
    check(series[("v3", "challenger")], copies, challenger=True)
    assert stats["slow_request_ms"] == SLOW_MS and stats["overall"]["slow_requests"] > 0
    # Sleeps of 0.2 s happened in the instance, not in the gateway.
    assert series[("v1", "main")]["execution_time"]["p99"] >= 200
    assert series[("v1", "main")]["overhead_time"]["p50"] < 50


def test_stats_over_time_add_up_to_the_window(
    traffic: tuple[RunningShipyard, str], window: tuple[str, str, list[dict[str, Any]]]
) -> None:
    shipyard, _ = traffic
    start, end, rows = window
    with shipyard.sdk() as client:
        series = client.services.stats_over_time(
            SERVICE, ["total_requests", "server_error_rate"], "PT1M", start, end)
    overall = series[0]
    assert overall["generation"] is None
    assert sum(bucket["total_requests"] for bucket in overall["buckets"]) == len(rows)
    for bucket in overall["buckets"]:
        inside = [row for row in rows if bucket["start"] <= row["at"][:19] + "Z" < bucket["end"]]
        assert bucket["total_requests"] == len(inside), bucket
    by_generation = {(line["generation"], line["role"]) for line in series}
    assert {("v1", "main"), ("v2", "main"), ("v3", "challenger")} <= by_generation


def test_the_cli_prints_tables_with_sparklines_json_and_csv(
    traffic: tuple[RunningShipyard, str], window: tuple[str, str, list[dict[str, Any]]]
) -> None:
    shipyard, _ = traffic
    start, end, rows = window
    table = shipyard.cli("stats", SERVICE, "--since", start, "--until", end, "--bucket", "1m")
    assert table.returncode == 0, table.stderr
    for heading in ("\nservice\n", "\nv1 (main)\n", "\nv2 (main)\n", "\nv3 (challenger)\n"):
        assert heading in table.stdout
    assert any(char in table.stdout for char in "▁▂▃▄▅▆▇█")
    assert re.search(rf"^requests +{len(rows):,} ", table.stdout, re.MULTILINE)

    as_json = shipyard.cli("stats", SERVICE, "--since", start, "--until", end, "--format",
                           "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["overall"]["total_requests"] == len(rows)

    as_csv = shipyard.cli("stats", SERVICE, "--since", start, "--until", end, "--bucket",
                          "PT1M", "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    lines = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert sum(int(line["total_requests"]) for line in lines if not line["generation"]) \
        == len(rows)

    refused = shipyard.cli("stats", SERVICE, "--bucket", "30s")
    assert refused.returncode == 1
    assert refused.stderr.startswith("Error: ") and "whole minutes" in refused.stderr


def scraped_requests(shipyard: RunningShipyard) -> Counter[tuple[str, str, str]]:
    """``shipyard_gateway_requests_total`` of the service: (generation, role, status
    class) → calls, parsed with prometheus_client's own parser."""
    answer = requests.get(f"{shipyard.url}/metrics", timeout=10,
                          headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert answer.status_code == 200, answer.text
    counts: Counter[tuple[str, str, str]] = Counter()
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "shipyard_gateway_requests_total" \
                    and labels["service"] == SERVICE:
                counts[(labels["generation"], labels["role"], labels["status_class"])] += \
                    int(sample.value)
    return counts


def test_a_prometheus_scrape_agrees_with_the_stats(
    traffic: tuple[RunningShipyard, str], window: tuple[str, str, list[dict[str, Any]]]
) -> None:
    shipyard, _ = traffic
    start, end, rows = window
    assert requests.get(f"{shipyard.url}/metrics", timeout=10).status_code == 401
    with shipyard.sdk() as client:
        stats = client.services.stats(SERVICE, start, end)
    counts = scraped_requests(shipyard)
    main = sum(count for (_, role, _), count in counts.items() if role == "main")
    assert main == stats["overall"]["total_requests"] == len(rows)
    for figures in stats["generations"]:
        tag, role = figures["generation"], figures["role"]
        by_class = {status_class: count for (generation, kind, status_class), count
                    in counts.items() if (generation, kind) == (tag, role)}
        total = figures["total_requests"]
        assert sum(by_class.values()) == total, (tag, role, by_class)
        assert by_class.get("4xx", 0) == round(figures["user_error_rate"] * total)
        assert by_class.get("5xx", 0) == round(figures["server_error_rate"] * total)
