"""A plain spool line (a call that keeps no body), an array of the columns, stands for the
object json.dumps writes from the entry, and the ingest reads the same row from it,
whatever the values."""

from __future__ import annotations

import json
import math
import random

from shipyard.contracts.query_entries import PLAIN_COLUMN_NAMES, entry_of, spool_entry, spool_line
from shipyard.contracts.query_record import QueryRecord
from shipyard.supervisor.query_ingest import CorruptEntry, row_values

TEXTS = ["", "a", "é", "\u2603", "\x00", "\n", '"', "\\", "\udcff", "/p?X-Amz-Signature=s&a=1",
         "/p?X%2DAmz-Credential=k", "\U0001f600"]
NUMBERS = [0, 1, -1, 2**63, 0.0, 1.5, 1e-300, 1e300, 123.456, -0.0, math.nan, math.inf]


def _general(record: QueryRecord) -> str:
    return json.dumps(entry_of(record), separators=(",", ":")) + "\n"


def _text(draw: random.Random) -> str:
    return "".join(draw.choice(TEXTS) for _ in range(draw.randint(0, 4)))


def _ingested(line: str) -> dict[str, object] | str:
    try:
        return row_values(spool_entry(line))
    except (CorruptEntry, OverflowError) as problem:  # as the ingest quarantines them
        return f"corrupt: {problem}"


def test_a_line_without_bodies_is_the_entry_as_an_array() -> None:
    draw = random.Random(20261205)
    for _ in range(3000):
        record = QueryRecord(
            at=draw.choice(NUMBERS), request_id=_text(draw), service_id=_text(draw),
            generation=draw.choice([None, "v1", _text(draw)]), method=_text(draw),
            path=_text(draw), status=draw.choice([200, 404, 500, True]),
            latency_ms=draw.choice(NUMBERS), instance_ms=draw.choice([None, *NUMBERS]),
            request_bytes=draw.choice([0, 5, 2**40]), response_bytes=draw.choice([0, 7]),
            caller=_text(draw), predictions=draw.choice([None, 0, 50]),
            warnings=draw.choice([None, 1]), association_id=draw.choice([None, _text(draw)]),
            challenger_generation=draw.choice([None, "v2"]),
            challenger_status=draw.choice([None, 200]),
            challenger_latency_ms=draw.choice([None, *NUMBERS]),
        )
        line, general = spool_line(record), _general(record)
        assert line.isascii() and line.startswith("[") and line.endswith("]\n")
        assert line.count("\n") == 1
        entry = json.loads(general)
        read = spool_entry(line)
        assert list(read) == list(PLAIN_COLUMN_NAMES)
        assert {name: read[name] for name in PLAIN_COLUMN_NAMES} == {
            name: entry[name] for name in PLAIN_COLUMN_NAMES} or _has_nan(entry), record
        assert _ingested(line) == _ingested(general), record


def _has_nan(entry: dict[str, object]) -> bool:
    return any(isinstance(value, float) and math.isnan(value) for value in entry.values())


def test_a_plain_line_of_another_length_is_refused() -> None:
    for values in ([], [1.5] * (len(PLAIN_COLUMN_NAMES) + 1)):
        try:
            spool_entry(json.dumps(values))
        except ValueError as refused:
            assert f"holds {len(PLAIN_COLUMN_NAMES)} values" in str(refused)
        else:
            raise AssertionError(f"{values} was read")


def test_a_line_with_bodies_is_the_entrys() -> None:
    record = QueryRecord(at=1.5, request_id="r", service_id="s", generation="v1", method="POST",
                         path="/p", status=200, latency_ms=1.0, request_bytes=2,
                         response_bytes=2, request_body=b"{}", response_body=b"[]",
                         keep_bodies=True, association_field="id")
    assert spool_line(record) == _general(record)
    assert json.loads(spool_line(record))["request_body"] == "{}"
