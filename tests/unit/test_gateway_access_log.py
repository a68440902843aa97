"""The access log's lines read as ``logging.Formatter`` would write them, time included,
while the time of a second is formatted once."""

from __future__ import annotations

import io
import logging
import time

from shipyard.gateway.access import AccessFormatter, AccessRecord, BatchingHandler

FORMAT = "%(asctime)s %(name)s %(message)s"


def _record(created: float) -> AccessRecord:
    record = AccessRecord(("svc", "v1", "GET", "/predict", 200, 1.5, 12, "req-1"))
    record.created = created
    record.msecs = int((created - int(created)) * 1000) + 0.0
    return record


def test_lines_read_as_the_standard_formatter_writes_them() -> None:
    standard, fast = logging.Formatter(FORMAT), AccessFormatter(FORMAT)
    start = time.time()
    for offset in (0.0, 0.001, 0.5, 0.999, 1.0, 1.25, 61.0, 3600.7):
        record = _record(start + offset)
        assert fast.format(record) == standard.format(record)
    line = fast.format(_record(start))
    assert "service=svc generation=v1 method=GET path=/predict status=200" in line


def test_the_handler_writes_the_waiting_lines_together() -> None:
    stream = io.StringIO()
    handler = BatchingHandler(stream, capacity=3)
    handler.setFormatter(AccessFormatter(FORMAT))
    now = time.time()
    handler.handle(_record(now))
    handler.handle(_record(now))
    assert stream.getvalue() == ""
    handler.handle(_record(now))  # the third fills it
    assert len(stream.getvalue().splitlines()) == 3
