"""The access log's lines read as ``logging.Formatter`` would write them, time included,
whether a call reaches the handler bare (the gateway's own set-up) or as a record (any
other set-up of the logger)."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import pytest

from shipyard.gateway import access
from shipyard.gateway.access import (
    AccessFormatter,
    AccessRecord,
    BatchingHandler,
    access_log,
    log_call,
    log_to,
)

FORMAT = "%(asctime)s %(name)s %(message)s"
ARGS = ("svc", "v1", "GET", "/predict", 200, 1.5, 12, "req-1")


@pytest.fixture
def fresh_logger() -> Iterator[None]:
    handlers, propagate, direct = list(access_log.handlers), access_log.propagate, access._direct
    level = access_log.level
    access_log.setLevel(logging.INFO)
    yield
    for handler in list(access_log.handlers):
        access_log.removeHandler(handler)
    for handler in handlers:
        access_log.addHandler(handler)
    access_log.propagate, access._direct = propagate, direct
    access_log.setLevel(level)


def test_lines_read_as_the_standard_formatter_writes_them() -> None:
    standard, fast = logging.Formatter(FORMAT), AccessFormatter()
    start = time.time()
    for offset in (0.0, 0.001, 0.5, 0.999, 1.0, 1.25, 61.0, 3600.7):
        record = AccessRecord(ARGS, start + offset)
        expected = standard.format(record)
        assert fast.format(record) == expected
        assert fast.format_call(start + offset, ARGS) == expected
    assert "service=svc generation=v1 method=GET path=/predict status=200" in expected


def test_the_handler_writes_the_waiting_lines_together() -> None:
    stream = io.StringIO()
    handler = BatchingHandler(stream, capacity=3)
    handler.setFormatter(AccessFormatter())
    now = time.time()
    handler.handle(AccessRecord(ARGS, now))
    handler.keep((now, ARGS))
    assert stream.getvalue() == ""
    handler.handle(AccessRecord(ARGS, now))  # the third fills it
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and len(set(lines)) == 1


def test_a_call_reaches_every_handler_once_another_is_added(fresh_logger: None) -> None:
    stream, other = io.StringIO(), io.StringIO()
    handler = log_to(stream)
    log_call("svc", None, b"GET", b"/predict?secret=1", 200, 0.0015, 12, b"req-1")
    added = logging.StreamHandler(other)
    added.setFormatter(logging.Formatter(FORMAT))
    access_log.addHandler(added)
    log_call("svc", "v2", b"POST", b"/predict", 500, 0.0015, 0, b"req-2")
    handler.flush()
    lines = stream.getvalue().splitlines()
    assert [line.split(" ", 3)[3] for line in lines] == [
        "service=svc generation=- method=GET path=/predict status=200 latency_ms=1.50 "
        "bytes=12 request_id=req-1",
        "service=svc generation=v2 method=POST path=/predict status=500 latency_ms=1.50 "
        "bytes=0 request_id=req-2",
    ]
    assert all(" shipyard.gateway.access " in line for line in lines)
    assert other.getvalue().splitlines()[0].endswith("request_id=req-2")
    assert "secret" not in stream.getvalue() + other.getvalue()
