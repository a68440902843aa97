"""The schemas of the control plane's service stats (``/api/v1/services/<ref>/stats``),
merged into its document's components beside ``control_schemas``'.

Data, not code: apispec registers these (``assembly``) and has none of its own.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["STATS_PARAMETERS", "STATS_SCHEMAS", "STATS_TAGS"]

_SCHEMAS_YAML = """
Quantiles:
  type: object
  description: Milliseconds, within 2% of the true quantile; null without calls.
  required: [p50, p90, p99]
  properties:
    p50: {type: number, nullable: true}
    p90: {type: number, nullable: true}
    p99: {type: number, nullable: true}
UsageFigure:
  type: object
  description: Per instance, over the samples taken every 10 s; null without samples.
  required: [mean, max]
  properties:
    mean: {type: number, nullable: true}
    max: {type: number, nullable: true}
StatsFigures:
  type: object
  required: [total_requests, total_predictions, prediction_warnings, slow_requests, response_time,
             execution_time, overhead_time, user_error_rate, server_error_rate, timeouts,
             num_consumers, median_load, peak_load, bytes_in, bytes_out, cpu_percent,
             memory_bytes, gpu_memory_bytes]
  properties:
    total_requests: {type: integer}
    prediction_warnings:
      type: integer
      description: Predictions the instances flagged (prediction warnings), as their
        X-Shipyard-Prediction-Warnings header says.
    total_predictions:
      type: integer
      description: Rows scored, as the instances' X-Shipyard-Predictions header says.
    slow_requests:
      type: integer
      description: Calls slower than slow_request_ms (to the histogram's 2%).
    response_time: {$ref: '#/components/schemas/Quantiles'}
    execution_time:
      allOf: [{$ref: '#/components/schemas/Quantiles'}]
      description: The time spent in the instance.
    overhead_time:
      allOf: [{$ref: '#/components/schemas/Quantiles'}]
      description: The gateway's own time (response time less execution time).
    user_error_rate: {type: number, nullable: true, description: 4xx answers per call.}
    server_error_rate: {type: number, nullable: true, description: 5xx answers per call.}
    timeouts: {type: integer}
    num_consumers: {type: integer, description: Distinct callers.}
    median_load:
      type: integer
      nullable: true
      description: Median calls per minute, over the minutes with calls.
    peak_load: {type: integer, description: Most calls in one minute.}
    bytes_in: {type: integer}
    bytes_out: {type: integer}
    cpu_percent: {$ref: '#/components/schemas/UsageFigure'}
    memory_bytes: {$ref: '#/components/schemas/UsageFigure'}
    gpu_memory_bytes: {$ref: '#/components/schemas/UsageFigure'}
ServiceStats:
  type: object
  required: [start, end, slow_request_ms, overall, generations]
  properties:
    start: {type: string, format: date-time}
    end: {type: string, format: date-time}
    slow_request_ms: {type: number}
    overall:
      allOf: [{$ref: '#/components/schemas/StatsFigures'}]
      description: Every call to the service, refused ones included (main role).
    generations:
      type: array
      items:
        allOf:
          - {$ref: '#/components/schemas/StatsFigures'}
          - type: object
            required: [generation, role]
            properties:
              generation: {type: string, example: v2}
              role: {type: string, enum: [main, challenger]}
StatsOverTime:
  type: object
  required: [start, end, bucket_size, metrics, slow_request_ms, series]
  properties:
    start: {type: string, format: date-time}
    end: {type: string, format: date-time}
    bucket_size: {type: integer, description: Seconds.}
    metrics: {type: array, items: {type: string}}
    slow_request_ms: {type: number}
    series:
      type: array
      description: The service as a whole (generation null) first, then each generation.
      items:
        type: object
        required: [generation, role, buckets]
        properties:
          generation: {type: string, nullable: true}
          role: {type: string, enum: [main, challenger]}
          buckets:
            type: array
            items:
              type: object
              required: [start, end]
              properties:
                start: {type: string, format: date-time}
                end: {type: string, format: date-time}
              additionalProperties: {type: number, nullable: true}
"""

STATS_SCHEMAS: dict[str, Any] = yaml.load(
    _SCHEMAS_YAML, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
)

_PARAMETERS_YAML = """
StatsStart:
  name: start
  in: query
  description: The window's start (ISO 8601, or back from now such as 24h), rounded down to
    a minute; by default 7 days before the end.
  schema: {type: string, example: 24h}
StatsEnd:
  name: end
  in: query
  description: The window's end (ISO 8601, or back from now), rounded up to a minute; by
    default the next whole hour.
  schema: {type: string, example: "2026-01-31T12:00:00Z"}
StatsGeneration:
  name: generation
  in: query
  description: Only this generation.
  schema: {type: string, example: v2}
StatsRole:
  name: role
  in: query
  description: Only the generations in this role.
  schema: {type: string, enum: [main, challenger]}
"""

STATS_PARAMETERS: dict[str, Any] = yaml.load(
    _PARAMETERS_YAML, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
)

STATS_TAGS: list[dict[str, str]] = [
    {"name": "stats", "description": "Service stats per generation, over time, from rollups."},
]
