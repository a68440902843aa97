"""The rows a model service scored in one call, read back from the bodies the gateway
kept: the features of each record of the request, its association id (the values of the
service's association columns), and the prediction the answer gave it.

A request is read as the model service's predict route reads it: JSON records, a JSON
``{"columns": [...], "data": [[...], ...]}``, or CSV rows in the model's feature order
under an optional header row naming them. Values are taken as sent; one of the wrong
type is counted in its feature's ``missing`` bin, as the route would refuse it. A body
that cannot be read (cut at the gateway's size cap, or not one of those forms) is a data
error of its call, never a crash of the fold.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.contracts.routing_table import INVOKE_PREFIX

__all__ = [
    "MAX_ASSOCIATION_ID", "ScoredAnswer", "ScoredCall", "ScoredRows", "answer_of",
    "association_id_of", "predictions_of", "scored_rows",
]

MAX_ASSOCIATION_ID = 255
"""Characters an association id may have; a longer one is no id."""


@dataclass(frozen=True)
class ScoredCall:
    """What the ingest hands the drift fold of one call to a monitored service."""

    service_id: str
    at: float
    """Epoch seconds."""
    generation: str | None
    status: int
    request: str | None
    response: str | None
    challenger_generation: str | None = None
    challenger_status: int | None = None
    challenger_response: str | None = None
    path: str = ""
    """The path called through the gateway (``/user-services/invoke/<service>/<route>``),
    query included; "" when unknown (taken as the predict route)."""
    role: str | None = None
    """The query log's role: ``BATCH_ROLE`` for a batch job's call, None for a live one."""

    def scores_at(self, predict_path: str) -> bool:
        """Whether the call went to the service's ``predict_path`` (the only route whose
        rows count)."""
        if not self.path:
            return True
        path = self.path.split("?", 1)[0]
        if path.startswith(INVOKE_PREFIX):
            _service, _, route = path[len(INVOKE_PREFIX):].partition("/")
            path = "/" + route
        return path == predict_path


@dataclass(frozen=True)
class ScoredRows:
    columns: dict[str, list[Any]]
    """Each feature's values, one per row; a feature a record lacks is None there."""
    count: int
    ids: list[str | None] | None = None
    """Each row's association id (None where it has none); None when no association
    column was asked for."""


@dataclass(frozen=True)
class ScoredAnswer:
    predictions: list[Any]
    probabilities: list[Any] | None = None
    """Per row, the probability of each of ``classes``."""
    classes: list[Any] | None = None


def scored_rows(
    body: str | None, features: Sequence[Mapping[str, str]], id_columns: Sequence[str] = (),
) -> ScoredRows | None:
    """The rows of a request ``body`` to a model with ``features`` ({name, type}, in the
    model's order), with their association ids when ``id_columns`` name any; None when
    the body cannot be read as rows."""
    if not body:
        return None
    names = [feature["name"] for feature in features]
    ids = list(id_columns)
    try:
        document = json.loads(body)
    except ValueError:
        # JSON cut at the size cap is unreadable, not CSV.
        return None if body.lstrip()[:1] in ("[", "{") else _csv_rows(body, features, ids)
    if isinstance(document, list):
        if not all(isinstance(record, dict) for record in document):
            return None
        return ScoredRows(
            {name: [record.get(name) for record in document] for name in names},
            len(document),
            [association_id_of([record.get(column) for column in ids]) for record in document]
            if ids else None)
    if isinstance(document, dict):
        columns, data = document.get("columns"), document.get("data")
        if not isinstance(columns, list) or not isinstance(data, list) \
                or not all(isinstance(values, list) for values in data):
            return None
        place = {column: index for index, column in enumerate(columns)
                 if isinstance(column, str)}
        return ScoredRows(
            {name: [_at(values, place.get(name)) for values in data] for name in names},
            len(data),
            [association_id_of([_at(values, place.get(column)) for column in ids])
             for values in data] if ids else None)
    return None


def association_id_of(values: Sequence[Any]) -> str | None:
    """The association id a row's association column values make: one value as text,
    several as a JSON list; None when one is missing (or the id is too long)."""
    if not values or any(value is None or isinstance(value, dict | list) for value in values):
        return None
    if len(values) == 1:
        value = values[0]
        text = value if isinstance(value, str) else json.dumps(value)
    else:
        text = json.dumps(list(values), separators=(",", ":"))
    return text if 0 < len(text) <= MAX_ASSOCIATION_ID else None


def answer_of(body: str | None, rows: int) -> ScoredAnswer | None:
    """The predictions (and class probabilities) of a model service's answer, when it
    gives one per row."""
    if not body:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    predictions = document.get("predictions")
    if not isinstance(predictions, list) or len(predictions) != rows:
        return None
    probabilities, classes = document.get("probabilities"), document.get("classes")
    if not (isinstance(probabilities, list) and isinstance(classes, list)
            and len(probabilities) == rows):
        probabilities = classes = None
    return ScoredAnswer(predictions, probabilities, classes)


def predictions_of(body: str | None, rows: int) -> list[Any] | None:
    """The ``predictions`` of a model service's answer, when it gives one per row."""
    answer = answer_of(body, rows)
    return None if answer is None else answer.predictions


def _at(values: list[Any], index: int | None) -> Any:
    return values[index] if index is not None and index < len(values) else None


def _csv_rows(body: str, features: Sequence[Mapping[str, str]],
              ids: Sequence[str]) -> ScoredRows | None:
    try:
        lines = [line for line in csv.reader(io.StringIO(body.removeprefix("\ufeff")))
                 if line]
    except csv.Error:
        return None
    if not lines:
        return None
    names = [feature["name"] for feature in features]
    first = [cell.strip() for cell in lines[0]]
    header = sorted(cell for cell in first if cell not in ids) == sorted(names)
    if header:
        order, lines = first, lines[1:]
    else:
        order = names
    place = {name: index for index, name in enumerate(order)}
    columns = {feature["name"]: _column(lines, place[feature["name"]], feature.get("type"))
               for feature in features}
    row_ids = None
    if ids:
        row_ids = [association_id_of([_at(line, place.get(column)) for column in ids])
                   for line in lines]
    return ScoredRows(columns, len(lines), row_ids)


def _column(lines: list[list[str]], index: int, kind: str | None) -> list[Any]:
    """Column ``index`` of CSV ``lines`` as ``_from_text`` reads each cell; a column of
    numbers at once (float skips the whitespace around a number, as ``_from_text``)."""
    if not all(len(line) > index for line in lines):
        return [_from_text(_at(line, index), kind) for line in lines]
    cells = [line[index] for line in lines]
    if kind in ("number", "integer"):
        try:
            return list(map(float, cells))
        except ValueError:
            pass  # a cell that is no number: read one by one
    return [_from_text(cell, kind) for cell in cells]


def _from_text(text: str | None, kind: str | None) -> Any:
    """A CSV cell as the model service reads it for a feature of ``kind``; None when it
    cannot be read so (counted as missing)."""
    if text is None:
        return None
    text = text.strip()
    if kind in ("number", "integer"):
        try:
            return float(text)
        except ValueError:
            return None
    if kind == "boolean":
        return {"true": True, "1": True, "false": False, "0": False}.get(text.lower())
    return text
