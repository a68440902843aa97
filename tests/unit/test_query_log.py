"""The query log without processes: the spool, the ingester, time ranges and exports."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from shipyard.contracts.query_entries import association_from_body, entry_of, spool_entry
from shipyard.contracts.query_record import QueryRecord
from shipyard.contracts.run_paths import query_spool_dir
from shipyard.errors import InvalidInput, NotFound
from shipyard.gateway.spool import QuerySpool
from shipyard.query_log.export import COLUMNS, QueryLog, csv_chunks, jsonl_chunks
from shipyard.query_log.time_range import TimeRange, parse_instant
from shipyard.store import Base, QueryLogRow, Store
from shipyard.supervisor import query_retention as retention
from shipyard.supervisor.query_ingest import STALE_PART_AGE, ingest_spool
from shipyard.supervisor.query_retention import prune_query_log
from tests.conftest import store_url

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def record(number: int = 0, **changes: Any) -> QueryRecord:
    values: dict[str, Any] = {
        "at": NOW.timestamp() + number, "request_id": f"req-{number}",
        "service_id": "svc_0123456789abcdef", "generation": "v1", "method": "POST",
        "path": "/predict?x=1", "status": 200, "latency_ms": 1.5,
        "request_bytes": 10, "response_bytes": 20,
    }
    values.update(changes)
    return QueryRecord(**values)


@pytest.fixture
def store(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Store]:
    store = Store(store_url(database_url, tmp_path_factory.mktemp("db")))
    Base.metadata.create_all(store.engine)
    yield store
    store.dispose()


def spool_files(directory: Path, pattern: str = "*.jsonl") -> list[Path]:
    return sorted(directory.glob(pattern))


def entries(directory: Path) -> list[dict[str, Any]]:
    return [spool_entry(line) for path in spool_files(directory)
            for line in path.read_text().splitlines()]


def stored(store: Store) -> list[SimpleNamespace]:
    """The stored rows, oldest first, as plain objects that outlive their session."""
    columns = [column.name for column in QueryLogRow.__table__.columns]
    with store.reading() as session:
        rows = session.scalars(select(QueryLogRow).order_by(QueryLogRow.at, QueryLogRow.id))
        return [SimpleNamespace(**{name: getattr(row, name) for name in columns})
                for row in rows]


def count(store: Store) -> int:
    with store.reading() as session:
        return session.scalar(select(func.count()).select_from(QueryLogRow)) or 0


# -- the spool ------------------------------------------------------------------------


def test_the_spool_dir_is_under_run(tmp_path: Path) -> None:
    assert query_spool_dir(tmp_path) == tmp_path / "run" / "query-spool"


def test_submit_writes_nothing_until_a_flush(tmp_path: Path) -> None:
    spool = QuerySpool(tmp_path, flush_interval=60)
    try:
        spool.submit(record(1))
        spool.submit(record(2))
        assert list(tmp_path.iterdir()) == []
        assert spool.flush() == 2
        assert [e["request_id"] for e in entries(tmp_path)] == ["req-1", "req-2"]
        assert spool.flush() == 0
        assert len(spool_files(tmp_path)) == 1
    finally:
        spool.close()


def test_plain_lines_and_lines_with_bodies_are_written_in_the_order_of_the_calls(
    tmp_path: Path,
) -> None:
    """A plain call's line is made at submit, a line with bodies (or of a record that
    cannot be written) at the flush; the file has them in the order they were submitted."""
    spool = QuerySpool(tmp_path, flush_interval=60)
    try:
        spool.submit(record(1))
        spool.submit(record(2, keep_bodies=True, request_body=b'{"x": 1}'))
        spool.submit(record(3, latency_ms=math.nan))
        spool.submit(record(4, request_bytes=b"not an int"))  # not serializable: dropped
        spool.submit(record(5))
        assert spool.flush() == 4
        written = entries(tmp_path)
        assert [e["request_id"] for e in written] == ["req-1", "req-2", "req-3", "req-5"]
        assert "request_body" not in written[0] and written[0]["instance_ms"] is None
        assert written[1]["request_body"] == '{"x": 1}'
        assert math.isnan(written[2]["latency_ms"])
    finally:
        spool.close()


def test_the_thread_flushes_each_interval_into_complete_files(tmp_path: Path) -> None:
    with QuerySpool(tmp_path, flush_interval=0.05) as spool:
        spool.submit(record(1))
        deadline = time.monotonic() + 5
        while not spool_files(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.01)
        spool.submit(record(2))
        deadline = time.monotonic() + 5
        while len(spool_files(tmp_path)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        # Each flush is a file of its own, renamed into place only once complete.
        assert len(spool_files(tmp_path)) == 2
        assert spool_files(tmp_path, "*.part") == []
        name = spool_files(tmp_path)[0].name
        assert name.startswith(f"{os.getpid()}-") and name.endswith(".jsonl")


def test_close_writes_everything(tmp_path: Path) -> None:
    spool = QuerySpool(tmp_path, flush_interval=60)
    for number in range(500):
        spool.submit(record(number))
    spool.close()
    assert len(entries(tmp_path)) == 500
    spool.close()  # twice is harmless


def test_a_crash_loses_only_what_was_not_flushed(tmp_path: Path) -> None:
    """A crash is the process ending without close(): what flushed stays, nothing else."""
    spool = QuerySpool(tmp_path, flush_interval=60)
    spool.submit(record(1))
    spool.flush()
    spool.submit(record(2))
    # The process dies here: its spool is never closed, its pending records are gone.
    survivors = entries(tmp_path)
    assert [e["request_id"] for e in survivors] == ["req-1"]
    spool.close()


def test_a_failed_write_keeps_its_records(tmp_path: Path) -> None:
    blocked = tmp_path / "spool"
    spool = QuerySpool(blocked, flush_interval=60)
    try:
        blocked.rmdir()
        blocked.write_text("a file where the directory was")
        spool.submit(record(1))
        assert spool.flush() == 0
        blocked.unlink()
        assert spool.flush() == 1
        assert [e["request_id"] for e in entries(blocked)] == ["req-1"]
    finally:
        spool.close()


# -- what a record becomes ------------------------------------------------------------


def test_the_association_id_comes_from_the_header_first() -> None:
    body = b'{"customer": "c-7"}'
    from_header = entry_of(record(association_id="h-1", association_field="customer",
                                  request_body=body))
    assert from_header["association_id"] == "h-1"
    from_field = entry_of(record(association_field="customer", request_body=body))
    assert from_field["association_id"] == "c-7"
    assert entry_of(record(request_body=body))["association_id"] is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"id": "a"}', "a"),
        (b'{"id": 42}', "42"),
        (b'{"id": true}', None),
        (b'{"id": {"nested": 1}}', None),
        (b'{"other": "a"}', None),
        (b'[{"id": "a"}]', None),
        (b'{"id": "a", "cut by the ca', None),
        (b"\xff\xfe not json", None),
        (b"", None),
        (None, None),
    ],
)
def test_association_ids_from_json_bodies(body: bytes | None, expected: str | None) -> None:
    assert association_from_body(body, "id") == expected


def test_presigned_urls_lose_their_signature_and_credential() -> None:
    path = ("/user-services/invoke/s/p?a=1&X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=SYKEY%2F20261130%2Fus-east-1%2Fexecute-api%2Faws4_request"
            "&X-Amz-Date=20261130T000000Z&X-Amz-Signature=abc123&x-amz-security-token=t")
    logged = entry_of(record(path=path))["path"]
    assert "SYKEY" not in logged and "abc123" not in logged and "=t" not in logged
    assert logged == (
        "/user-services/invoke/s/p?a=1&X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=REDACTED&X-Amz-Date=20261130T000000Z&X-Amz-Signature=REDACTED"
        "&x-amz-security-token=REDACTED"
    )
    assert entry_of(record(path="/p?q=1"))["path"] == "/p?q=1"
    # However the names are encoded (the verifier decodes them), and only as names.
    encoded = "/p?X%2DAmz-Signatur%65=abc123&X-Amz-Signature&note=X-Amz-Signature"
    assert entry_of(record(path=encoded))["path"] == (
        "/p?X%2DAmz-Signatur%65=REDACTED&X-Amz-Signature=REDACTED&note=X-Amz-Signature")


BODIES = ("request_body", "response_body", "challenger_body", "body_encoding")


def bodies_of(entry: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(entry[name] for name in BODIES)


def whole(**bodies: bytes) -> QueryRecord:
    """A call whose bodies were all kept whole (none cut at the cap)."""
    return record(keep_bodies=True, request_bytes=len(bodies.get("request_body", b"")),
                  response_bytes=len(bodies.get("response_body", b"")), **bodies)


def test_bodies_are_kept_only_when_the_service_collects_them() -> None:
    bodies = {"request_body": b'{"x": 1}', "response_body": "café".encode(),
              "challenger_body": b"[2]"}
    assert bodies_of(entry_of(record(**bodies))) == (None, None, None, None)
    assert bodies_of(entry_of(whole(**bodies))) == ('{"x": 1}', "café", "[2]", "utf-8")
    assert bodies_of(entry_of(whole())) == (None, None, None, None)


@pytest.mark.parametrize("binary", [b"caf\xc3\xa9 \xff", b"\x89PNG\r\n\x1a\n\x00", b"a\x00b"])
def test_a_call_with_a_body_that_is_not_text_keeps_each_body_in_base64(binary: bytes) -> None:
    entry = entry_of(whole(request_body=binary, response_body=b'{"label": "cat"}'))
    assert entry["body_encoding"] == "base64"
    assert base64.b64decode(entry["request_body"]) == binary
    assert base64.b64decode(entry["response_body"]) == b'{"label": "cat"}'
    assert entry["challenger_body"] is None


def test_a_body_cut_inside_a_character_stays_text() -> None:
    body = '{"name": "é"}'.encode()[:11]  # cut between the two bytes of é
    cut = entry_of(record(keep_bodies=True, request_body=body, request_bytes=14))
    assert (cut["request_body"], cut["body_encoding"]) == ('{"name": "', "utf-8")
    # The same bytes as a whole body are not UTF-8.
    assert entry_of(whole(request_body=body))["body_encoding"] == "base64"


def test_a_spool_line_is_one_ascii_line(tmp_path: Path) -> None:
    with QuerySpool(tmp_path, flush_interval=60) as spool:
        spool.submit(record(keep_bodies=True, request_body="a\nb\u2028c é".encode()))
    (path,) = spool_files(tmp_path)
    raw = path.read_bytes()
    assert raw.isascii() and raw.count(b"\n") == 1
    assert json.loads(raw)["request_body"] == "a\nb\u2028c é"


# -- ingesting ------------------------------------------------------------------------


def test_ingest_inserts_and_removes_the_files(tmp_path: Path, store: Store) -> None:
    with QuerySpool(tmp_path, flush_interval=60) as spool:
        for number in range(3):
            spool.submit(record(number, challenger_generation="v2", challenger_status=500,
                                challenger_latency_ms=9.0, caller="alice"))
        spool.flush()
        spool.submit(record(3, association_id="a-3"))
    assert ingest_spool(store, tmp_path) == 4
    assert list(tmp_path.iterdir()) == []
    rows = stored(store)
    assert [r.request_id for r in rows] == ["req-0", "req-1", "req-2", "req-3"]
    assert rows[0].at == NOW and rows[0].challenger_status == 500 and rows[0].caller == "alice"
    assert rows[3].association_id == "a-3" and rows[3].challenger_generation is None
    assert ingest_spool(store, tmp_path) == 0
    assert ingest_spool(store, tmp_path / "missing") == 0


def test_calls_past_the_retention_are_pruned_in_batches(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 2)
    with QuerySpool(tmp_path, flush_interval=60) as spool:
        for number in range(5):  # NOW, NOW + 1 s, ...
            spool.submit(record(number))
    assert ingest_spool(store, tmp_path) == 5
    ten_days_on = NOW + timedelta(days=10, seconds=2.5)
    assert prune_query_log(store, 0, now=ten_days_on) == 0  # 0 keeps everything
    assert prune_query_log(store, 11, now=ten_days_on) == 0
    assert prune_query_log(store, 10, now=ten_days_on) == 3
    assert [row.request_id for row in stored(store)] == ["req-3", "req-4"]


def test_an_interrupted_ingest_that_committed_is_not_repeated(
    tmp_path: Path, store: Store
) -> None:
    with QuerySpool(tmp_path, flush_interval=60) as spool:
        spool.submit(record(1))
        spool.submit(record(2))
    (path,) = spool_files(tmp_path)
    content = path.read_text()
    assert ingest_spool(store, tmp_path) == 2
    # A crash after the commit, before the file was deleted, leaves it claimed.
    path.with_name(path.name + ".ingesting").write_text(content)
    assert ingest_spool(store, tmp_path) == 0
    assert count(store) == 2
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_ingest_that_did_not_commit_is_done(tmp_path: Path, store: Store) -> None:
    with QuerySpool(tmp_path, flush_interval=60) as spool:
        spool.submit(record(1))
    (path,) = spool_files(tmp_path)
    path.rename(path.with_name(path.name + ".ingesting"))  # a crash before the commit
    assert ingest_spool(store, tmp_path) == 1
    assert ingest_spool(store, tmp_path) == 0
    assert count(store) == 1


def test_a_failed_insert_is_tried_again(tmp_path: Path, store: Store) -> None:
    with QuerySpool(tmp_path, flush_interval=60) as spool:
        spool.submit(record(1))
    Base.metadata.drop_all(store.engine, tables=[QueryLogRow.__table__])
    assert ingest_spool(store, tmp_path) == 0
    assert len(spool_files(tmp_path, "*.ingesting")) == 1
    Base.metadata.create_all(store.engine)
    assert ingest_spool(store, tmp_path) == 1
    assert list(tmp_path.iterdir()) == []


def test_corrupt_lines_are_quarantined_and_the_rest_goes_in(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    good = json.dumps(entry_of(record(1)))
    long_id = json.dumps({**entry_of(record(2)), "association_id": "x" * 1000})
    bad = [
        "not json at all",
        "[1, 2]",
        json.dumps({**entry_of(record(3)), "status": "200"}),
        json.dumps({**entry_of(record(4)), "at": None}),
        json.dumps({**entry_of(record(5)), "at": 1e300}),
        json.dumps({**entry_of(record(6)), "service_id": "s" * 100}),
        json.dumps({**entry_of(record(7)), "request_body": "x", "body_encoding": "latin-1"}),
        json.dumps({**entry_of(record(8)), "request_body": "not base64!",
                    "body_encoding": "base64"}),
        '{"request_id": "cut',
    ]
    (tmp_path / "1-abc-00000001.jsonl").write_text("\n".join([good, *bad, long_id, ""]))
    assert ingest_spool(store, tmp_path) == 2
    assert [r.request_id for r in stored(store)] == ["req-1", "req-2"]
    assert len(stored(store)[1].association_id or "") == 255  # cut to the column
    quarantined = (tmp_path / "quarantine" / "1-abc-00000001.jsonl").read_text().splitlines()
    assert quarantined == bad
    assert "corrupt" in caplog.text
    assert spool_files(tmp_path) == []


def test_a_stale_part_file_is_salvaged(tmp_path: Path, store: Store) -> None:
    line = json.dumps(entry_of(record(1)))
    fresh = tmp_path / "1-abc-00000001.jsonl.part"
    stale = tmp_path / "2-abc-00000001.jsonl.part"
    fresh.write_text(line + "\n")
    stale.write_text(line + "\n" + '{"cut')
    old = time.time() - STALE_PART_AGE - 10
    os.utime(stale, (old, old))
    assert ingest_spool(store, tmp_path) == 1
    assert fresh.exists() and not stale.exists()


# -- time ranges ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", NOW - timedelta(seconds=30)),
        ("15m", NOW - timedelta(minutes=15)),
        ("1h", NOW - timedelta(hours=1)),
        ("2d", NOW - timedelta(days=2)),
        ("2026-11-30T10:00:00Z", datetime(2026, 11, 30, 10, tzinfo=UTC)),
        ("2026-11-30T12:00:00+02:00", datetime(2026, 11, 30, 10, tzinfo=UTC)),
        ("2026-11-30T10:00:00", datetime(2026, 11, 30, 10, tzinfo=UTC)),
        ("2026-11-30", datetime(2026, 11, 30, tzinfo=UTC)),
    ],
)
def test_instants_absolute_and_relative(text: str, expected: datetime) -> None:
    assert parse_instant(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "1w", "-1h", "1.5h", "h", "", "99999999999d"])
def test_bad_instants_are_named(text: str) -> None:
    with pytest.raises(InvalidInput, match="since"):
        TimeRange.parse(text or " ", None, now=NOW)


def test_a_range_must_not_end_before_it_starts() -> None:
    assert TimeRange.parse(None, None) == TimeRange(None, None)
    assert TimeRange.parse("2h", "1h", now=NOW).until == NOW - timedelta(hours=1)
    with pytest.raises(InvalidInput, match="after until"):
        TimeRange.parse("1h", "2h", now=NOW)


# -- exports --------------------------------------------------------------------------


def exported(number: int, **changes: Any) -> dict[str, Any]:
    row = {name: None for name in COLUMNS}
    row.update(at=f"2026-11-30T12:00:0{number}+00:00", request_id=f"req-{number}",
               status=200, latency_ms=1.0)
    row.update(changes)
    return row


def test_jsonl_has_one_object_per_line_in_column_order() -> None:
    text = "".join(jsonl_chunks([exported(1, request_body="a\nb"), exported(2)]))
    lines = text.splitlines()
    assert len(lines) == 2
    assert list(json.loads(lines[0])) == list(COLUMNS)
    assert json.loads(lines[0])["request_body"] == "a\nb"


def test_csv_has_a_header_and_empty_cells_for_absent_values() -> None:
    text = "".join(csv_chunks([exported(1, request_body='say "hi"\nbye'), exported(2)]))
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == list(COLUMNS)
    assert len(table) == 3
    row = dict(zip(COLUMNS, table[1], strict=True))
    assert row["request_body"] == 'say "hi"\nbye' and row["generation"] == ""
    assert "".join(csv_chunks([])) == ",".join(COLUMNS) + "\n"


@pytest.mark.parametrize("value", [
    '=HYPERLINK("http://evil")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx",
])
def test_csv_cells_that_start_like_a_formula_are_quoted_as_text(value: str) -> None:
    row = exported(1, association_id=value, path="/" + value, caller=value)
    table = list(csv.reader(io.StringIO("".join(csv_chunks([row])))))
    cells = dict(zip(COLUMNS, table[1], strict=True))
    assert cells["association_id"] == "'" + value
    assert cells["caller"] == "'" + value
    assert cells["path"] == "/" + value
    assert cells["status"] == "200" and cells["latency_ms"] == "1.0"
    assert json.loads("".join(jsonl_chunks([row])))["association_id"] == value


def make_service(client: FlaskClient, name: str = "svc") -> str:
    answer = client.post("/api/v1/services", json={"name": name})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def ingest_records(app: Flask, tmp_path: Path, records: list[QueryRecord]) -> None:
    store = app.extensions["shipyard"].store
    with QuerySpool(tmp_path / "spool", flush_interval=60) as spool:
        for item in records:
            spool.submit(item)
    assert ingest_spool(store, tmp_path / "spool") == len(records)


def test_rows_come_oldest_first_in_their_range_across_pages(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    service_id = make_service(client)
    other_id = make_service(client, "other")
    # Several calls at the same instant: pages must still neither skip nor repeat one.
    records = [record(n // 3, request_id=f"r{n}", service_id=service_id) for n in range(30)]
    records.append(record(0, service_id=other_id))
    ingest_records(app, tmp_path, list(reversed(records)))
    log = QueryLog(app.extensions["shipyard"].store, page_size=4)
    everything = list(log.rows("svc"))
    assert len(everything) == 30
    assert sorted(r["request_id"] for r in everything) == sorted(f"r{n}" for n in range(30))
    assert [r["at"] for r in everything] == sorted(r["at"] for r in everything)
    window = list(log.rows(service_id, NOW + timedelta(seconds=2), NOW + timedelta(seconds=5)))
    assert len(window) == 9
    assert window[0]["at"] == (NOW + timedelta(seconds=2)).isoformat()
    with pytest.raises(NotFound):
        log.rows("nobody")


def test_bodies_go_in_byte_for_byte_and_out_with_their_encoding(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    service_id = make_service(client)
    image = bytes(range(256))
    ingest_records(app, tmp_path, [
        replace(whole(request_body=image, response_body=b'{"label": "cat"}'),
                request_id="image", service_id=service_id),
        replace(whole(request_body=b'{"x": 1}'), request_id="json", service_id=service_id),
    ])
    # A line spooled before bodies said how they are written holds UTF-8 text.
    earlier = entry_of(replace(whole(request_body=b"{}"), request_id="earlier",
                               service_id=service_id))
    del earlier["body_encoding"]
    (tmp_path / "spool" / "1-abc-00000009.jsonl").write_text(json.dumps(earlier) + "\n")
    assert ingest_spool(app.extensions["shipyard"].store, tmp_path / "spool") == 1

    lines = client.get("/api/v1/services/svc/queries").get_data(as_text=True).splitlines()
    rows = {row["request_id"]: row for row in map(json.loads, lines)}
    assert rows["image"]["body_encoding"] == "base64"
    assert base64.b64decode(rows["image"]["request_body"]) == image
    assert base64.b64decode(rows["image"]["response_body"]) == b'{"label": "cat"}'
    assert bodies_of(rows["json"]) == ('{"x": 1}', None, None, "utf-8")
    assert bodies_of(rows["earlier"]) == ("{}", None, None, "utf-8")
    table = csv.DictReader(io.StringIO(
        client.get("/api/v1/services/svc/queries?format=csv").get_data(as_text=True)))
    by_id = {row["request_id"]: row for row in table}
    assert base64.b64decode(by_id["image"]["request_body"]) == image
    assert by_id["image"]["body_encoding"] == "base64"


def test_the_api_exports_jsonl_and_csv(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    service_id = make_service(client)
    now = time.time()
    ingest_records(app, tmp_path, [
        record(0, at=now - 7200, request_id="old", service_id=service_id, generation="v1"),
        record(0, at=now - 60, request_id="new", service_id=service_id, generation="v2"),
    ])
    answer = client.get("/api/v1/services/svc/queries")
    assert answer.status_code == 200 and answer.mimetype == "application/x-ndjson"
    lines = answer.get_data(as_text=True).splitlines()
    assert [json.loads(line)["generation"] for line in lines] == ["v1", "v2"]
    recent = client.get("/api/v1/services/svc/queries?since=1h&format=csv")
    assert recent.status_code == 200 and recent.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(recent.get_data(as_text=True))))
    assert [row["request_id"] for row in table] == ["new"]
    assert client.get("/api/v1/services/svc/queries?until=1h").get_data(as_text=True).count(
        "\n") == 1


@pytest.mark.parametrize(
    ("query", "status", "named"),
    [
        ("since=soon", 400, "soon"),
        ("until=1y", 400, "1y"),
        ("format=xml", 400, "xml"),
    ],
)
def test_the_api_refuses_bad_exports(
    client: FlaskClient, query: str, status: int, named: str
) -> None:
    make_service(client)
    answer = client.get(f"/api/v1/services/svc/queries?{query}")
    assert answer.status_code == status
    assert named in answer.get_json()["error"]["message"]
    missing = client.get("/api/v1/services/nobody/queries")
    assert missing.status_code == 404 and missing.get_json()["error"]["type"] == "NotFound"


def test_the_api_needs_credentials(client: FlaskClient, anonymous_client: FlaskClient) -> None:
    make_service(client)
    assert anonymous_client.get("/api/v1/services/svc/queries").status_code == 401


# -- the service's query-log settings -------------------------------------------------


def test_query_log_settings_default_off_and_are_settable(client: FlaskClient) -> None:
    created = client.post("/api/v1/services", json={"name": "svc"}).get_json()
    assert created["collect_prediction_data"] is False
    assert created["association_id_field"] == ""
    changed = client.patch("/api/v1/services/svc", json={
        "collect_prediction_data": True, "association_id_field": "customer id é",
    }).get_json()
    assert changed["collect_prediction_data"] is True
    assert changed["association_id_field"] == "customer id é"
    assert client.get("/api/v1/services/svc").get_json()["association_id_field"] == \
        "customer id é"
    other = client.post("/api/v1/services", json={
        "name": "other", "collect_prediction_data": True, "association_id_field": "id",
    }).get_json()
    assert (other["collect_prediction_data"], other["association_id_field"]) == (True, "id")
    cleared = client.patch("/api/v1/services/other", json={"association_id_field": ""})
    assert cleared.get_json()["association_id_field"] == ""


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"collect_prediction_data": "true"}, "collect_prediction_data must be true or false"),
        ({"collect_prediction_data": 1}, "collect_prediction_data must be true or false"),
        ({"association_id_field": 7}, "association_id_field must be a string"),
        ({"association_id_field": None}, "association_id_field must be a string"),
        ({"association_id_field": "a" * 256}, "256 characters long"),
        ({"association_id_field": "a\nb"}, "control"),
        ({"association_id_field": "a\u200bb"}, "control"),
    ],
)
def test_bad_query_log_settings_are_refused(
    client: FlaskClient, changes: dict[str, Any], named: str
) -> None:
    client.post("/api/v1/services", json={"name": "svc"})
    for answer in (
        client.patch("/api/v1/services/svc", json=changes),
        client.post("/api/v1/services", json={"name": "new", **changes}),
    ):
        assert answer.status_code == 400
        assert answer.get_json()["error"]["type"] == "InvalidInput"
        assert named in answer.get_json()["error"]["message"]


def test_a_backlog_is_worked_off_over_several_calls(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shipyard.supervisor.query_ingest.FILES_PER_CALL", 2)
    spool = QuerySpool(tmp_path, flush_interval=60)
    for number in range(5):
        spool.submit(record(number))
        spool.flush()
    spool.close()
    assert [ingest_spool(store, tmp_path) for _ in range(4)] == [2, 2, 1, 0]
    assert [r.request_id for r in stored(store)] == [f"req-{n}" for n in range(5)]


def test_the_table_the_spool_line_the_ingest_and_the_export_share_one_column_list(
    app: Flask,
) -> None:
    """``QUERY_COLUMNS`` is the contract: the migrated table has exactly its columns (and
    an id), and every stage of a record carries them in its order."""
    from sqlalchemy import inspect

    from shipyard.contracts.query_entries import spool_line
    from shipyard.contracts.query_record import QUERY_COLUMN_NAMES
    from shipyard.supervisor.query_ingest import row_values

    engine = app.extensions["shipyard"].store.engine
    migrated = [column["name"] for column in inspect(engine).get_columns("query_log")]
    assert sorted(migrated) == sorted(["id", *QUERY_COLUMN_NAMES])
    entry = entry_of(record(1))
    assert tuple(entry) == QUERY_COLUMN_NAMES
    assert tuple(row_values(spool_entry(spool_line(record(1))))) == QUERY_COLUMN_NAMES
    assert COLUMNS == QUERY_COLUMN_NAMES
