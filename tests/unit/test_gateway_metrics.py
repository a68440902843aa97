"""The gateway's Prometheus metrics in one process: what a call, a challenger's copy and a
flush add, what a scrape reads, and who the ``/metrics`` endpoint lets in (on a loopback
socket, with the real authenticator; the gateway in front of it is test_gateway_metrics's
integration test)."""

from __future__ import annotations

import asyncio
import hashlib
import random
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shipyard.gateway.authentication import GatewayGuard, bearer_token
from shipyard.gateway.metrics import (
    ANSWERED,
    LATENCY_BUCKETS,
    TIMED_OUT,
    GatewayMetrics,
    MetricsSetup,
    _observe_counts,
)
from shipyard.gateway.metrics_endpoint import SCRAPE_CREDENTIALS_NEEDED, MetricsEndpoint
from shipyard.gateway.settings import GatewaySettings
from shipyard.iam.authenticator import Authenticator
from shipyard.settings import Settings

TOKEN = "t0ken-for-the-scraper"


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples named ``name`` in an exposition, by their sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def scrape(metrics: GatewayMetrics) -> str:
    metrics.flush()
    body, content_type = metrics.render(None)
    assert content_type.startswith("text/plain")
    return body.decode()


def test_counts_in_buckets_equal_the_same_observations_one_by_one() -> None:
    rng = random.Random(7)
    values = [rng.expovariate(20) for _ in range(500)] + [0.001, 0.0, 90.0]
    one_by_one, batched = CollectorRegistry(), CollectorRegistry()
    observed = Histogram("t_seconds", "t", buckets=LATENCY_BUCKETS, registry=one_by_one)
    for value in values:
        observed.observe(value)
    counts = [0] * len(LATENCY_BUCKETS)
    for value in values:
        counts[next(i for i, bound in enumerate(LATENCY_BUCKETS) if value <= bound)] += 1
    _observe_counts(Histogram("t_seconds", "t", buckets=LATENCY_BUCKETS, registry=batched),
                    counts, sum(values))
    def exposed(registry: CollectorRegistry) -> list[bytes]:
        return [line for line in generate_latest(registry).splitlines()
                if b"_created" not in line]

    assert exposed(batched) == exposed(one_by_one)
    assert b'le="0.05"' in b"".join(exposed(batched))


def test_calls_count_by_service_generation_role_and_status_class() -> None:
    metrics = GatewayMetrics()
    for status in (200, 201, 204, 404, 499, 502):
        metrics.call("add", "v1", status, 0.004, 0.003)
    metrics.call("add", "v2", 200, 0.2, 0.19)
    metrics.call("add", None, 503, 0.0002, None)  # refused before it was forwarded
    text = scrape(metrics)
    requests = samples(text, "shipyard_gateway_requests_total")
    base = (("role", "main"), ("service", "add"))
    assert requests == {
        (("generation", "v1"), *base, ("status_class", "2xx")): 3,
        (("generation", "v1"), *base, ("status_class", "4xx")): 2,
        (("generation", "v1"), *base, ("status_class", "5xx")): 1,
        (("generation", "v2"), *base, ("status_class", "2xx")): 1,
        (("generation", "-"), *base, ("status_class", "5xx")): 1,
    }
    counts = samples(text, "shipyard_gateway_request_duration_seconds_count")
    assert counts[(("generation", "v1"), *base)] == 6
    le = samples(text, "shipyard_gateway_request_duration_seconds_bucket")
    assert le[(("generation", "v2"), ("le", "0.1"), *base)] == 0
    assert le[(("generation", "v2"), ("le", "0.25"), *base)] == 1
    # The overhead of forwarded calls only: 1 ms each for v1.
    overhead = samples(text, "shipyard_gateway_overhead_seconds_count")
    assert overhead == {(("generation", "v1"), ("service", "add")): 6,
                        (("generation", "v2"), ("service", "add")): 1}
    total = samples(text, "shipyard_gateway_overhead_seconds_sum")
    assert total[(("generation", "v1"), ("service", "add"))] == pytest.approx(0.006)
    assert samples(text, "shipyard_gateway_workers") == {(): 1}


def test_a_call_shows_once_flushed_and_a_flush_adds_only_what_is_new() -> None:
    metrics = GatewayMetrics()
    metrics.call("add", "v1", 200, 0.01, 0.009)
    body, _ = metrics.render(None)
    assert samples(body.decode(), "shipyard_gateway_requests_total") == {}
    assert sum(samples(scrape(metrics), "shipyard_gateway_requests_total").values()) == 1
    assert sum(samples(scrape(metrics), "shipyard_gateway_requests_total").values()) == 1
    metrics.call("add", "v1", 200, 0.01, 0.009)
    assert sum(samples(scrape(metrics), "shipyard_gateway_requests_total").values()) == 2


def test_challenger_copies_count_by_outcome_and_as_challenger_requests() -> None:
    metrics = GatewayMetrics()
    tally = metrics.copies_of("add", "v3")
    assert metrics.copies_of("add", "v3") is tally
    tally.copied(ANSWERED, 200, 0.02)
    tally.copied(ANSWERED, 500, 0.02)
    tally.copied(TIMED_OUT, 504, 30.0)
    tally.skipped()
    text = scrape(metrics)
    assert samples(text, "shipyard_gateway_challenger_copies_total") == {
        (("generation", "v3"), ("outcome", outcome), ("service", "add")): count
        for outcome, count in (("answered", 2), ("timed_out", 1), ("skipped", 1))
    }
    assert samples(text, "shipyard_gateway_requests_total") == {
        (("generation", "v3"), ("role", "challenger"), ("service", "add"),
         ("status_class", status_class)): count
        for status_class, count in (("2xx", 1), ("5xx", 2))
    }
    assert samples(text, "shipyard_gateway_request_duration_seconds_count") == {
        (("generation", "v3"), ("role", "challenger"), ("service", "add")): 3
    }


def test_openmetrics_is_answered_to_a_scraper_that_asks_for_it() -> None:
    metrics = GatewayMetrics()
    metrics.call("add", "v1", 200, 0.01, 0.009)
    metrics.flush()
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


def test_several_workers_need_their_folder_prepared_first(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="use_directory"):
        GatewayMetrics(MetricsSetup(directory=tmp_path))


def test_the_metrics_token_comes_from_the_environment_and_is_never_shown(
    tmp_path: Path,
) -> None:
    settings = GatewaySettings.from_env({"SHIPYARD_GATEWAY_METRICS_TOKEN": TOKEN})
    assert settings.metrics_token == TOKEN and settings.metrics
    assert TOKEN not in repr(settings)
    assert not GatewaySettings.from_env({"SHIPYARD_GATEWAY_METRICS": "off"}).metrics
    plane = Settings.resolve({}, {"SHIPYARD_HOME": str(tmp_path), "SHIPYARD_METRICS_TOKEN": TOKEN})
    assert plane.metrics_token == TOKEN and TOKEN not in repr(plane)
    assert Settings.from_json(plane.to_json()).metrics_token == TOKEN


def test_a_bearer_token_is_read_from_the_authorization_header() -> None:
    assert bearer_token([(b"Authorization", b"Bearer  abc ")]) == "abc"
    assert bearer_token([(b"authorization", b"bearer abc")]) == "abc"
    assert bearer_token([(b"Authorization", b"AWS4-HMAC-SHA256 Credential=x")]) is None
    assert bearer_token([(b"X-Api-Key", b"Bearer abc")]) is None


async def _serve_and_ask(metrics: GatewayMetrics, token: str,
                         requests: list[tuple[str, str]]) -> list[tuple[int, bytes]]:
    nobody = GatewayGuard(Authenticator(lambda _key: None, lambda _key: None,
                                        services=("execute-api",)))
    endpoint = MetricsEndpoint(metrics, nobody, token)
    _, port = await endpoint.start()
    answers = []
    try:
        for method, headers in requests:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"{method} /metrics HTTP/1.1\r\nHost: gw\r\n{headers}"
                         "Connection: close\r\n\r\n".encode())
            raw = await reader.read()
            writer.close()
            head, _, body = raw.partition(b"\r\n\r\n")
            answers.append((int(head.split()[1]), body))
    finally:
        await endpoint.close()
    return answers


def test_the_endpoint_lets_in_the_token_only() -> None:
    metrics = GatewayMetrics()
    metrics.call("add", "v1", 200, 0.01, 0.009)
    digest = hashlib.sha256(b"").hexdigest()
    signed = ("Authorization: AWS4-HMAC-SHA256 Credential=AKIDUNKNOWN/20240101/us-east-1/"
              "execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=00\r\n"
              f"X-Amz-Date: 20240101T000000Z\r\nX-Amz-Content-Sha256: {digest}\r\n")
    answers = asyncio.run(_serve_and_ask(metrics, TOKEN, [
        ("GET", ""),
        ("GET", "Authorization: Bearer wrong\r\n"),
        ("GET", f"Authorization: Bearer {TOKEN}\r\n"),
        ("HEAD", f"Authorization: Bearer {TOKEN}\r\n"),
        ("POST", f"Authorization: Bearer {TOKEN}\r\n"),
        ("GET", signed),
    ]))
    (none, none_body), (wrong, _), (good, body), (head, head_body), (post, _), (sig, _) = answers
    assert (none, wrong, good, head, post, sig) == (401, 403, 200, 200, 400, 403)
    assert SCRAPE_CREDENTIALS_NEEDED in none_body.decode()
    assert samples(body.decode(), "shipyard_gateway_requests_total")
    assert head_body == b""


def test_without_a_token_set_no_bearer_token_is_let_in() -> None:
    answers = asyncio.run(_serve_and_ask(GatewayMetrics(), "", [
        ("GET", "Authorization: Bearer \r\n"), ("GET", "Authorization: Bearer x\r\n"),
    ]))
    assert [status for status, _ in answers] == [403, 403]
