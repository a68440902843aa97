"""``/api/v1/services/<ref>/stats``: a service's stats over a window, per generation and
role, and the same figures bucket by bucket (``/stats/over-time``)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from shipyard.api.callers import require_collaborator
from shipyard.api.context import control_plane
from shipyard.api.query_args import checked_args
from shipyard.errors import InvalidInput
from shipyard.stats.figures import METRICS
from shipyard.stats.windows import StatsWindow, parse_bucket_size

__all__ = ["stats"]

stats = Blueprint("stats", __name__)

_SUMMARY_ARGS = ("start", "end", "generation", "role")
_OVER_TIME_ARGS = (*_SUMMARY_ARGS, "metric", "bucket_size")


@stats.get("/<ref>/stats")
def service_stats(ref: str) -> Response:
    """A service's stats over a window, for the service and per generation.

    DataRobot's service stats where they apply: requests, predictions, slow requests,
    response, execution and overhead time (p50, p90, p99), error rates, consumers, load,
    and the instances' cpu and memory; the challenger's figures beside the main ones.
    Slow requests are those over the service's ``slow_request_ms`` (a health threshold,
    1000 by default). The
    window is whole minutes, by default the last 7 days up to the next whole hour.
    Collaborators of the service only.
    ---
    tags: [stats]
    parameters:
      - {$ref: '#/components/parameters/StatsStart'}
      - {$ref: '#/components/parameters/StatsEnd'}
      - {$ref: '#/components/parameters/StatsGeneration'}
      - {$ref: '#/components/parameters/StatsRole'}
    responses:
      "200":
        description: The figures.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ServiceStats'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    service = require_collaborator(ref)
    args = checked_args(_SUMMARY_ARGS)
    window = StatsWindow.parse(args.get("start"), args.get("end"))
    return jsonify(control_plane().stats.summary(
        service.id, window, generation=args.get("generation"), role=args.get("role"),
        slow_ms=service.health_thresholds.slow_request_ms,
    ))


@stats.get("/<ref>/stats/over-time")
def service_stats_over_time(ref: str) -> Response:
    """A service's stats bucket by bucket, for charts.

    Buckets of ``bucket_size`` (an ISO 8601 duration of whole minutes: PT1M, PT15M, PT1H,
    P1D; PT1H by default), at most 10,000 of them, from the window's start. Each bucket
    has the asked ``metric``s (comma-separated; all of them by default), null where there
    is no data. The first series is the service as a whole, then one per generation and
    role. Collaborators of the service only.
    ---
    tags: [stats]
    parameters:
      - {$ref: '#/components/parameters/StatsStart'}
      - {$ref: '#/components/parameters/StatsEnd'}
      - {$ref: '#/components/parameters/StatsGeneration'}
      - {$ref: '#/components/parameters/StatsRole'}
      - name: bucket_size
        in: query
        schema: {type: string, default: PT1H, example: PT15M}
      - name: metric
        in: query
        description: One metric, or several separated by commas.
        schema: {type: string, example: "total_requests,response_time_p90"}
    responses:
      "200":
        description: The buckets of each series.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/StatsOverTime'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    service = require_collaborator(ref)
    args = checked_args(_OVER_TIME_ARGS)
    window = StatsWindow.parse(args.get("start"), args.get("end"))
    bucket_size = parse_bucket_size(args.get("bucket_size") or "PT1H")
    named = args.get("metric")
    metrics = ([name.strip() for name in named.split(",") if name.strip()]
               if named else list(METRICS))
    if not metrics:
        raise InvalidInput("metric names no metric")
    return jsonify(control_plane().stats.over_time(
        service.id, window, bucket_size, metrics, generation=args.get("generation"),
        role=args.get("role"), slow_ms=service.health_thresholds.slow_request_ms,
    ))
