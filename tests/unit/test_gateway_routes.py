"""The gateway's routing decisions, without any process: the routing table (parsing,
lookup, picking), the request target (traversal), headers and dispatch errors."""

from __future__ import annotations

import json
import math
import os
import random
import re
from pathlib import Path
from typing import Any

import pytest

from shipyard.contracts.routing_table import ServiceRoute
from shipyard.errors import InvalidInput, NotFound, Unavailable
from shipyard.gateway import (
    GatewaySettings,
    RoutingTable,
    RoutingTableError,
    Upstream,
    write_routing_table,
)
from shipyard.gateway.deadlines import Deadlines
from shipyard.gateway.dispatch import Destination, dispatch
from shipyard.gateway.headers import RequestHeaders, ResponseHeaders, request_id_of
from shipyard.gateway.targets import origin_form, split_invoke

API = ("127.0.0.1", 9)


def service(
    sid: str = "svc_0123abcd",
    name: str = "add-numbers",
    mapping: list[tuple[str, float]] | None = None,
    instances: dict[str, list[int]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    mapping = [("v2", 1.0)] if mapping is None else mapping
    instances = {"v2": [41234]} if instances is None else instances
    return {
        "id": sid, "name": name, "enabled": True, "deployed": True, "state": "running",
        "message": "",
        "mapping": [{"generation": gen, "proba": proba} for gen, proba in mapping],
        "instances": {
            gen: [{"instance_id": f"i-{gen}-{port}", "host": "127.0.0.1", "port": port}
                  for port in ports]
            for gen, ports in instances.items()
        },
        **fields,
    }


def table_of(*services: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "services": {s["id"]: s for s in services}}


# -- the table ------------------------------------------------------------------------


def test_the_table_the_supervisor_writes_is_the_table_the_gateway_reads(tmp_path) -> None:
    """The contract both sides hold: a ``RoutingTable`` written and loaded back is equal
    to itself, every field included."""
    written = RoutingTable.from_dict(table_of(
        service(mapping=[("v1", 0.25), ("v2", 0.75)], instances={"v1": [1], "v2": [2, 3]},
                access_level="instance", project_id="prj_1", challenger="v3",
                collect_prediction_data=True, association_id_field="order"),
        service(sid="svc_2", name="other"),
    ))
    path = tmp_path / "routes.json"
    write_routing_table(path, written)
    assert RoutingTable.load(path) == written
    assert RoutingTable.load(path).to_dict() == written.to_dict()
    numbered = RoutingTable(written.services, serial=7)
    write_routing_table(path, numbered)
    assert RoutingTable.load(path).serial == 7
    assert numbered == written  # the serial numbers a table; it is not part of what it says



def test_parses_the_published_shape_and_looks_up_by_id_or_name() -> None:
    table = RoutingTable.from_dict(table_of(service()))
    route = table.lookup("svc_0123abcd")
    assert route is not None
    assert table.lookup("add-numbers") is route
    assert table.lookup("nope") is None
    assert route.name == "add-numbers"
    assert route.enabled and route.deployed and route.live
    assert route.mapping == (("v2", 1.0),)
    assert route.instances["v2"] == (Upstream("i-v2-41234", "127.0.0.1", 41234),)
    assert table.addresses() == {("127.0.0.1", 41234)}


def test_an_empty_table_routes_nothing() -> None:
    assert RoutingTable().lookup("anything") is None
    assert RoutingTable.from_dict({"version": 1, "services": {}}).services == {}


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"services": {}},
        {"version": 2, "services": {}},
        {"version": 1, "services": []},
        {"version": 1, "services": {"s": "not an object"}},
        table_of(service(instances={"v2": [0]})),
        table_of(service(instances={"v2": [70000]})),
        {"version": 1, "services": {"s": {**service(), "mapping": [{"generation": "v2"}]}}},
        {"version": 1, "services": {"s": {**service(), "mapping": [
            {"generation": "v2", "proba": -1}]}}},
        {"version": 1, "services": {"s": {**service(), "instances": {"v2": [{"port": 1}]}}}},
        {"version": 1, "services": {"s": {**service(), "name": 5}}},
        {"version": 1, "serial": -1, "services": {}},
        {"version": 1, "serial": "3", "services": {}},
        {"version": 1, "serial": True, "services": {}},
    ],
)
def test_malformed_tables_are_refused(data: Any) -> None:
    with pytest.raises(RoutingTableError):
        RoutingTable.from_dict(data)


def test_load_reports_unreadable_and_non_json_files(tmp_path: Path) -> None:
    with pytest.raises(RoutingTableError, match="cannot read"):
        RoutingTable.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": 1, "servi')
    with pytest.raises(RoutingTableError, match="not JSON"):
        RoutingTable.load(broken)


def test_write_is_atomic_checked_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "run" / "routes.json"
    write_routing_table(path, table_of(service()))
    first_inode = os.stat(path).st_ino
    assert RoutingTable.load(path).lookup("add-numbers") is not None
    write_routing_table(path, table_of(service(name="renamed")))
    assert os.stat(path).st_ino != first_inode  # replaced, never rewritten in place
    assert RoutingTable.load(path).lookup("renamed") is not None
    with pytest.raises(RoutingTableError):
        write_routing_table(path, {"version": 1, "services": {"s": {"instances": 3}}})
    assert RoutingTable.load(path).lookup("renamed") is not None
    assert [p.name for p in path.parent.iterdir()] == ["routes.json"]
    assert json.loads(path.read_text())["version"] == 1


# -- picking --------------------------------------------------------------------------


def test_pick_follows_the_mapping_within_a_binomial_bound() -> None:
    table = RoutingTable.from_dict(table_of(service(
        mapping=[("v1", 0.3), ("v2", 0.7)], instances={"v1": [1001], "v2": [1002]},
    )))
    route = table.lookup("add-numbers")
    assert route is not None
    rng = random.Random(20240601)
    draws = 20_000
    picked = [table.pick(route, rng) for _ in range(draws)]
    v1 = sum(1 for gen, _ in picked if gen == "v1")
    expected, sigma = draws * 0.3, math.sqrt(draws * 0.3 * 0.7)
    assert abs(v1 - expected) < 4 * sigma
    assert {up.port for gen, up in picked if gen == "v1"} == {1001}


def test_pick_skips_generations_without_instances_and_renormalizes() -> None:
    table = RoutingTable.from_dict(table_of(service(
        mapping=[("v1", 0.9), ("v2", 0.1)], instances={"v1": [], "v2": [1002]},
    )))
    route = table.lookup("add-numbers")
    assert route is not None
    rng = random.Random(1)
    assert {table.pick(route, rng)[0] for _ in range(200)} == {"v2"}  # type: ignore[index]


def test_pick_gives_none_when_no_mapped_generation_has_an_instance() -> None:
    table = RoutingTable.from_dict(table_of(service(
        mapping=[("v2", 1.0)], instances={"v1": [1001]},
    )))
    route = table.lookup("add-numbers")
    assert route is not None
    assert not route.live
    assert table.pick(route, random.Random(1)) is None
    # An explicit target still reaches a mounted generation outside the mapping.
    assert table.pick(route, random.Random(1), "v1") == (
        "v1", Upstream("i-v1-1001", "127.0.0.1", 1001))
    assert table.pick(route, random.Random(1), "v9") is None


def test_instances_of_a_generation_take_turns() -> None:
    table = RoutingTable.from_dict(table_of(service(instances={"v2": [1, 2, 3]})))
    route = table.lookup("add-numbers")
    assert route is not None
    rng = random.Random(1)
    ports = [table.pick(route, rng)[1].port for _ in range(6)]  # type: ignore[index]
    assert ports == [1, 2, 3, 1, 2, 3]


# -- request targets ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "ref", "path"),
    [
        (b"/user-services/invoke/add-numbers/add-numbers?x=1", "add-numbers",
         b"/add-numbers?x=1"),
        (b"/user-services/invoke/svc_0123abcd", "svc_0123abcd", b"/"),
        (b"/user-services/invoke/svc_0123abcd?x=1", "svc_0123abcd", b"/?x=1"),
        (b"/user-services/invoke/a/b%2Fc/d%20e?q=%2F", "a", b"/b%2Fc/d%20e?q=%2F"),
        (b"/user-services/invoke/a/file.json", "a", b"/file.json"),
        (b"/user-services/invoke/a/...", "a", b"/..."),
        (b"/user-services/invoke/a/x?next=../../etc", "a", b"/x?next=../../etc"),
        (b"/user-services/invoke/%61dd/x", "add", b"/x"),
    ],
)
def test_invocation_targets_split_into_service_and_raw_path(
    target: bytes, ref: str, path: bytes
) -> None:
    invoke = split_invoke(target)
    assert invoke is not None
    assert (invoke.ref, invoke.path) == (ref, path)


@pytest.mark.parametrize(
    "target",
    [
        b"/user-services/invoke/A/../B/x",
        b"/user-services/invoke/A/./x",
        b"/user-services/invoke/../invoke/B/x",
        b"/user-services/invoke/A/%2e%2e/B/x",
        b"/user-services/invoke/A/%2E%2e/B/x",
        b"/user-services/invoke/A/.%2E/B/x",
        b"/user-services/invoke/A%2F..%2FB/x",
        b"/user-services/invoke/A/..%2FB/x",
        b"/user-services/invoke/A/..%5CB/x",
        b"/user-services/invoke/A/..\\B/x",
        b"/user-services/invoke/A/..;/B/x",
        b"/user-services/invoke/%2e%2e/B/x",
        b"/user-services/./invoke/B/x",
        b"/user-services/../api/v1/services",
        b"/user-services/invoke/A%2FB/x",
    ],
)
def test_dot_segments_and_encoded_separators_are_refused(target: bytes) -> None:
    with pytest.raises(InvalidInput):
        split_invoke(target)


@pytest.mark.parametrize(
    "target",
    [b"/user-services/invoke/", b"/user-services/invoke//x", b"/user-services/other/x",
     b"/user-services/invoke"],
)
def test_incomplete_invocation_paths_are_not_found(target: bytes) -> None:
    with pytest.raises(NotFound):
        split_invoke(target)


@pytest.mark.parametrize("target", [b"/api/v1/services", b"/healthz", b"/", b"/user-servicesX"])
def test_other_paths_are_not_invocations(target: bytes) -> None:
    assert split_invoke(target) is None


def test_absolute_targets_lose_their_authority() -> None:
    assert origin_form(b"http://evil.example:81/user-services/invoke/a/x?q=1") == (
        b"/user-services/invoke/a/x?q=1")
    assert origin_form(b"http://evil.example") == b"/"
    assert origin_form(b"http://evil.example?x=1") == b"/?x=1"
    for bad in (b"evil.example:443", b"*"):
        with pytest.raises(InvalidInput):
            origin_form(bad)


# -- headers --------------------------------------------------------------------------


def test_request_ids_are_kept_when_sane_and_made_otherwise() -> None:
    assert request_id_of(b"abc-123_x.y:z") == b"abc-123_x.y:z"
    assert request_id_of(b"a" * 128) == b"a" * 128
    for bad in (None, b"", b"a" * 129, b"has space", b"new\nline", b"-leading"):
        made = request_id_of(bad)
        assert re.fullmatch(rb"[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}", made), made
    assert request_id_of(None) != request_id_of(None)


def test_hop_by_hop_request_headers_are_dropped_and_forwarded_ones_set() -> None:
    headers = RequestHeaders([
        (b"Host", b"gateway:8080"), (b"Connection", b"keep-alive, X-Hop"),
        (b"X-Hop", b"1"), (b"Keep-Alive", b"timeout=5"), (b"Proxy-Authorization", b"p"),
        (b"TE", b"trailers"), (b"Trailer", b"X"), (b"Upgrade", b"h2c"),
        (b"X-Forwarded-For", b"6.6.6.6"), (b"Authorization", b"Bearer t"),
        (b"Content-Length", b"2"), (b"X-Request-Id", b"rid-1"),
    ])
    head = b"".join(headers.head(b"POST", b"/x", b"127.0.0.1:1", b"10.0.0.1", False))
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /x HTTP/1.1"
    names = {line.split(b":")[0].lower() for line in lines[1:] if line}
    assert names == {b"host", b"authorization", b"content-length", b"x-request-id",
                     b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}
    assert b"X-Forwarded-For: 10.0.0.1\r\n" in head  # a caller's claim is not trusted
    assert b"X-Forwarded-Host: gateway:8080\r\n" in head
    assert b"X-Request-Id: rid-1\r\n" in head
    assert head.endswith(b"\r\n\r\n")
    trusted = b"".join(headers.head(b"GET", b"/", b"h", b"10.0.0.1", True))
    assert b"X-Forwarded-For: 6.6.6.6, 10.0.0.1\r\n" in trusted


def test_a_batch_jobs_header_reaches_the_instance() -> None:
    # The exchange refuses the call unless its key is that job's; the instance's runtime
    # then scores it after live calls (shipyard_sdk.runtime.batch_yield).
    headers = RequestHeaders([(b"Host", b"h"), (b"X-Shipyard-Batch-Job", b"bj_1")])
    assert headers.batch_job == "bj_1"
    head = b"".join(headers.head(b"POST", b"/p", b"h", b"10.0.0.1", False))
    assert b"X-Shipyard-Batch-Job: bj_1\r\n" in head


def test_association_headers_come_from_the_route_never_from_the_caller() -> None:
    route = ServiceRoute(
        id="svc_1", name="iris", enabled=True, deployed=True, state="running", message="",
        mapping=(), instances={}, association_columns=("order_id", "customer"),
        association_required=True)
    assert route.instance_headers == (b"X-Forwarded-Prefix: /user-services/invoke/iris\r\n"
                                      b"X-Shipyard-Association-Columns: order_id,customer\r\n"
                                      b"X-Shipyard-Association-Required: true\r\n")
    assert ServiceRoute.from_dict("svc_1", route.to_dict()) == route
    headers = RequestHeaders([(b"Host", b"h"), (b"X-Shipyard-Association-Columns", b"x"),
                              (b"x-shipyard-association-required", b"true")])
    plain = b"".join(headers.head(b"POST", b"/p", b"h", b"10.0.0.1", False))
    assert b"association" not in plain.lower()
    added = b"".join(headers.head(b"POST", b"/p", b"h", b"10.0.0.1", False,
                                  route.instance_headers))
    assert added.count(b"X-Shipyard-Association") == 2 and added.endswith(b"\r\n\r\n")
    optional = ServiceRoute.from_dict("svc_1", {**route.to_dict(), "association_required": False})
    assert optional.instance_headers == (b"X-Forwarded-Prefix: /user-services/invoke/iris\r\n"
                                         b"X-Shipyard-Association-Columns: order_id,customer\r\n")


def test_the_route_says_where_the_service_is_mounted_and_a_caller_cannot() -> None:
    route = ServiceRoute(
        id="svc_1", name="iris", enabled=True, deployed=True, state="running", message="",
        mapping=(), instances={})
    headers = RequestHeaders([(b"Host", b"h"), (b"X-Forwarded-Prefix", b"/elsewhere")])
    head = b"".join(headers.head(b"GET", b"/p", b"h", b"10.0.0.1", False,
                                 route.instance_headers))
    assert b"/elsewhere" not in head
    assert head.count(b"X-Forwarded-Prefix: /user-services/invoke/iris\r\n") == 1
    trusted = b"".join(headers.head(b"GET", b"/p", b"h", b"10.0.0.1", True,
                                    route.instance_headers))
    assert b"/elsewhere" not in trusted and b"X-Forwarded-Host: h\r\n" in trusted


def test_a_sandboxed_page_is_told_apart_and_may_read_what_the_gateway_allows() -> None:
    """Service pages run sandboxed, in an opaque origin: their fetches are cross-origin
    (the exchange allows the read for a public service's GET and HEAD only)."""
    assert RequestHeaders([(b"Host", b"gw"), (b"Origin", b"null")]).null_origin
    assert not RequestHeaders([(b"Host", b"gw"), (b"Origin", b"http://gw")]).null_origin
    assert not RequestHeaders([(b"Host", b"gw")]).null_origin
    answer = ResponseHeaders([(b"Content-Type", b"application/json")])
    head = answer.head(200, b"OK", False, False, True, "v1", b"rid", served_page=True)
    assert b"Access-Control-Allow-Origin: null\r\n" in head
    assert b"Access-Control-Allow-Credentials" not in head
    assert b"Content-Security-Policy: sandbox" in head
    assert b"Access-Control" not in answer.head(200, b"OK", False, False, True, "v1", b"rid")
    control_plane = answer.head(200, b"OK", False, False, True, None, b"rid", served_page=True)
    assert b"Access-Control-Allow-Origin" not in control_plane
    own = ResponseHeaders([(b"Access-Control-Allow-Origin", b"*")])
    head = own.head(200, b"OK", False, False, True, "v1", b"rid", served_page=True)
    assert head.count(b"Access-Control-Allow-Origin") == 1  # the service's own


@pytest.mark.parametrize(
    "headers",
    [
        [(b"Transfer-Encoding", b"chunked"), (b"Content-Length", b"3")],
        [(b"Content-Length", b"3"), (b"Content-Length", b"4")],
        [(b"Content-Length", b"-1")],
        [(b"Transfer-Encoding", b"gzip, chunked")],
        [(b"Host", b"a.example"), (b"Host", b"b.example")],
    ],
)
def test_ambiguous_request_framing_is_refused(headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(InvalidInput):
        RequestHeaders(headers)


def test_hop_by_hop_response_headers_are_dropped() -> None:
    headers = ResponseHeaders([
        (b"Content-Type", b"text/plain"), (b"Connection", b"close, X-Up-Hop"),
        (b"X-Up-Hop", b"1"), (b"Keep-Alive", b"timeout=5"), (b"Transfer-Encoding", b"chunked"),
        (b"Proxy-Authenticate", b"Basic"), (b"Upgrade", b"h2c"), (b"Trailer", b"X"),
        (b"X-Shipyard-Generation", b"forged"), (b"Content-Length", b"5"),
    ])
    assert headers.kept == [(b"Content-Type", b"text/plain")]
    assert headers.chunked
    assert headers.content_length == b"5"


@pytest.mark.parametrize(
    ("value", "count"),
    [(b"50", 50), (b" 7 ", 7), (b"0", 0), (b"-1", None), (b"many", None), (b"1e3", None),
     (b"99999999999999999", None)],
)
def test_an_answer_says_how_many_rows_it_scored(value: bytes, count: int | None) -> None:
    headers = ResponseHeaders([(b"X-Shipyard-Predictions", value)])
    assert headers.predictions == count
    assert headers.kept == [(b"X-Shipyard-Predictions", value)]


# -- dispatch -------------------------------------------------------------------------


def _dispatch(
    table: dict[str, Any], target: bytes, generation: bytes | None = None
) -> Destination:
    raw = [(b"X-Shipyard-Target-Generation", generation)] if generation else []
    return dispatch(RoutingTable.from_dict(table), target, RequestHeaders(raw),
                    random.Random(1), GatewaySettings(), API)


def test_dispatch_to_an_instance_or_to_the_api() -> None:
    table = table_of(service(mapping=[("v2", 1.0)], instances={"v1": [1001], "v2": [1002]}))
    to_instance = _dispatch(table, b"/user-services/invoke/add-numbers/add?x=1")
    assert (to_instance.address, to_instance.path) == (("127.0.0.1", 1002), b"/add?x=1")
    assert (to_instance.service, to_instance.generation) == ("add-numbers", "v2")
    assert to_instance.body_limit == GatewaySettings().max_body_bytes
    pinned = _dispatch(table, b"/user-services/invoke/svc_0123abcd/add", b"v1")
    assert (pinned.address, pinned.generation) == (("127.0.0.1", 1001), "v1")
    to_api = _dispatch(table, b"http://elsewhere:81/api/v1/services?x=1")
    assert (to_api.address, to_api.path, to_api.service) == (API, b"/api/v1/services?x=1", None)
    assert to_api.body_limit is None


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"enabled": False}, Unavailable, "service 'add-numbers' is disabled"),
        ({"deployed": False}, Unavailable, "service 'add-numbers' is not deployed"),
        ({"instances": {}, "state": "starting", "message": "building v2"}, Unavailable,
         "service 'add-numbers' has no running instance (state starting: building v2)"),
    ],
)
def test_dispatch_explains_why_a_service_cannot_answer(
    fields: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        _dispatch(table_of({**service(), **fields}), b"/user-services/invoke/add-numbers/x")
    assert str(caught.value) == message


def test_dispatch_unknown_service_or_generation_is_not_found() -> None:
    with pytest.raises(NotFound, match="'nope' does not exist"):
        _dispatch(table_of(service()), b"/user-services/invoke/nope/x")
    with pytest.raises(NotFound, match="generation 'v7' of service 'add-numbers'"):
        _dispatch(table_of(service()), b"/user-services/invoke/add-numbers/x", b"v7")


# -- timeouts -------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def time(self) -> float:
        return self.now


def test_deadlines_fire_once_unless_cleared_or_replaced() -> None:
    clock = _Clock()
    deadlines = Deadlines(clock)  # type: ignore[arg-type]
    fired: list[str] = []
    first, second, third = object(), object(), object()
    deadlines.set(first, 1.0, lambda: fired.append("first"))
    deadlines.set(second, 1.0, lambda: fired.append("second"))
    deadlines.set(third, 1.0, lambda: fired.append("third"))
    deadlines.clear(second)
    deadlines.set(third, 5.0, lambda: fired.append("third later"))
    deadlines.fire(100.5)
    assert fired == []
    deadlines.fire(101.0)
    assert fired == ["first"]
    assert first not in deadlines and third in deadlines
    deadlines.fire(105.0)
    deadlines.fire(200.0)
    assert fired == ["first", "third later"]


# -- settings -------------------------------------------------------------------------


def test_settings_come_from_the_environment_passed_in() -> None:
    settings = GatewaySettings.from_env({
        "SHIPYARD_GATEWAY_MAX_BODY_BYTES": "1024", "SHIPYARD_GATEWAY_UPSTREAM_TIMEOUT": "2.5",
        "SHIPYARD_GATEWAY_ACCESS_LOG": "off", "OTHER": "x",
    })
    assert settings.max_body_bytes == 1024
    assert settings.upstream_timeout == 2.5
    assert settings.access_log is False
    assert GatewaySettings.from_env({}) == GatewaySettings()
    with pytest.raises(InvalidInput, match="max_body_bytes"):
        GatewaySettings.from_env({"SHIPYARD_GATEWAY_MAX_BODY_BYTES": "lots"})
    with pytest.raises(InvalidInput):
        GatewaySettings(upstream_timeout=-1)


def test_the_rows_an_instance_flagged_are_read_from_its_answer_and_passed_on() -> None:
    answer = ResponseHeaders([(b"X-Shipyard-Predictions", b"5"),
                              (b"X-Shipyard-Prediction-Warnings", b"2"),
                              (b"X-Shipyard-Prediction-Warning", b"row 1: ...; row 4: ...")])
    assert (answer.predictions, answer.warnings) == (5, 2)
    assert len(answer.kept) == 3  # the caller sees why, too
    assert ResponseHeaders([(b"X-Shipyard-Prediction-Warnings", b"-1")]).warnings is None
    route = ServiceRoute(
        id="svc_1", name="iris", enabled=True, deployed=True, state="running", message="",
        mapping=(), instances={}, warning_boundaries="margin=0.1;min_confidence=0.5;inputs=1")
    assert route.instance_headers == (
        b"X-Forwarded-Prefix: /user-services/invoke/iris\r\n"
        b"X-Shipyard-Warning-Boundaries: margin=0.1;min_confidence=0.5;inputs=1\r\n")
    assert ServiceRoute.from_dict("svc_1", route.to_dict()) == route
    sneaky = RequestHeaders([(b"Host", b"h"), (b"X-Shipyard-Warning-Boundaries", b"lower=0")])
    assert b"boundaries" not in b"".join(sneaky.head(b"GET", b"/", b"h", b"p", False)).lower()
