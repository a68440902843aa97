"""A followed build log that breaks is opened again on from where it broke; one that stalls,
or stays broken, ends with one typed error, never a hang or a requests traceback: a real
HTTP server on loopback sends the log the way a stuck, restarting or dead control plane
would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from shipyard_sdk import Client
from shipyard_sdk.errors import Unavailable

LOG_PATH = "/api/v1/services/hello/builds/1/log"


LOG = ["installing packages", "checking that the app imports", "built v1"]


class LogHandler(BaseHTTPRequestHandler):
    """Answers the log after ``after`` lines in a chunked stream. The first answer sends
    one line, then stalls (``stall``) or drops the connection in the middle of the next
    chunk (``break``, ``break-for-good``); later answers (``break``) send the rest, as a
    control plane back from a restart would."""

    protocol_version = "HTTP/1.1"
    server: LogServer

    def do_GET(self) -> None:
        after = int(parse_qs(urlparse(self.path).query).get("after", ["0"])[0])
        self.server.requests.append(after)
        if len(self.server.requests) > 1 and self.server.mode == "break-for-good":
            self.send_error(503)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if len(self.server.requests) > 1:
            for line in LOG[after:]:
                self._chunk(line.encode() + b"\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._chunk(LOG[after].encode() + b"\n")
            if self.server.mode == "stall":
                self.server.released.wait(30)
            else:
                self.wfile.write(b"40\r\nonly part of a chunk")
        self.wfile.flush()
        self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


class LogServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), LogHandler)
        self.mode = mode
        self.released = threading.Event()
        self.requests: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def log_server(request: pytest.FixtureRequest) -> Iterator[LogServer]:
    server = LogServer(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.released.set()
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.mark.parametrize("log_server", ["stall"], indirect=True)
def test_a_stalled_build_log_ends_with_unavailable_after_the_timeout(
    log_server: LogServer,
) -> None:
    lines = Client(log_server.url).services.build_log("hello", 1, follow=True, timeout=1.0)
    assert next(lines) == "installing packages"
    # Without the timeout, the stream would end normally once the server stops stalling.
    with pytest.raises(Unavailable, match="build log of hello build 1 stopped coming"):
        next(lines)


@pytest.mark.parametrize("log_server", ["break"], indirect=True)
def test_a_broken_build_log_stream_is_opened_again_and_each_line_comes_once(
    log_server: LogServer,
) -> None:
    lines = Client(log_server.url).services.build_log("hello", 1, follow=True)
    assert list(lines) == LOG
    assert log_server.requests == [0, 1]


@pytest.mark.parametrize("log_server", ["break-for-good"], indirect=True)
def test_a_stream_that_stays_broken_is_unavailable_not_a_requests_error(
    log_server: LogServer,
) -> None:
    lines = Client(log_server.url).services.build_log("hello", 1, follow=True,
                                                       reconnect_within=1.0)
    assert next(lines) == "installing packages"
    with pytest.raises(Unavailable, match="build log of hello build 1 stopped coming"):
        list(lines)
