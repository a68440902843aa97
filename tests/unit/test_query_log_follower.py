"""The leader's view of the calls every node stores (the autoscaler's load): each row once,
rows committed out of id order included, and nothing from before it began to follow."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from shipyard.store import QueryLogRow, Store
from shipyard.supervisor import query_log_follower
from shipyard.supervisor.query_log_follower import QueryLogFollower
from tests.conftest import store_url

_LOG = QueryLogRow.__table__


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    store = Store(store_url(database_url, tmp_path))
    if not database_url:
        store.migrate()
    yield store
    store.dispose()


def call(row_id: int, generation: str = "v1") -> dict[str, Any]:
    return {"id": row_id, "at": datetime.now(UTC), "request_id": f"r{row_id}",
            "service_id": "svc_a", "generation": generation, "method": "POST", "path": "/",
            "status": 200, "latency_ms": 5.0, "request_bytes": 0, "response_bytes": 0,
            "caller": ""}


def store_calls(store: Store, *ids: int) -> None:
    with store.writing() as session:
        session.execute(insert(_LOG), [call(row_id) for row_id in ids])


def test_each_row_is_seen_once_even_when_committed_out_of_order(store: Store) -> None:
    seen: list[int] = []
    follower = QueryLogFollower(store, lambda rows: seen.extend(row["id"] for row in rows))
    store_calls(store, 1, 2)
    assert follower.poll() == 0  # what was stored before it followed is not load now
    store_calls(store, 3, 4, 8, 9)  # 5 to 7: another node's ingest, not committed yet
    follower.poll()
    assert seen == [3, 4, 8, 9]
    store_calls(store, 6)
    store_calls(store, 10)
    follower.poll()
    assert seen == [3, 4, 8, 9, 6, 10]
    store_calls(store, 5, 7)
    follower.poll()
    follower.poll()
    assert sorted(seen) == list(range(3, 11)) and len(seen) == 8


def test_ids_that_never_come_are_given_up(store: Store, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    seen: list[int] = []
    follower = QueryLogFollower(store, lambda rows: seen.extend(row["id"] for row in rows))
    follower.poll()
    store_calls(store, 1, 5)
    follower.poll()
    assert follower._gaps and follower._gaps[0][:2] == (2, 4)
    monkeypatch.setattr(query_log_follower, "SETTLE", -1.0)
    follower.poll()
    assert follower._gaps == []
    store_calls(store, 3)  # too late to count as load now
    follower.poll()
    assert seen == [1, 5]
