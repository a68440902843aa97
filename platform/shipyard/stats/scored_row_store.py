"""``keep_scored_rows``: each row a monitored model service scored under an association id,
kept with its prediction (and its challenger's) for actuals to join, in the ingest's
transaction. One id per row: a records body of 50 rows with ``customer_id`` keeps 50.

A row scored again under an id replaces the earlier one; where an actual is already
stored for an id (sent before its prediction reached the log), the accuracy of that
prediction's hour is made again (``refold_hours``).

A batch job's rows are kept apart (``batch_scored_rows``), one per id and generation: a
job scores with the main and the challenger in calls of their own, and an id it scores
must never replace the prediction a live call made under it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.contracts.query_record import BATCH_ROLE
from shipyard.stats.accuracy_folding import hour_of, joins_its_actual, refold_hours
from shipyard.stats.drift_profiles import GenerationModel, generation_model
from shipyard.stats.monitoring_settings import monitoring_of
from shipyard.stats.scored_rows import ScoredAnswer, ScoredCall, answer_of, scored_rows
from shipyard.store import ActualRow, BatchScoredRowRow, ScoredRowRow, ServiceRow
from shipyard.store.upserts import upsert

__all__ = ["keep_scored_rows"]

_TABLE = ScoredRowRow.__table__
_BATCH_TABLE = BatchScoredRowRow.__table__


def keep_scored_rows(session: Session, calls: Iterable[ScoredCall]) -> int:
    """Keep the rows of ``calls`` that carry an association id; how many were kept."""
    columns: dict[str, tuple[str, ...]] = {}
    models: dict[tuple[str, str], GenerationModel | None] = {}
    kept: dict[tuple[str, str], dict[str, Any]] = {}
    kept_for_batch: dict[tuple[str, str, str], dict[str, Any]] = {}
    for call in calls:
        if call.service_id not in columns:
            service = session.get(ServiceRow, call.service_id)
            columns[call.service_id] = (
                monitoring_of(service).association_id_columns if service is not None else ())
        ids = columns[call.service_id]
        if not ids or not call.generation or not 200 <= call.status < 300:
            continue
        place = (call.service_id, call.generation)
        if place not in models:
            models[place] = generation_model(session, *place)
        model = models[place]
        if model is None or not call.scores_at(model.predict_path):
            continue
        rows = scored_rows(call.request, model.details["features"], ids)
        if rows is None or rows.ids is None:
            continue
        main = answer_of(call.response, rows.count)
        if call.role == BATCH_ROLE:
            for index, association_id in enumerate(rows.ids):
                if association_id is not None:
                    kept_for_batch[(call.service_id, association_id, call.generation)] = {
                        "service_id": call.service_id, "association_id": association_id,
                        "generation": call.generation, "at": call.at,
                        "prediction": _prediction(main, index),
                        "scores": _scores(main, index),
                    }
            continue
        challenger = None
        if call.challenger_generation and call.challenger_status is not None \
                and 200 <= call.challenger_status < 300:
            challenger = answer_of(call.challenger_response, rows.count)
        for index, association_id in enumerate(rows.ids):
            if association_id is None:
                continue
            kept[(call.service_id, association_id)] = {
                "service_id": call.service_id, "association_id": association_id,
                "at": call.at, "generation": call.generation,
                "prediction": _prediction(main, index), "scores": _scores(main, index),
                "challenger_generation": call.challenger_generation if challenger else None,
                "challenger_prediction": _prediction(challenger, index),
                "challenger_scores": _scores(challenger, index),
            }
    if not kept and not kept_for_batch:
        return 0
    hours = (_hours_to_refold(session, ScoredRowRow, kept)
             | _hours_to_refold(session, BatchScoredRowRow, kept_for_batch))
    upsert(session, _TABLE, list(kept.values()))
    upsert(session, _BATCH_TABLE, list(kept_for_batch.values()))
    refold_hours(session, hours)
    return len(kept) + len(kept_for_batch)


def _hours_to_refold(
    session: Session, scored: type[ScoredRowRow] | type[BatchScoredRowRow],
    kept: Mapping[tuple[str, ...], dict[str, Any]],
) -> set[tuple[str, int]]:
    """The hours whose accuracy storing ``kept`` in ``scored`` changes, read before they
    are stored: for each row whose id has an actual, its own hour, and the hour of the row
    it replaces. ``kept`` is keyed by (service id, association id), and by the generation
    too for a batch job's rows."""
    by_generation = scored is BatchScoredRowRow
    ids_by_service: dict[str, dict[str, None]] = {}  # a batch id comes once per generation
    for key in kept:
        ids_by_service.setdefault(key[0], {})[key[1]] = None
    with_actual: set[tuple[str, str]] = set()
    stored: dict[tuple[str, ...], float] = {}
    for service_id, unique_ids in ids_by_service.items():
        ids = list(unique_ids)
        for start in range(0, len(ids), 500):
            for association_id, at, *generation in session.execute(
                select(ActualRow.association_id, scored.at,
                       *((scored.generation,) if by_generation else ()))
                .outerjoin(scored, joins_its_actual(scored.__table__))
                .where(ActualRow.service_id == service_id,
                       ActualRow.association_id.in_(ids[start:start + 500]))
            ):
                with_actual.add((service_id, association_id))
                if at is not None:
                    stored[(service_id, association_id, *generation)] = at
    hours: set[tuple[str, int]] = set()
    for key, row in kept.items():
        if key[:2] in with_actual:
            hours.add((key[0], hour_of(row["at"])))
            if key in stored:
                hours.add((key[0], hour_of(stored[key])))
    return hours


def _prediction(answer: ScoredAnswer | None, index: int) -> str | None:
    return None if answer is None else json.dumps(answer.predictions[index])


def _scores(answer: ScoredAnswer | None, index: int) -> str | None:
    if answer is None or answer.probabilities is None or answer.classes is None:
        return None
    return json.dumps({"classes": answer.classes,
                       "probabilities": answer.probabilities[index]})
