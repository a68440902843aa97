"""Numbers past 32 bits are stored whole on every database: an instance's memory, a batch
job's input size and rows, the query log's byte counts and its ids (SQLite's integers are
64-bit; PostgreSQL's ``integer`` is not, hence migration 0028's ``bigint``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert, select, text

from shipyard.store import BatchJobRow, GenerationRow, InstanceRow, QueryLogRow, Store
from shipyard.store.bulk_insert import insert_many

BIG = 5 * 2**30
"""5 GiB: past 2**31 and 2**32."""


def store_of(app: Flask) -> Store:
    return app.extensions["shipyard"].store


def test_an_instances_memory_and_a_batch_jobs_size_past_32_bits_are_kept(
    app: Flask, client: FlaskClient
) -> None:
    assert client.post("/api/v1/services", json={"name": "svc"}).status_code == 201
    assert client.post("/api/v1/services/svc/enable").status_code == 200
    assert client.post("/api/v1/services/svc/deploy").status_code == 202
    store = store_of(app)
    now = datetime.now(UTC)
    with store.writing() as session:
        generation = session.scalars(select(GenerationRow)).one()
        session.add(InstanceRow(id="i-1", service_id=generation.service_id,
                                generation_id=generation.id, state="healthy",
                                memory_bytes=BIG))
        session.add(BatchJobRow(
            id="job", service_id=generation.service_id, created_at=now,
            created_by="user:admin", caller_kind="user", caller_id="u", state="running",
            message="", input_format="csv", input_bytes=BIG, output_format="csv",
            chunk_size=10, passthrough=[], generations=[], rows_total=BIG, rows_done=BIG,
            chunks_done=0, cancel_requested=False, rows_at_resume=BIG,
            expires_at=now + timedelta(days=1)))
    with store.reading() as session:
        assert session.scalar(select(InstanceRow.memory_bytes)) == BIG
        job = session.get_one(BatchJobRow, "job")
        assert (job.input_bytes, job.rows_total, job.rows_done, job.rows_at_resume) == (
            BIG, BIG, BIG, BIG)


def test_the_query_log_counts_bytes_and_numbers_calls_past_32_bits(app: Flask,
                                                                  database: str) -> None:
    table = QueryLogRow.__table__
    store = store_of(app)
    call = {"at": datetime.now(UTC), "request_id": "r", "service_id": "s", "method": "GET",
            "path": "/", "status": 200, "latency_ms": 1.0, "request_bytes": BIG,
            "response_bytes": BIG + 1}
    with store.writing() as session:  # the 2**31 - 1 calls before
        if database == "postgresql":
            session.execute(text(f"SELECT setval('query_log_id_seq', {2**31 - 1})"))
        else:
            session.execute(insert(table), [call | {"id": 2**31 - 1}])
    with store.writing() as session:
        insert_many(session, table, [call])
    with store.reading() as session:
        found = session.execute(select(table.c.id, table.c.request_bytes,
                                       table.c.response_bytes)
                                .order_by(table.c.id.desc()).limit(1)).one()
    assert tuple(found) == (2**31, BIG, BIG + 1)
