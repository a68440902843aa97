"""``/api/v1/services/<ref>/actuals`` (the true outcomes of predictions, joined by
association id) and ``/accuracy`` (a model service's accuracy from them, per generation
and role, over a window and over time)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from shipyard.api.callers import require_collaborator
from shipyard.api.context import control_plane
from shipyard.api.query_args import checked_args
from shipyard.stats.windows import StatsWindow, parse_bucket_size

__all__ = ["actuals"]

actuals = Blueprint("actuals", __name__)

_WINDOW_ARGS = ("start", "end", "generation", "role")


@actuals.post("/<ref>/actuals")
def submit_actuals(ref: str) -> Response:
    """Send actuals: the true outcome of predictions, by association id.

    A JSON list of ``{"association_id", "actual_value", "timestamp"?, "was_acted_on"?}``,
    or ``text/csv`` with those columns in a header row; at most 100,000 rows a call. A
    resend of an id replaces its actual (nothing counts twice). The answer says how many
    rows matched a prediction (the service's ``monitoring.association_id_columns`` name
    the columns of each scored record that carry its id) and how many did not yet: those
    are kept, and count once their prediction is logged. A bad row refuses the whole
    upload, named, and nothing stored changes. Collaborators of the service only.
    ---
    tags: [accuracy]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: array
            maxItems: 100000
            items: {$ref: '#/components/schemas/Actual'}
        text/csv:
          schema: {type: string, example: "association_id,actual_value\\norder-1,setosa\\n"}
    responses:
      "200":
        description: What was stored and joined.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ActualsReceived'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      "413": {$ref: '#/components/responses/TooLarge'}
      default: {$ref: '#/components/responses/Error'}
    """
    service = require_collaborator(ref)
    return jsonify(control_plane().actuals.submit(
        service.id, request.get_data(), request.content_type or "application/json"))


@actuals.get("/<ref>/accuracy")
def service_accuracy(ref: str) -> Response:
    """A model service's accuracy from its actuals, overall and per generation and role.

    scikit-learn's metrics on the predictions joined to actuals: for a classification,
    accuracy, balanced accuracy, precision, recall, F1, AUC, log loss and the confusion
    matrix; for a regression, RMSE, MAE, MAPE, R² and gamma deviance. A window is whole
    hours of the predictions' times; by default the last 7 days. Collaborators of the
    service only.
    ---
    tags: [accuracy]
    parameters:
      - {$ref: '#/components/parameters/StatsStart'}
      - {$ref: '#/components/parameters/StatsEnd'}
      - {$ref: '#/components/parameters/StatsGeneration'}
      - {$ref: '#/components/parameters/StatsRole'}
    responses:
      "200":
        description: The metrics.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Accuracy'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    service = require_collaborator(ref)
    args = checked_args(_WINDOW_ARGS)
    return jsonify(control_plane().accuracy.summary(
        service.id, StatsWindow.parse(args.get("start"), args.get("end")),
        generation=args.get("generation"), role=args.get("role")))


@actuals.get("/<ref>/accuracy/over-time")
def accuracy_over_time(ref: str) -> Response:
    """A model service's accuracy bucket by bucket, per generation and role, several
    metrics side by side.

    Buckets of ``bucket_size`` (whole hours: PT1H, P1D; P1D by default); ``metric`` one
    or several, comma-separated (all of the problem type's by default). Collaborators of
    the service only.
    ---
    tags: [accuracy]
    parameters:
      - {$ref: '#/components/parameters/StatsStart'}
      - {$ref: '#/components/parameters/StatsEnd'}
      - {$ref: '#/components/parameters/StatsGeneration'}
      - {$ref: '#/components/parameters/StatsRole'}
      - name: bucket_size
        in: query
        schema: {type: string, default: P1D, example: PT6H}
      - name: metric
        in: query
        description: One metric, or several separated by commas.
        schema: {type: string, example: "accuracy,f1"}
    responses:
      "200":
        description: The buckets of each generation and role.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/AccuracyOverTime'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    service = require_collaborator(ref)
    args = checked_args((*_WINDOW_ARGS, "bucket_size", "metric"))
    named = args.get("metric")
    metrics = [name.strip() for name in named.split(",") if name.strip()] if named else None
    return jsonify(control_plane().accuracy.over_time(
        service.id, StatsWindow.parse(args.get("start"), args.get("end")),
        parse_bucket_size(args.get("bucket_size") or "P1D"), metrics,
        generation=args.get("generation"), role=args.get("role")))
