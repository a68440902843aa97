"""Mappings as the API accepts them, the challenger's copy of a call, and what the
routing table says of both."""

from __future__ import annotations

import asyncio
import random
import socket
from typing import Any

import pytest

from shipyard.contracts.query_record import QueryRecord
from shipyard.contracts.routing_table import RoutingTable, Upstream
from shipyard.domain.generation_refs import main_generation, mapping_of
from shipyard.domain.traffic import parse_mapping
from shipyard.errors import InvalidInput
from shipyard.gateway.challenger import SKIPPED, TIMED_OUT, ChallengerMirror, copy_request
from shipyard.gateway.headers import RequestHeaders
from shipyard.gateway.recording import BodyCopies
from shipyard.gateway.settings import GatewaySettings

BUILT = {"v1": "gen_1", "v2": "gen_2", "v3": "gen_3"}


def test_entries_name_built_generations_and_sum_to_one() -> None:
    body = {"entries": [{"generation": "v1", "proba": 0.5}, {"generation": "v2", "proba": 0.5}]}
    assert parse_mapping(body, BUILT) == [("gen_1", 0.5), ("gen_2", 0.5)]
    thirds = {"entries": [{"generation": f"v{n}", "proba": 1 / 3} for n in (1, 2, 3)]}
    assert [p for _, p in parse_mapping(thirds, BUILT)] == [1 / 3] * 3


def test_integer_weights_are_normalized() -> None:
    assert parse_mapping({"weights": {"v1": 25, "v2": 75}}, BUILT) == [
        ("gen_1", 0.25), ("gen_2", 0.75)
    ]
    assert parse_mapping({"weights": {"v2": 0, "v3": 3}}, BUILT) == [
        ("gen_2", 0.0), ("gen_3", 1.0)
    ]


@pytest.mark.parametrize(("body", "reason"), [
    ([], "a JSON object"),
    ({}, 'exactly one of "entries"'),
    ({"entries": [], "weights": {}}, 'exactly one of "entries"'),
    ({"entries": [], "extra": 1}, "unknown: ['extra']"),
    ({"entries": []}, "non-empty list"),
    ({"entries": [{"generation": "v1"}]}, '"generation" and "proba" only'),
    ({"entries": [{"generation": 1, "proba": 1}]}, "a tag such as v2"),
    ({"entries": [{"generation": "v1", "proba": True}]}, "a number from 0 to 1"),
    ({"entries": [{"generation": "v1", "proba": 1.5}]}, "a number from 0 to 1"),
    ({"entries": [{"generation": "v1", "proba": float("nan")}]}, "a number from 0 to 1"),
    ({"entries": [{"generation": "v1", "proba": 0.6}, {"generation": "v2", "proba": 0.3}]},
     "must sum to 1"),
    ({"entries": [{"generation": "v1", "proba": 0.5}, {"generation": "v1", "proba": 0.5}]},
     "appears twice"),
    ({"entries": [{"generation": "v9", "proba": 1}]}, "'v9' is not a built generation"),
    ({"weights": []}, "non-empty object"),
    ({"weights": {"v1": 1.5}}, "non-negative integer"),
    ({"weights": {"v1": -2, "v2": 4}}, "non-negative integer"),
    ({"weights": {"v1": True}}, "non-negative integer"),
    ({"weights": {"v1": 0, "v2": 0}}, "must not all be 0"),
])
def test_bad_mappings_name_their_problem(body: Any, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason.replace("[", r"\[").replace("]", r"\]")):
        parse_mapping(body, BUILT)


def test_a_sum_within_the_tolerance_is_one() -> None:
    nearly = {"entries": [{"generation": "v1", "proba": 0.1},
                          {"generation": "v2", "proba": 0.9 + 5e-10}]}
    assert len(parse_mapping(nearly, BUILT)) == 2
    with pytest.raises(InvalidInput, match="sum to 1"):
        parse_mapping({"entries": [{"generation": "v1", "proba": 1 - 1e-8}]}, BUILT)


def test_the_main_generation_takes_the_largest_share() -> None:
    assert main_generation([("a", 0.25), ("b", 0.75)]) == "b"
    assert main_generation([("a", 0.5), ("b", 0.5)]) == "b"
    assert main_generation([("a", 0.0)]) is None
    assert mapping_of([{"generation_id": "a", "proba": 1}]) == [("a", 1.0)]
    assert mapping_of(None) == []


def _route(challenger: str | None) -> Any:
    table = RoutingTable.from_dict({"version": 1, "services": {"svc_1": {
        "id": "svc_1", "name": "s", "enabled": True, "deployed": True,
        "mapping": [{"generation": "v1", "proba": 1.0}], "challenger": challenger,
        "collect_prediction_data": True, "association_id_field": "order",
        "instances": {
            "v1": [{"instance_id": "i-1", "host": "127.0.0.1", "port": 1001}],
            "v2": [{"instance_id": "i-2", "host": "127.0.0.1", "port": 1002}],
        },
    }}})
    route = table.lookup("s")
    assert route is not None
    return route


def test_the_routing_table_names_the_challenger_and_what_the_query_log_keeps() -> None:
    route = _route("v2")
    assert (route.challenger, route.collect_prediction_data, route.association_id_field) == (
        "v2", True, "order"
    )
    assert route.challenger_instance("v1").port == 1002
    assert route.challenger_instance("v2") is None  # a call v2 answered is not copied to it
    assert _route("v3").challenger_instance("v1") is None  # not mounted
    assert _route(None).challenger_instance("v1") is None
    # The challenger takes no share of live traffic.
    rng = random.Random(1)
    assert {route.pick_generation(rng) for _ in range(100)} == {"v1"}


def test_the_copy_is_the_same_request_with_a_length_and_no_keep_alive() -> None:
    headers = RequestHeaders([
        (b"Host", b"gw"), (b"Transfer-Encoding", b"chunked"), (b"X-Request-Id", b"r1"),
        (b"Content-Type", b"application/json"),
    ])
    head = headers.head(b"POST", b"/add?x=1", b"127.0.0.1:1002", b"10.0.0.1", False)
    copy = copy_request(head, headers.chunked, b'{"a":1}')
    text = copy.decode()
    assert text.startswith("POST /add?x=1 HTTP/1.1\r\nHost: gw\r\n")
    assert "Transfer-Encoding" not in text
    assert "Content-Length: 7\r\nConnection: close\r\n\r\n" in text
    assert "X-Request-Id: r1\r\n" in text and text.endswith('{"a":1}')

    sized = RequestHeaders([(b"Content-Length", b"2")])
    head = sized.head(b"PUT", b"/x", b"h:1", b"p", False)
    assert copy_request(head, False, b"{}").count(b"Content-Length") == 1


def _record(keep_bodies: bool = False) -> QueryRecord:
    return QueryRecord(
        at=0.0, request_id="r1", service_id="svc_1", generation="v1", method="POST",
        path="/x", status=200, latency_ms=1.0, keep_bodies=keep_bodies,
    )


async def _serve_once(answer: bytes, delay: float = 0.0) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(delay)
            writer.write(answer)
            await writer.drain()
        except OSError:
            pass  # the mirror gave up and hung up first
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_the_mirror_records_the_challengers_status_latency_and_capped_body() -> None:
    async def scenario() -> list[QueryRecord]:
        recorded: list[QueryRecord] = []
        server, port = await _serve_once(
            b"HTTP/1.1 500 Oops\r\nContent-Length: 10\r\n\r\n0123456789"
        )
        mirror = ChallengerMirror(
            asyncio.get_running_loop(), recorded.append, timeout=5, body_cap=4
        )
        request = b"GET / HTTP/1.1\r\n\r\n"
        mirror.send(Upstream("i-2", "127.0.0.1", port), "v2", request, _record(True))
        # Where the query log keeps no bodies, the challenger's is not kept either.
        mirror.send(Upstream("i-2", "127.0.0.1", port), "v2", request, _record(False))
        await mirror.close(5)
        server.close()
        await server.wait_closed()
        return recorded

    record, bodiless = sorted(asyncio.run(scenario()), key=lambda r: not r.keep_bodies)
    assert (record.challenger_generation, record.challenger_status) == ("v2", 500)
    assert record.challenger_body == b"0123"
    assert record.challenger_latency_ms is not None and record.challenger_latency_ms > 0
    assert (bodiless.challenger_status, bodiless.challenger_body) == (500, None)


def test_a_slow_unreachable_or_overloaded_challenger_is_recorded_as_such() -> None:
    async def scenario() -> list[QueryRecord]:
        recorded: list[QueryRecord] = []
        server, port = await _serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0.5)
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
        closed.close()
        mirror = ChallengerMirror(
            asyncio.get_running_loop(), recorded.append, timeout=0.2, body_cap=4,
            max_in_flight=2,
        )
        request = b"GET / HTTP/1.1\r\n\r\n"
        mirror.send(Upstream("slow", "127.0.0.1", port), "v2", request, _record())
        mirror.send(Upstream("dead", "127.0.0.1", dead_port), "v2", request, _record())
        mirror.send(Upstream("slow", "127.0.0.1", port), "v2", request, _record())  # over
        mirror.send(Upstream("slow", "127.0.0.1", port), "v2", None, _record())  # too large
        await mirror.close(5)
        await asyncio.sleep(0.6)  # the slow handler ends and closes its side
        server.close()
        await server.wait_closed()
        return recorded

    statuses = sorted(record.challenger_status or 0 for record in asyncio.run(scenario()))
    assert statuses == sorted([TIMED_OUT, 502, SKIPPED, SKIPPED])


def test_bodies_are_cut_at_their_caps_and_only_whole_requests_are_copied() -> None:
    copies = BodyCopies(request_cap=5, answer_cap=3)
    copies.request_chunk(b"abc")
    copies.request_chunk(b"de")
    assert (bytes(copies.request or b""), copies.request_cut) == (b"abcde", False)
    copies.request_chunk(b"f")
    assert (bytes(copies.request or b""), copies.request_cut) == (b"abcde", True)
    copies.answer_chunk(b"12")
    copies.answer_chunk(b"345")
    assert bytes(copies.answer or b"") == b"123"

    settings = GatewaySettings(query_body_bytes=4, challenger_body_bytes=8)
    assert BodyCopies.for_route(_route(None), settings) is not None  # collects data
    plain = RoutingTable.from_dict({"version": 1, "services": {"svc_2": {
        "id": "svc_2", "name": "p", "enabled": True, "deployed": True, "mapping": [],
    }}}).lookup("p")
    assert plain is not None and BodyCopies.for_route(plain, settings) is None
    with_challenger = BodyCopies.for_route(_route("v2"), settings)
    assert with_challenger is not None and with_challenger.request_cap == 8

    # The challenger gets a whole body within its own cap, even where the copy kept for
    # the query log may be longer.
    logged = BodyCopies(request_cap=16, answer_cap=0)
    logged.request_chunk(b"0123456789")
    assert logged.request_for_challenger(10, cap=16) == b"0123456789"
    assert logged.request_for_challenger(10, cap=8) is None
    assert copies.request_for_challenger(6, cap=16) is None  # cut at its copy's cap
