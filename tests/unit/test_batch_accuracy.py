"""A batch job's rows join their actuals as live calls' do, in a role of their own
(``batch``), one prediction per generation the job scored with; a job never replaces the
prediction a live call made under the same id."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask

from shipyard.contracts.query_record import BATCH_ROLE
from shipyard.stats.scored_rows import ScoredCall
from tests.credentials import SigningClient
from tests.unit.test_accuracy import (  # noqa: F401 (flowers is a fixture)
    ONE_HOUR_AGO,
    TWO_HOURS_AGO,
    accuracy,
    flowers,
    keep,
    scored_call,
    send,
)


def batch_call(service_id: str, at: float, generation: str, ids: list[str],
               predictions: list[str]) -> ScoredCall:
    """A batch job's call, as the ingest hands it over: CSV rows with the id column the
    job sends (``association_column``), no challenger copy."""
    body = "order_id,a,b\n" + "".join(f"{ident},1.0,2.0\n" for ident in ids)
    return ScoredCall(service_id=service_id, at=at, generation=generation, status=200,
                      request=body, response=json.dumps({"predictions": predictions}),
                      role=BATCH_ROLE)


def by_generation(body: dict[str, Any], role: str) -> dict[str, dict[str, Any]]:
    return {g["generation"]: g for g in body["generations"] if g["role"] == role}


def test_a_jobs_rows_join_their_actuals_in_the_batch_role_for_each_generation(
    app: Flask, client: SigningClient, flowers: str  # noqa: F811
) -> None:
    live_ids = [f"live-{n}" for n in range(10)]
    keep(app, [scored_call(flowers, ONE_HOUR_AGO, live_ids, ["big"] * 10,
                           challenger=["small"] * 10)])
    job_ids = [f"job-{n}" for n in range(20)]
    v1 = ["big"] * 15 + ["small"] * 5
    v2 = ["small"] * 20
    # The main and the challenger score the same chunk in calls of their own.
    assert keep(app, [batch_call(flowers, ONE_HOUR_AGO + 5, "v1", job_ids, v1),
                      batch_call(flowers, ONE_HOUR_AGO + 6, "v2", job_ids, v2)]) == 40

    sent = send(client, "flowers", [{"association_id": ident, "actual_value": "big"}
                                    for ident in [*live_ids, *job_ids, "nobody"]])
    assert sent.get_json() == {"received": 31, "matched": 30, "unmatched": 1, "updated": 0}

    body = accuracy(client, "flowers")
    batch = by_generation(body, "batch")
    assert (batch["v1"]["rows"], batch["v1"]["accuracy"]) == (20, 0.75)
    assert (batch["v2"]["rows"], batch["v2"]["accuracy"]) == (20, 0.0)
    # The live figures hold the live calls alone.
    assert (by_generation(body, "main")["v1"]["rows"], body["overall"]["rows"]) == (10, 10)
    assert body["overall"]["accuracy"] == 1.0
    assert by_generation(body, "challenger")["v2"]["rows"] == 10
    assert by_generation(accuracy(client, "flowers", role="batch"), "batch") == batch


def test_a_job_never_replaces_a_live_prediction_under_the_same_id(
    app: Flask, client: SigningClient, flowers: str  # noqa: F811
) -> None:
    keep(app, [scored_call(flowers, ONE_HOUR_AGO, ["order-1"], ["big"])])
    keep(app, [batch_call(flowers, ONE_HOUR_AGO + 60, "v1", ["order-1"], ["small"])])
    sent = send(client, "flowers", [{"association_id": "order-1", "actual_value": "big"}])
    assert sent.get_json()["matched"] == 1
    body = accuracy(client, "flowers")
    assert (body["overall"]["rows"], body["overall"]["accuracy"]) == (1, 1.0)
    assert by_generation(body, "batch")["v1"]["accuracy"] == 0.0


def test_a_job_row_scored_after_its_actual_counts_and_a_score_again_replaces_it(
    app: Flask, client: SigningClient, flowers: str  # noqa: F811
) -> None:
    early = send(client, "flowers", [{"association_id": "late-1", "actual_value": "big"}])
    assert early.get_json()["unmatched"] == 1
    keep(app, [batch_call(flowers, TWO_HOURS_AGO, "v1", ["late-1"], ["small"])])
    batch = by_generation(accuracy(client, "flowers"), "batch")
    assert (batch["v1"]["rows"], batch["v1"]["accuracy"]) == (1, 0.0)
    # Scored again by the same generation an hour later: the new prediction replaces the
    # first, and the first one's hour no longer counts it.
    keep(app, [batch_call(flowers, ONE_HOUR_AGO, "v1", ["late-1"], ["big"])])
    batch = by_generation(accuracy(client, "flowers"), "batch")
    assert (batch["v1"]["rows"], batch["v1"]["accuracy"]) == (1, 1.0)
    # Actuals sent again find the job's row: matched, and its hour made again.
    again = send(client, "flowers", [{"association_id": "late-1", "actual_value": "small"}])
    assert again.get_json() == {"received": 1, "matched": 1, "unmatched": 0, "updated": 1}
    batch = by_generation(accuracy(client, "flowers"), "batch")
    assert (batch["v1"]["rows"], batch["v1"]["accuracy"]) == (1, 0.0)
