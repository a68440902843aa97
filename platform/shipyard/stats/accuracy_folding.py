"""``refold_hours``: the accuracy rollups of a service's hours, made again from the scored
rows of each hour joined to their actuals.

Actuals come late and may be sent again (a correction replaces the first), so an hour's
accuracy is never added to piecemeal: each upload makes again the hours its matched rows
were scored in, from every joined pair of those hours. That is exact and idempotent (a
resend changes nothing but what it corrects), and costs what the touched hours hold,
never the service's whole history; a question over any window then merges hourly
rollups (``accuracy_queries``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, func, insert, select
from sqlalchemy.orm import Session

from shipyard.contracts.query_record import BATCH_ROLE
from shipyard.stats.accuracy_rollup import AccuracyRollup, ClassificationRollup, rollup_for
from shipyard.stats.drift_profiles import model_details
from shipyard.stats.rollup import HOUR
from shipyard.store import (
    AccuracyRollupRow,
    ActualRow,
    BatchScoredRowRow,
    ScoredRowRow,
    lock_services,
)

__all__ = ["actual_like", "hour_of", "joins_its_actual", "refold_hours"]

log = logging.getLogger(__name__)

_ROLLUPS = AccuracyRollupRow.__table__
_ACTUALS = ActualRow.__table__


def hour_of(at: float) -> int:
    return int(at) // HOUR * HOUR


def joins_its_actual(scored: Table) -> ColumnElement[bool]:
    """What joins a row of ``scored`` (``scored_rows``, ``batch_scored_rows``) to the
    actual sent for its id: in a join, or in an ``exists`` that asks whether an actual's
    id is carried."""
    return ((_ACTUALS.c.service_id == scored.c.service_id)
            & (_ACTUALS.c.association_id == scored.c.association_id))


def refold_hours(session: Session, hours: Iterable[tuple[str, int]],
                 models: dict[tuple[str, str], dict[str, Any] | None] | None = None) -> int:
    """Make again the accuracy rollups of each (service id, hour start); how many rows
    were joined. ``models`` holds the ``model_details`` of (service id, generation) read
    already in this transaction, and takes those read here."""
    joined = 0
    models = {} if models is None else models
    problems: dict[tuple[str, str], str | None] = {}
    wanted = sorted(set(hours))
    # An hour's rollups are deleted and made again from its rows: on PostgreSQL two
    # transactions doing so at once (an upload of actuals in the API, the ingest in the
    # supervisor) would each miss the other's rows, and the second insert would clash with
    # the first's. Their services' rows, locked in one order, make them take turns, and
    # the second reads what the first committed (READ COMMITTED reads anew per statement).
    lock_services(session, {service_id for service_id, _ in wanted})
    for service_id, start in wanted:
        rollups: dict[tuple[str, str], AccuracyRollup] = {}
        for row, pairs in _joined(session, service_id, start):
            actual = json.loads(row.actual_value)
            for role, generation, prediction, scores in pairs:
                if generation is None or prediction is None:
                    continue
                if (service_id, generation) not in problems:
                    if (service_id, generation) not in models:
                        models[(service_id, generation)] = model_details(session, service_id,
                                                                         generation)
                    details = models[(service_id, generation)]
                    problems[(service_id, generation)] = (
                        None if details is None else details.get("problem_type"))
                problem = problems[(service_id, generation)]
                if problem is None:
                    continue
                rollup = rollups.get((generation, role))
                if rollup is None:
                    rollup = rollups[(generation, role)] = rollup_for(problem)
                if _add(rollup, actual, json.loads(prediction), scores, row.count):
                    joined += row.count if role != "challenger" else 0
        session.execute(delete(_ROLLUPS).where(_ROLLUPS.c.service_id == service_id,
                                               _ROLLUPS.c.start == start))
        if rollups:
            session.execute(insert(_ROLLUPS), [
                {"service_id": service_id, "start": start, "generation": generation,
                 "role": role, "problem_type": problems[(service_id, generation)],
                 "rows": rollup.rows, "rollup": rollup.to_bytes()}
                for (generation, role), rollup in rollups.items()
            ])
    return joined


# Alike pairs come counted: a classification without probabilities is a few groups
# however many rows it has. The columns that tell groups apart most often come first,
# which shortens the sort of the grouping.
_LIVE_COLUMNS = (ActualRow.actual_value, ScoredRowRow.prediction, ScoredRowRow.scores,
                 ScoredRowRow.generation, ScoredRowRow.challenger_prediction,
                 ScoredRowRow.challenger_generation, ScoredRowRow.challenger_scores)
_BATCH_COLUMNS = (ActualRow.actual_value, BatchScoredRowRow.prediction,
                  BatchScoredRowRow.scores, BatchScoredRowRow.generation)

_Pair = tuple[str, str | None, str | None, str | None]
"""(role, generation, prediction, scores) of a joined row."""


def _joined(session: Session, service_id: str, start: int
            ) -> Iterable[tuple[Any, tuple[_Pair, ...]]]:
    """The hour's scored rows joined to their actuals, alike ones counted together (the
    row's ``count``): each with the predictions it holds, by role. A live row holds its
    generation's (``main``) and its challenger's; a batch job's row one generation's,
    in the role ``batch``."""
    for row in _counted_pairs(session, ScoredRowRow, _LIVE_COLUMNS, service_id, start):
        yield row, (("main", row.generation, row.prediction, row.scores),
                    ("challenger", row.challenger_generation, row.challenger_prediction,
                     row.challenger_scores))
    for row in _counted_pairs(session, BatchScoredRowRow, _BATCH_COLUMNS, service_id, start):
        yield row, ((BATCH_ROLE, row.generation, row.prediction, row.scores),)


def _counted_pairs(session: Session, scored: type[ScoredRowRow] | type[BatchScoredRowRow],
                   columns: tuple[Any, ...], service_id: str, start: int) -> Iterable[Any]:
    """``columns`` of the hour's rows of the table ``scored`` joined to their actuals, with
    the ``count`` of each alike group."""
    return session.execute(
        select(*columns, func.count().label("count"))
        .join(ActualRow, joins_its_actual(scored.__table__))
        .where(scored.service_id == service_id, scored.at >= start, scored.at < start + HOUR)
        .group_by(*columns)
    )


def _add(rollup: AccuracyRollup, actual: Any, predicted: Any, scores: str | None,
         count: int) -> bool:
    """Count ``count`` alike pairs; False (and logged) for a pair the rollup cannot
    take."""
    try:
        if isinstance(rollup, ClassificationRollup):
            if scores is None:
                rollup.add(actual_like(actual, predicted, None), predicted, count=count)
                return True
            found = json.loads(scores)
            probabilities, classes = found["probabilities"], found["classes"]
            for _ in range(count):
                rollup.add(actual_like(actual, predicted, classes), predicted, probabilities,
                           classes)
        else:
            for _ in range(count):
                rollup.add(actual, predicted)
    except ValueError as exc:
        log.debug("an actual left out of accuracy: %s", exc)
        return False
    return True


def actual_like(actual: Any, predicted: Any, classes: list[Any] | None) -> Any:
    """``actual`` as the model's own label where it only differs in type (CSV actuals are
    text: "1" for the class 1)."""
    if not isinstance(actual, str) or isinstance(predicted, str):
        return actual
    for label in [predicted, *(classes or ())]:
        if not isinstance(label, str) and _text(label) == actual.strip():
            return label
    return actual


def _text(label: Any) -> str:
    if isinstance(label, bool):
        return "true" if label else "false"
    if isinstance(label, float) and label.is_integer():
        return str(int(label))
    return str(label)
