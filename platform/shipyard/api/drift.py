"""``/api/v1/services/<ref>/drift/...``: a model service's feature and target drift over
a window, over time, and the histograms it is measured on."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from shipyard.api.callers import require_collaborator
from shipyard.api.context import control_plane
from shipyard.api.query_args import checked_args
from shipyard.errors import InvalidInput
from shipyard.stats.drift_profile import PREDICTION
from shipyard.stats.windows import StatsWindow, parse_bucket_size

__all__ = ["drift"]

drift = Blueprint("drift", __name__)

_WINDOW_ARGS = ("start", "end", "generation", "role")


@drift.get("/<ref>/drift/features")
def feature_drift(ref: str) -> Response:
    """Each feature's drift from the model's baseline over a window, most drifted first.

    PSI, Jensen-Shannon and Hellinger distances, the Wasserstein distance in baseline
    standard deviations (numbers), and a test with its p-value (Kolmogorov-Smirnov for
    numbers, chi-squared for categories), with the rows on each side. A feature is
    ``drifted`` at the service's thresholds (``monitoring.drift_thresholds``), its test
    Bonferroni-corrected across the features; a window with too few rows is
    ``too_small`` and never drifted. Without ``generation``, the newest generation and
    those binned the same way (the same model baseline). Whole hours; by default the
    last 7 days. Collaborators of the service only.
    ---
    tags: [drift]
    parameters:
      - {$ref: '#/components/parameters/StatsStart'}
      - {$ref: '#/components/parameters/StatsEnd'}
      - {$ref: '#/components/parameters/StatsGeneration'}
      - {$ref: '#/components/parameters/StatsRole'}
      - name: metric
        in: query
        description: What the features are sorted by.
        schema: {type: string, enum: [psi, js_distance, hellinger, wasserstein, p_value],
                 default: psi}
    responses:
      "200":
        description: The features' drift.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/FeatureDrift'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    service = require_collaborator(ref)
    args = checked_args((*_WINDOW_ARGS, "metric"))
    return jsonify(control_plane().drift.features(
        service.id, _window(args), service.monitoring.drift_thresholds,
        generation=args.get("generation"), role=args.get("role"),
        metric=args.get("metric") or "psi",
    ))


@drift.get("/<ref>/drift/target")
def target_drift(ref: str) -> Response:
    """The prediction's drift from the model's predictions on its baseline.

    The same measures as a feature's; ``target`` is null until the supervisor has had
    the model's predictions on its baseline (taken before a generation serves).
    Collaborators of the service only.
    ---
    tags: [drift]
    parameters:
      - {$ref: '#/components/parameters/StatsStart'}
      - {$ref: '#/components/parameters/StatsEnd'}
      - {$ref: '#/components/parameters/StatsGeneration'}
      - {$ref: '#/components/parameters/StatsRole'}
    responses:
      "200":
        description: The target's drift.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/TargetDrift'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    service = require_collaborator(ref)
    args = checked_args(_WINDOW_ARGS)
    return jsonify(control_plane().drift.target(
        service.id, _window(args), service.monitoring.drift_thresholds,
        generation=args.get("generation"), role=args.get("role"),
    ))


@drift.get("/<ref>/drift/over-time")
def drift_over_time(ref: str) -> Response:
    """One feature's (or ``prediction``'s) drift bucket by bucket, for charts.

    Buckets of ``bucket_size`` (whole hours: PT1H, PT6H, P1D; P1D by default), each
    compared with the baseline on its own. Collaborators of the service only.
    ---
    tags: [drift]
    parameters:
      - {$ref: '#/components/parameters/StatsStart'}
      - {$ref: '#/components/parameters/StatsEnd'}
      - {$ref: '#/components/parameters/StatsGeneration'}
      - {$ref: '#/components/parameters/StatsRole'}
      - name: feature
        in: query
        required: true
        description: A feature's name, or prediction.
        schema: {type: string, example: petal_length}
      - name: bucket_size
        in: query
        schema: {type: string, default: P1D, example: PT6H}
    responses:
      "200":
        description: The buckets.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/DriftOverTime'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    service = require_collaborator(ref)
    args = checked_args((*_WINDOW_ARGS, "feature", "bucket_size"))
    return jsonify(control_plane().drift.over_time(
        service.id, _window(args), service.monitoring.drift_thresholds, _feature(args),
        parse_bucket_size(args.get("bucket_size") or "P1D"),
        generation=args.get("generation"), role=args.get("role"),
    ))


@drift.get("/<ref>/drift/distribution")
def drift_distribution(ref: str) -> Response:
    """A feature's (or ``prediction``'s) histogram in the baseline and in the window, on
    the same bins, for charts. Collaborators of the service only.
    ---
    tags: [drift]
    parameters:
      - {$ref: '#/components/parameters/StatsStart'}
      - {$ref: '#/components/parameters/StatsEnd'}
      - {$ref: '#/components/parameters/StatsGeneration'}
      - {$ref: '#/components/parameters/StatsRole'}
      - name: feature
        in: query
        required: true
        description: A feature's name, or prediction.
        schema: {type: string, example: petal_length}
    responses:
      "200":
        description: Both histograms.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/DriftDistribution'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    service = require_collaborator(ref)
    args = checked_args((*_WINDOW_ARGS, "feature"))
    return jsonify(control_plane().drift.distribution(
        service.id, _window(args), _feature(args),
        generation=args.get("generation"), role=args.get("role"),
    ))


def _window(args: dict[str, str]) -> StatsWindow:
    return StatsWindow.parse(args.get("start"), args.get("end"))


def _feature(args: dict[str, str]) -> str:
    feature = args.get("feature")
    if not feature:
        raise InvalidInput(f"give feature: a feature's name, or {PREDICTION!r}")
    return feature
