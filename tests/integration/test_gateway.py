"""The gateway as a real process (``python -m shipyard.gateway``) in front of real HTTP
servers on loopback: service instances and a fake API upstream, which the tests run in
threads and which record every request they receive."""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO

import psutil
import pytest
import requests

from shipyard.gateway import write_routing_table

pytestmark = pytest.mark.slow

LIMIT = 1024 * 1024
UPSTREAM_TIMEOUT = 2
SETTINGS_ENV = {
    "SHIPYARD_GATEWAY_MAX_BODY_BYTES": str(LIMIT),
    "SHIPYARD_GATEWAY_UPSTREAM_TIMEOUT": str(UPSTREAM_TIMEOUT),
    "SHIPYARD_GATEWAY_CONNECT_TIMEOUT": "2",
    "SHIPYARD_GATEWAY_GRACE_PERIOD": "10",
    "SHIPYARD_GATEWAY_RELOAD_INTERVAL": "0.02",
}
WAIT = 15.0


# -- upstreams the tests control --------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    client_port: int

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class Handler(BaseHTTPRequestHandler):
    """Answers by what the path contains: ``block`` waits for the test, ``stream`` sends
    lines one by one, ``hop`` answers with hop-by-hop headers, ``close-after`` closes the
    connection after answering (without saying so); anything else echoes the request."""

    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # an answer leaves in one write, as instances send it
    server: FakeServer

    def do_any(self) -> None:
        body = self._read_body()
        seen = Seen(self.command, self.path, list(self.headers.items()), body,
                    self.client_address[1])
        self.server.seen.append(seen)
        if "block" in self.path:
            self.server.release.wait(WAIT)
        if "stream" in self.path:
            self._stream()
            return
        extra: list[tuple[str, str]] = []
        if "hugehead" in self.path:
            extra = [(f"X-Filler-{n}", "f" * 1000) for n in range(70)]
        if "hop" in self.path:
            extra = [("Connection", "X-Up-Hop"), ("X-Up-Hop", "1"), ("Keep-Alive", "timeout=5"),
                     ("Proxy-Authenticate", "Basic"), ("Upgrade", "h2c"), ("Trailer", "X-T")]
        payload = json.dumps({
            "instance": self.server.name, "method": seen.method, "path": seen.path,
            "body": body.decode("latin-1"),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Instance", self.server.name)
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        if "close-after" in self.path:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_any

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                line = self.rfile.readline()
                if not line:  # the gateway gave up the call mid-body (its client left)
                    raise ConnectionAbortedError("the body ended before its last chunk")
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for number in (1, 2, 3):
            line = f"line {number}\n".encode()
            self.wfile.write(b"%x\r\n%b\r\n" % (len(line), line))
            self.wfile.flush()
            if number == 1:
                self.server.release.wait(WAIT)
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.name = name
        self.seen: list[Seen] = []
        self.release = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def reset(self) -> None:
        self.seen.clear()
        self.release.clear()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A gateway that stops resets (or closes) its pooled connections: not an error
        here."""
        if not isinstance(sys.exc_info()[1], ConnectionError):  # reset, broken pipe
            super().handle_error(request, client_address)

    def stop(self) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, FakeServer]]:
    started = {name: FakeServer(name) for name in ("a", "b", "c", "api")}
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
def a(servers: dict[str, FakeServer]) -> FakeServer:
    return servers["a"]


@pytest.fixture
def b(servers: dict[str, FakeServer]) -> FakeServer:
    return servers["b"]


@pytest.fixture
def c(servers: dict[str, FakeServer]) -> FakeServer:
    return servers["c"]


@pytest.fixture
def api(servers: dict[str, FakeServer]) -> FakeServer:
    return servers["api"]


@pytest.fixture(autouse=True)
def _fresh_servers(servers: dict[str, FakeServer]) -> Iterator[None]:
    for server in servers.values():
        server.reset()
    yield
    for server in servers.values():
        server.release.set()


# -- the gateway ------------------------------------------------------------------------


def service(name: str, instances: dict[str, list[FakeServer]], **fields: Any) -> dict[str, Any]:
    mapping = fields.pop("mapping", [{"generation": gen, "proba": 1.0 / len(instances)}
                                     for gen in instances])
    return {
        "id": fields.pop("id", f"svc_{name.replace('-', '')}"), "name": name,
        "enabled": True, "deployed": True, "state": "running", "message": "",
        # The data path is what these tests check; who may call is test_gateway_auth's.
        "access_level": "public",
        "mapping": mapping,
        "instances": {
            gen: [{"instance_id": f"{s.name}-{gen}", "host": "127.0.0.1", "port": s.port}
                  for s in listed]
            for gen, listed in instances.items()
        },
        **fields,
    }


_probes = itertools.count()


@dataclass
class RunningGateway:
    port: int
    process: subprocess.Popen[bytes]
    routes: Path
    log: Path
    api_port: int
    services: list[dict[str, Any]] = field(default_factory=list)
    other_addresses: list[tuple[str, int]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def publish(self, *services: dict[str, Any]) -> None:
        """Publish a routing table and wait until the gateway serves it."""
        probe = f"probe-{next(_probes)}"
        entries = [*services, service(probe, {}, enabled=False)]
        write_routing_table(self.routes, {"version": 1, "services": {
            entry["id"]: entry for entry in entries}})
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if call(self, "GET", f"/user-services/invoke/{probe}/")[0] == 503:
                return
            time.sleep(0.02)
        raise AssertionError("the gateway did not load the routing table")

    def wait_for_log(self, pattern: str) -> str:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if re.search(pattern, text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} never appeared in the gateway log:\n{text}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def start_gateway(
    home: Path, api_port: int, workers: int = 1, other_hosts: tuple[str, ...] = (),
    demand: Path | None = None, **settings: str,
) -> RunningGateway:
    """The gateway on a port of 127.0.0.1, and on one of each of ``other_hosts``."""
    home.mkdir(parents=True, exist_ok=True)
    routes = home / "routes.json"
    write_routing_table(routes, {"version": 1, "services": {}})
    log = home / "gateway.log"
    listeners = [socket.create_server((host, 0)) for host in ("127.0.0.1", *other_hosts)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    with contextlib.ExitStack() as stack, log.open("wb") as sink:
        for listener in listeners:
            stack.enter_context(listener)
        process = subprocess.Popen(
            [sys.executable, "-m", "shipyard.gateway",
             *(f"--fd={listener.fileno()}" for listener in listeners),
             "--routes", str(routes), "--api-upstream", f"127.0.0.1:{api_port}",
             "--workers", str(workers),
             *(("--demand", str(demand)) if demand is not None else ())],
            pass_fds=tuple(listener.fileno() for listener in listeners),
            env={**env, **SETTINGS_ENV,
                 **{f"SHIPYARD_GATEWAY_{k.upper()}": v for k, v in settings.items()}},
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )
        addresses = [listener.getsockname()[:2] for listener in listeners]
    return RunningGateway(addresses[0][1], process, routes, log, api_port,
                          other_addresses=addresses[1:])


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, servers: dict[str, FakeServer]
) -> Iterator[RunningGateway]:
    running = start_gateway(tmp_path_factory.mktemp("gateway"), servers["api"].port)
    yield running
    assert running.stop() == 0, running.log.read_text()


# -- talking to it ------------------------------------------------------------------------


def call(
    gateway: RunningGateway, method: str, path: str, body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: status, headers (lower-case names), body."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=WAIT)
    try:
        connection.request(method, path, body=body, headers=headers or {},
                           encode_chunked=body is not None and not isinstance(body, bytes))
        response = connection.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                response.read())
    finally:
        connection.close()


def error_of(body: bytes) -> tuple[str, str]:
    detail = json.loads(body)["error"]
    return detail["type"], detail["message"]


def read_response(reader: BinaryIO) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 answer from a raw socket's reader (Content-Length or chunked)."""
    status_line = reader.readline()
    assert status_line.startswith(b"HTTP/1."), status_line
    headers: dict[str, str] = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while size := int(reader.readline().split(b";")[0], 16):
            body += reader.read(size)
            reader.readline()
        reader.readline()
    else:
        body = reader.read(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


@contextlib.contextmanager
def raw(gateway: RunningGateway) -> Iterator[tuple[socket.socket, BinaryIO]]:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=WAIT) as conn, \
            conn.makefile("rb") as reader:
        yield conn, reader


def raw_request(gateway: RunningGateway, data: bytes) -> tuple[int, dict[str, str], bytes]:
    with raw(gateway) as (conn, reader):
        conn.sendall(data)
        return read_response(reader)


# -- forwarding -------------------------------------------------------------------------


def test_forwards_method_path_query_headers_and_body(
    gateway: RunningGateway, a: FakeServer
) -> None:
    gateway.publish(service("add-numbers", {"v2": [a]}, id="svc_0123abcd"))
    status, headers, body = call(
        gateway, "POST", "/user-services/invoke/add-numbers/add-numbers?x=1",
        body=b'{"num1": 2, "num2": 5}',
        headers={"Content-Type": "application/json", "X-Custom": "kept"},
    )
    assert status == 200
    assert headers["x-shipyard-generation"] == "v2"
    seen = a.seen[-1]
    assert (seen.method, seen.path, seen.body) == (
        "POST", "/add-numbers?x=1", b'{"num1": 2, "num2": 5}')
    assert seen.header("X-Custom") == "kept"
    assert seen.header("Content-Type") == "application/json"
    assert seen.header("X-Request-Id") == headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])
    assert seen.header("X-Forwarded-For") == "127.0.0.1"
    assert seen.header("X-Forwarded-Proto") == "http"
    assert seen.header("X-Forwarded-Host") == f"127.0.0.1:{gateway.port}"
    assert json.loads(body)["instance"] == "a"
    # By id as well as by name.
    assert call(gateway, "GET", "/user-services/invoke/svc_0123abcd/x")[0] == 200
    assert a.seen[-1].path == "/x"


def test_raw_path_bytes_are_kept(gateway: RunningGateway, a: FakeServer) -> None:
    gateway.publish(service("raw", {"v1": [a]}))
    assert call(gateway, "GET", "/user-services/invoke/raw/files/a%2Fb%20c?q=%2F&r=1")[0] == 200
    assert a.seen[-1].path == "/files/a%2Fb%20c?q=%2F&r=1"
    assert call(gateway, "GET", "/user-services/invoke/raw")[0] == 200
    assert a.seen[-1].path == "/"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
def test_every_method_is_forwarded(gateway: RunningGateway, a: FakeServer, method: str) -> None:
    gateway.publish(service("methods", {"v1": [a]}))
    status, headers, body = call(gateway, method, "/user-services/invoke/methods/m")
    assert status == 200
    assert a.seen[-1].method == method
    if method == "HEAD":
        assert body == b""
        assert int(headers["content-length"]) > 0
    else:
        assert json.loads(body)["method"] == method


def test_request_id_is_kept_when_sane_and_replaced_otherwise(
    gateway: RunningGateway, a: FakeServer
) -> None:
    gateway.publish(service("ids", {"v1": [a]}))
    _, headers, _ = call(gateway, "GET", "/user-services/invoke/ids/",
                         headers={"X-Request-Id": "caller-42"})
    assert headers["x-request-id"] == "caller-42" == a.seen[-1].header("X-Request-Id")
    for bad in ("x" * 129, "two words", "<script>"):
        _, headers, _ = call(gateway, "GET", "/user-services/invoke/ids/",
                             headers={"X-Request-Id": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])
        assert a.seen[-1].header("X-Request-Id") == headers["x-request-id"]


def test_hop_by_hop_headers_are_stripped_both_ways(
    gateway: RunningGateway, a: FakeServer
) -> None:
    gateway.publish(service("hops", {"v1": [a]}))
    status, headers, _ = call(gateway, "GET", "/user-services/invoke/hops/hop", headers={
        "Connection": "keep-alive, X-Down-Hop", "X-Down-Hop": "1", "Keep-Alive": "timeout=9",
        "Proxy-Authorization": "Basic eA==", "TE": "trailers", "Upgrade": "h2c",
        "Trailer": "X-T", "X-End-To-End": "kept",
    })
    assert status == 200
    sent = {name.lower() for name, _ in a.seen[-1].headers}
    assert sent.isdisjoint({"x-down-hop", "keep-alive", "proxy-authorization", "te",
                            "upgrade", "trailer"})
    assert a.seen[-1].header("Connection") is None
    assert a.seen[-1].header("X-End-To-End") == "kept"
    assert set(headers).isdisjoint({"x-up-hop", "keep-alive", "proxy-authenticate",
                                    "upgrade", "trailer"})
    assert headers.get("connection", "keep-alive") != "X-Up-Hop"
    assert headers["x-instance"] == "a"


def test_upgrade_requests_are_answered_plainly_then_closed(
    gateway: RunningGateway, a: FakeServer
) -> None:
    gateway.publish(service("ws", {"v1": [a]}))
    with raw(gateway) as (conn, reader):
        conn.sendall(b"GET /user-services/invoke/ws/socket HTTP/1.1\r\nHost: h\r\n"
                     b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        status, headers, _ = read_response(reader)
        assert status == 200
        assert headers["connection"] == "close"
        assert reader.read() == b""
    assert a.seen[-1].header("Upgrade") is None


def test_transfer_encoding_with_content_length_is_refused(
    gateway: RunningGateway, a: FakeServer
) -> None:
    gateway.publish(service("smuggle", {"v1": [a]}))
    status, _, body = raw_request(
        gateway, b"POST /user-services/invoke/smuggle/x HTTP/1.1\r\nHost: h\r\n"
                 b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert status == 400
    assert error_of(body)[0] == "InvalidInput"
    assert a.seen == []


def test_two_host_headers_are_refused(gateway: RunningGateway, a: FakeServer) -> None:
    gateway.publish(service("hosts", {"v1": [a]}))
    status, _, body = raw_request(
        gateway, b"GET /user-services/invoke/hosts/x HTTP/1.1\r\nHost: h\r\nHost: evil\r\n\r\n")
    assert status == 400
    assert error_of(body) == ("InvalidInput", "a request may carry only one Host header")
    assert a.seen == []


def test_malformed_requests_get_400(gateway: RunningGateway) -> None:
    status, _, body = raw_request(gateway, b"NOT HTTP AT ALL\r\n\r\n")
    assert status == 400
    assert error_of(body)[0] == "InvalidInput"


def test_heads_over_64_kib_are_refused_both_ways(
    gateway: RunningGateway, a: FakeServer
) -> None:
    gateway.publish(service("heads", {"v1": [a]}))
    filler = b"".join(b"X-Filler-%d: %b\r\n" % (n, b"f" * 1000) for n in range(70))
    status, _, body = raw_request(
        gateway, b"GET /user-services/invoke/heads/x HTTP/1.1\r\nHost: h\r\n" + filler + b"\r\n")
    assert (status, error_of(body)[0]) == (400, "InvalidInput")
    assert a.seen == []
    status, _, body = call(gateway, "GET", "/user-services/invoke/heads/hugehead")
    assert status == 502
    kind, message = error_of(body)
    assert kind == "BadGateway"
    assert "invalid HTTP" in message


def test_chunked_request_bodies_are_forwarded(gateway: RunningGateway, a: FakeServer) -> None:
    gateway.publish(service("chunks", {"v1": [a]}))
    parts = [b"first,", b"second,", b"x" * 70_000]
    status, _, _ = call(gateway, "POST", "/user-services/invoke/chunks/upload", body=iter(parts))
    assert status == 200
    assert a.seen[-1].body == b"".join(parts)


def test_pipelined_requests_are_answered_in_order(
    gateway: RunningGateway, a: FakeServer, b: FakeServer
) -> None:
    gateway.publish(service("first", {"v1": [a]}), service("second", {"v1": [b]}))
    with raw(gateway) as (conn, reader):
        conn.sendall(b"GET /user-services/invoke/first/1 HTTP/1.1\r\nHost: h\r\n\r\n"
                     b"POST /user-services/invoke/second/2 HTTP/1.1\r\nHost: h\r\n"
                     b"Content-Length: 3\r\n\r\nabc"
                     b"GET /user-services/invoke/first/3 HTTP/1.1\r\nHost: h\r\n\r\n")
        answers = [json.loads(read_response(reader)[2]) for _ in range(3)]
    assert [(x["instance"], x["path"]) for x in answers] == [("a", "/1"), ("b", "/2"), ("a", "/3")]
    assert answers[1]["body"] == "abc"


def test_expect_100_continue(gateway: RunningGateway, a: FakeServer) -> None:
    gateway.publish(service("expect", {"v1": [a]}))
    with raw(gateway) as (conn, reader):
        conn.sendall(b"PUT /user-services/invoke/expect/x HTTP/1.1\r\nHost: h\r\n"
                     b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert reader.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert reader.readline() == b"\r\n"
        conn.sendall(b"hello")
        status, _, body = read_response(reader)
    assert status == 200
    assert json.loads(body)["body"] == "hello"
    assert a.seen[-1].header("Expect") is None


# -- limits and failures ------------------------------------------------------------------


def test_a_declared_body_over_the_limit_gets_413_without_reaching_the_instance(
    gateway: RunningGateway, a: FakeServer
) -> None:
    gateway.publish(service("big", {"v1": [a]}))
    status, _, body = raw_request(
        gateway, b"POST /user-services/invoke/big/x HTTP/1.1\r\nHost: h\r\n"
                 b"Content-Length: %d\r\n\r\n" % (LIMIT + 1))
    assert status == 413
    assert error_of(body)[0] == "PayloadTooLarge"
    # A client that sends the whole body before reading still reads the answer.
    answer = requests.post(f"{gateway.url}/user-services/invoke/big/x",
                           data=b"x" * (2 * LIMIT), timeout=WAIT)
    assert answer.status_code == 413
    assert answer.json()["error"]["type"] == "PayloadTooLarge"
    assert a.seen == []
    assert call(gateway, "POST", "/user-services/invoke/big/x", body=b"x" * LIMIT)[0] == 200


def test_a_chunked_body_over_the_limit_gets_413(gateway: RunningGateway, a: FakeServer) -> None:
    gateway.publish(service("big-chunks", {"v1": [a]}))
    pieces = (b"y" * 65536 for _ in range(LIMIT // 65536 + 2))
    status, _, body = call(gateway, "POST", "/user-services/invoke/big-chunks/x", body=pieces)
    assert status == 413
    assert error_of(body)[0] == "PayloadTooLarge"


def test_an_instance_that_refuses_connections_gives_502(gateway: RunningGateway) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    gone = service("gone", {})
    gone["mapping"] = [{"generation": "v1", "proba": 1.0}]
    gone["instances"] = {"v1": [{"instance_id": "i", "host": "127.0.0.1", "port": port}]}
    gateway.publish(gone)
    status, _, body = call(gateway, "GET", "/user-services/invoke/gone/x")
    assert status == 502
    kind, message = error_of(body)
    assert kind == "BadGateway"
    assert "service 'gone'" in message


def test_a_slow_instance_times_out_while_other_calls_keep_answering(
    gateway: RunningGateway, a: FakeServer, b: FakeServer
) -> None:
    gateway.publish(service("slow", {"v1": [a]}), service("fast", {"v1": [b]}))
    with ThreadPoolExecutor(max_workers=4) as pool:
        slow = pool.submit(call, gateway, "GET", "/user-services/invoke/slow/block")
        fast = [pool.submit(call, gateway, "GET", f"/user-services/invoke/fast/{n}")
                for n in range(30)]
        answered = [future.result(timeout=WAIT)[0] for future in fast]
        still_waiting = not slow.done()
        status, _, body = slow.result(timeout=WAIT)
    assert answered == [200] * 30
    assert still_waiting
    assert status == 504
    assert error_of(body) == (
        "UpstreamTimeout", f"service 'slow' (generation v1) did not answer within "
                           f"{UPSTREAM_TIMEOUT}s")


@pytest.mark.parametrize(
    ("fields", "status", "error", "message"),
    [
        ({"enabled": False}, 503, "Unavailable", "service 'svc-x' is disabled"),
        ({"deployed": False}, 503, "Unavailable", "service 'svc-x' is not deployed"),
        ({"instances": {}, "state": "failed", "message": "exited with 3"}, 503, "Unavailable",
         "service 'svc-x' has no running instance (state failed: exited with 3)"),
    ],
)
def test_services_that_cannot_answer_say_why(
    gateway: RunningGateway, a: FakeServer, fields: dict[str, Any], status: int, error: str,
    message: str,
) -> None:
    gateway.publish({**service("svc-x", {"v1": [a]}), **fields})
    got, _, body = call(gateway, "GET", "/user-services/invoke/svc-x/x")
    assert (got, *error_of(body)) == (status, error, message)
    assert a.seen == []


def test_an_instance_that_stalls_mid_answer_is_cut(
    gateway: RunningGateway, a: FakeServer
) -> None:
    gateway.publish(service("stall", {"v1": [a]}))
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=WAIT)
    try:
        connection.request("GET", "/user-services/invoke/stall/stream")
        response = connection.getresponse()
        assert response.status == 200
        assert response.readline() == b"line 1\n"
        with pytest.raises(http.client.IncompleteRead):
            response.read()
    finally:
        connection.close()
    gateway.wait_for_log(r"service 'stall' \(generation v1\) stalled")


def test_unknown_service_is_404(gateway: RunningGateway) -> None:
    gateway.publish()
    status, headers, body = call(gateway, "GET", "/user-services/invoke/nobody/x")
    assert status == 404
    assert error_of(body) == ("NotFound", "service 'nobody' does not exist")
    assert headers["content-type"] == "application/json"


# -- routing --------------------------------------------------------------------------


def test_forwards_only_to_listed_instances_whatever_the_caller_names(
    gateway: RunningGateway, a: FakeServer, b: FakeServer, api: FakeServer
) -> None:
    gateway.publish(service("listed", {"v1": [a]}))
    elsewhere = f"127.0.0.1:{b.port}".encode()
    status, _, body = raw_request(
        gateway, b"GET http://" + elsewhere + b"/user-services/invoke/listed/x HTTP/1.1\r\n"
                 b"Host: " + elsewhere + b"\r\n\r\n")
    assert status == 200
    assert json.loads(body)["instance"] == "a"
    status, _, _ = raw_request(
        gateway, b"GET http://" + elsewhere + b"/other HTTP/1.1\r\nHost: " + elsewhere
                 + b"\r\n\r\n")
    assert status == 200
    assert api.seen[-1].path == "/other"
    assert b.seen == []


@pytest.mark.parametrize(
    "target",
    [
        "/user-services/invoke/A/../B/x",
        "/user-services/invoke/A/%2e%2e/B/x",
        "/user-services/invoke/A/%2E%2E%2FB/x",
        "/user-services/invoke/A%2F..%2FB/x",
        "/user-services/invoke/A/..%5CB/x",
        "/user-services/invoke/../invoke/B/x",
        "/user-services/invoke/./B/x",
        "/user-services/invoke/A/.;/../B/x",
    ],
)
def test_path_traversal_never_reaches_another_service(
    gateway: RunningGateway, a: FakeServer, b: FakeServer, target: str
) -> None:
    gateway.publish(service("A", {"v1": [a]}, id="svc_A"), service("B", {"v1": [b]}, id="svc_B"))
    status, _, body = raw_request(gateway, f"GET {target} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
    assert status == 400
    assert error_of(body)[0] == "InvalidInput"
    assert b.seen == []
    assert a.seen == []


def test_target_generation_header_picks_the_generation(
    gateway: RunningGateway, a: FakeServer, b: FakeServer
) -> None:
    gateway.publish(service("pinned", {"v1": [a], "v2": [b]},
                            mapping=[{"generation": "v2", "proba": 1.0}]))
    _, headers, body = call(gateway, "GET", "/user-services/invoke/pinned/x")
    assert (headers["x-shipyard-generation"], json.loads(body)["instance"]) == ("v2", "b")
    _, headers, body = call(gateway, "GET", "/user-services/invoke/pinned/x",
                            headers={"X-Shipyard-Target-Generation": "v1"})
    assert (headers["x-shipyard-generation"], json.loads(body)["instance"]) == ("v1", "a")
    status, _, body = call(gateway, "GET", "/user-services/invoke/pinned/x",
                           headers={"X-Shipyard-Target-Generation": "v9"})
    assert status == 404
    assert error_of(body)[0] == "NotFound"


def test_instances_of_a_generation_take_turns(
    gateway: RunningGateway, a: FakeServer, b: FakeServer, c: FakeServer
) -> None:
    gateway.publish(service("spread", {"v1": [a, b, c]}))
    served = [json.loads(call(gateway, "GET", "/user-services/invoke/spread/x")[2])["instance"]
              for _ in range(6)]
    assert sorted(served) == ["a", "a", "b", "b", "c", "c"]


def test_a_replica_with_calls_in_flight_takes_no_new_one_while_another_is_idle(
    gateway: RunningGateway, a: FakeServer, b: FakeServer
) -> None:
    """Least outstanding requests: round-robin would send every other call to the busy
    replica, behind its slow call."""
    gateway.publish(service("balanced", {"v1": [a, b]}))
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(call, gateway, "GET", "/user-services/invoke/balanced/block")
        deadline = time.monotonic() + WAIT
        while not a.seen and not b.seen:
            assert time.monotonic() < deadline, "the slow call never arrived"
            time.sleep(0.01)
        busy, idle = (a, b) if a.seen else (b, a)
        served = [json.loads(call(gateway, "GET", "/user-services/invoke/balanced/x")[2])
                  ["instance"] for _ in range(6)]
        assert served == [idle.name] * 6
        busy.release.set()
        assert slow.result(timeout=WAIT)[0] == 200


def test_copies_to_a_challenger_go_to_its_least_busy_replica(
    gateway: RunningGateway, a: FakeServer, b: FakeServer, c: FakeServer
) -> None:
    """b holds every copy it gets; c answers at once: after b has one in flight, the
    copies go to c (round-robin would send b every other one)."""
    gateway.publish(service("copied", {"v1": [a], "v2": [b, c]},
                            mapping=[{"generation": "v1", "proba": 1.0}], challenger="v2"))
    a.release.set()
    c.release.set()
    for _ in range(8):
        assert call(gateway, "GET", "/user-services/invoke/copied/block")[0] == 200
        time.sleep(0.05)  # the copy leaves once the call has ended
    deadline = time.monotonic() + WAIT
    while len(b.seen) + len(c.seen) < 8:
        assert time.monotonic() < deadline, (len(b.seen), len(c.seen))
        time.sleep(0.01)
    assert len(b.seen) == 1 and len(c.seen) == 7
    b.release.set()


def test_a_dead_replica_costs_no_call_and_takes_none_once_found_dead(
    gateway: RunningGateway, a: FakeServer
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as gone:
        dead_port = gone.getsockname()[1]
    spread = service("survivor", {"v1": [a]})
    spread["instances"]["v1"].append(
        {"instance_id": "dead-v1", "host": "127.0.0.1", "port": dead_port})
    gateway.publish(spread)
    statuses = [call(gateway, "POST", "/user-services/invoke/survivor/x", b"body")[0]
                for _ in range(12)]
    assert statuses == [200] * 12
    assert len(a.seen) == 12 and all(seen.body == b"body" for seen in a.seen)
    log = gateway.wait_for_log("refused a connection; its call goes to instance a-v1")
    # Found dead once, then passed by.
    assert log.count("refused a connection; its call goes to instance a-v1") == 1


def test_a_call_to_a_service_scaled_to_zero_waits_for_a_replica_then_goes_on(
    tmp_path: Path, servers: dict[str, FakeServer], a: FakeServer
) -> None:
    demand = tmp_path / "demand"
    running = start_gateway(tmp_path / "gw", servers["api"].port, demand=demand)
    try:
        idle = service("sleepy", {"v1": []}, id="svc_sleepy", scaled_to_zero=True)
        running.publish(idle)
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(call, running, "POST", "/user-services/invoke/sleepy/x",
                               b"kept while it waits")
            asked = demand / "svc_sleepy"
            deadline = time.monotonic() + WAIT
            while not asked.exists():
                assert time.monotonic() < deadline, "the gateway never asked for a replica"
                time.sleep(0.01)
            assert not held.done()
            # A table without a replica yet (one on its way) keeps it waiting.
            running.publish(idle)
            assert not held.done()
            running.publish(service("sleepy", {"v1": [a]}, id="svc_sleepy"))
            status, headers, body = held.result(timeout=WAIT)
        assert (status, headers["x-shipyard-generation"]) == (200, "v1")
        assert json.loads(body)["instance"] == "a"
        assert a.seen[-1].body == b"kept while it waits"
    finally:
        assert running.stop() == 0


def test_a_call_held_past_the_upstream_timeout_is_answered_503_saying_why(
    tmp_path: Path, servers: dict[str, FakeServer]
) -> None:
    running = start_gateway(tmp_path / "gw", servers["api"].port, demand=tmp_path / "demand")
    try:
        running.publish(service("sleepy", {"v1": []}, id="svc_sleepy", scaled_to_zero=True))
        started = time.monotonic()
        status, _, body = call(running, "GET", "/user-services/invoke/sleepy/x")
        assert status == 503
        assert time.monotonic() - started >= UPSTREAM_TIMEOUT - 0.1
        assert error_of(body) == ("Unavailable", f"service 'sleepy' is scaled to zero and no "
                                  f"replica of it became healthy within {UPSTREAM_TIMEOUT}s")
    finally:
        assert running.stop() == 0


def test_without_a_demand_folder_a_service_scaled_to_zero_is_refused_at_once(
    gateway: RunningGateway,
) -> None:
    gateway.publish(service("sleepy", {"v1": []}, id="svc_sleepy", scaled_to_zero=True))
    status, _, body = call(gateway, "GET", "/user-services/invoke/sleepy/x")
    assert status == 503 and "has no running instance" in error_of(body)[1]


def test_upstream_connections_are_pooled_and_reused(
    gateway: RunningGateway, a: FakeServer
) -> None:
    gateway.publish(service("pooled", {"v1": [a]}))
    for _ in range(5):
        assert call(gateway, "GET", "/user-services/invoke/pooled/x")[0] == 200
    assert len({seen.client_port for seen in a.seen}) == 1


def test_answers_after_a_head_on_a_pooled_connection_are_read_whole(
    gateway: RunningGateway, a: FakeServer
) -> None:
    """A HEAD's answer declares a body it does not send; the connection's next answers
    are not taken for it."""
    gateway.publish(service("heads", {"v1": [a]}))
    for method in ("GET", "HEAD", "GET", "HEAD", "HEAD", "POST", "GET"):
        status, headers, body = call(gateway, method, "/user-services/invoke/heads/h")
        assert status == 200
        if method == "HEAD":
            assert body == b"" and int(headers["content-length"]) > 0
        else:
            assert json.loads(body)["method"] == method
    assert len({seen.client_port for seen in a.seen}) == 1


def test_an_idle_pooled_connection_the_instance_closed_is_not_an_error(
    gateway: RunningGateway, a: FakeServer
) -> None:
    gateway.publish(service("closer", {"v1": [a]}))
    for _ in range(10):
        assert call(gateway, "GET", "/user-services/invoke/closer/close-after")[0] == 200
        assert call(gateway, "GET", "/user-services/invoke/closer/x")[0] == 200


def test_a_malformed_routing_table_keeps_the_previous_one(
    gateway: RunningGateway, a: FakeServer
) -> None:
    gateway.publish(service("kept", {"v1": [a]}))
    broken = gateway.routes.with_name("broken.json")
    broken.write_text('{"version": 1, "services": {"x": ')
    broken.replace(gateway.routes)
    gateway.wait_for_log("routing table not reloaded")
    assert call(gateway, "GET", "/user-services/invoke/kept/x")[0] == 200
    gateway.publish(service("next", {"v1": [a]}))
    assert call(gateway, "GET", "/user-services/invoke/next/x")[0] == 200
    assert call(gateway, "GET", "/user-services/invoke/kept/x")[0] == 404


# -- the API upstream -------------------------------------------------------------------


def test_other_paths_go_to_the_api_unchanged(gateway: RunningGateway, api: FakeServer) -> None:
    for method, path in [("GET", "/healthz"), ("GET", "/api/v1/services?limit=2"),
                         ("DELETE", "/api/v1/services/svc_1"), ("GET", "/anything/else")]:
        status, headers, _ = call(gateway, method, path)
        assert status == 200
        assert (api.seen[-1].method, api.seen[-1].path) == (method, path)
        assert "x-shipyard-generation" not in headers
    archive = b"PK" + b"z" * 300_000
    status, _, _ = call(gateway, "PUT", "/api/v1/services/s/files", body=archive,
                           headers={"Authorization": "Bearer k"})
    assert status == 200
    assert api.seen[-1].body == archive
    assert api.seen[-1].header("Authorization") == "Bearer k"


def test_the_control_planes_answers_tell_which_routing_table_is_served(
    tmp_path: Path, a: FakeServer, api: FakeServer
) -> None:
    # Looked at once a minute only: the new table is seen on inotify's word, not a poll.
    running = start_gateway(tmp_path / "gw", api.port, reload_interval="60")
    try:
        assert call(running, "GET", "/api/v1/services")[1]["x-shipyard-routes"] == "0"
        write_routing_table(running.routes, {"version": 1, "serial": 41, "services": {
            "svc_a": service("a", {"v1": [a]})}})
        deadline = time.monotonic() + WAIT
        while call(running, "GET", "/api/v1/services")[1]["x-shipyard-routes"] != "41":
            assert time.monotonic() < deadline, "the table written was not loaded"
            time.sleep(0.02)
        status, headers, _ = call(running, "GET", "/user-services/invoke/a/x")
        assert status == 200 and headers["x-shipyard-generation"] == "v1"
        assert "x-shipyard-routes" not in headers  # a service's answer does not carry it
    finally:
        assert running.stop() == 0, running.log.read_text()


def test_api_answers_stream_through_line_by_line(
    gateway: RunningGateway, api: FakeServer
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=WAIT)
    try:
        connection.request("GET", "/api/v1/builds/b1/log/stream?follow=1")
        response = connection.getresponse()
        assert response.status == 200
        # The API sends its second line only once the first one reached the client.
        assert response.readline() == b"line 1\n"
        api.release.set()
        assert response.read() == b"line 2\nline 3\n"
    finally:
        connection.close()


def test_every_listening_socket_it_is_given_is_served_with_several_workers(
    tmp_path: Path, api: FakeServer
) -> None:
    running = start_gateway(tmp_path / "gw", api.port, workers=2, other_hosts=("127.0.0.2",))
    try:
        [(other_host, other_port)] = running.other_addresses
        for host, port in [("127.0.0.1", running.port), (other_host, other_port)]:
            deadline = time.monotonic() + WAIT
            seen = 0
            while seen < 10:
                try:
                    answer = requests.get(f"http://{host}:{port}/healthz", timeout=WAIT)
                except requests.ConnectionError:
                    assert time.monotonic() < deadline, f"nobody answers on {host}:{port}"
                    time.sleep(0.05)
                    continue
                assert answer.status_code == 200
                seen += 1
    finally:
        assert running.stop() == 0, running.log.read_text()


def test_an_api_that_is_down_gives_502(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    running = start_gateway(tmp_path / "gw", port)
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                status, _, body = call(running, "GET", "/api/v1/services")
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert status == 502
        assert error_of(body) == (
            "BadGateway", "cannot reach the control plane API: Connection refused")
    finally:
        assert running.stop() == 0


# -- logging and processes ----------------------------------------------------------------


def test_one_access_log_line_per_call_without_secrets(
    gateway: RunningGateway, a: FakeServer
) -> None:
    gateway.publish(service("logged", {"v3": [a]}))
    call(gateway, "POST", "/user-services/invoke/logged/predict?token=query-secret", body=b"{}",
         headers={"Authorization": "Bearer header-secret", "X-Request-Id": "log-me-1"})
    text = gateway.wait_for_log("request_id=log-me-1")
    lines = [line for line in text.splitlines() if "request_id=log-me-1" in line]
    assert len(lines) == 1
    assert re.search(
        r"service=logged generation=v3 method=POST path=/user-services/invoke/logged/predict "
        r"status=200 latency_ms=[\d.]+ bytes=\d+ request_id=log-me-1$", lines[0])
    assert "header-secret" not in text
    assert "query-secret" not in text


def test_workers_share_the_socket_and_sigterm_lets_calls_in_flight_finish(
    tmp_path: Path, a: FakeServer, api: FakeServer
) -> None:
    running = start_gateway(tmp_path / "gw", api.port, workers=2)
    try:
        running.publish(service("inflight", {"v1": [a]}))
        deadline = time.monotonic() + WAIT
        while len(psutil.Process(running.process.pid).children()) != 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with ThreadPoolExecutor(max_workers=1) as pool:
            in_flight = pool.submit(call, running, "GET", "/user-services/invoke/inflight/block")
            while not a.seen:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            running.process.send_signal(signal.SIGTERM)
            running.wait_for_log("gateway stopping")
            assert running.process.poll() is None
            a.release.set()
            status, _, body = in_flight.result(timeout=WAIT)
        assert status == 200
        assert json.loads(body)["instance"] == "a"
        assert running.process.wait(timeout=WAIT) == 0
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", running.port), timeout=2).close()
    finally:
        running.stop()


def test_calls_still_in_flight_after_the_grace_period_are_cut(
    tmp_path: Path, a: FakeServer, api: FakeServer
) -> None:
    running = start_gateway(tmp_path / "gw", api.port, grace_period="0.3")
    try:
        running.publish(service("stuck", {"v1": [a]}))
        with ThreadPoolExecutor(max_workers=1) as pool:
            in_flight = pool.submit(call, running, "GET", "/user-services/invoke/stuck/block")
            deadline = time.monotonic() + WAIT
            while not a.seen:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            running.process.send_signal(signal.SIGTERM)
            assert running.process.wait(timeout=WAIT) == 0
            with pytest.raises(http.client.RemoteDisconnected):
                in_flight.result(timeout=WAIT)
        running.wait_for_log("cutting 1 connections still open after the grace period")
    finally:
        running.stop()
