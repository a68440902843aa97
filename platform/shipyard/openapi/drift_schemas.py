"""The schemas of a model service's drift (``/api/v1/services/<ref>/drift/...``), merged
into the control plane's document beside ``stats_schemas``'.

Data, not code: apispec registers these (``assembly``) and has none of its own.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["DRIFT_SCHEMAS", "DRIFT_TAGS"]

_SCHEMAS_YAML = """
DriftWindow:
  type: object
  required: [service_id, start, end, generations, role, baseline_rows, thresholds]
  properties:
    service_id: {type: string}
    start: {type: string, format: date-time, description: "whole hours"}
    end: {type: string, format: date-time}
    generations:
      type: array
      items: {type: string}
      description: The generations whose rows are counted (binned the same way).
    role: {type: string, enum: [main, challenger]}
    baseline_rows: {type: integer, description: "the model baseline's records"}
    thresholds: {$ref: '#/components/schemas/DriftThresholds'}
    rows: {type: integer, description: "rows scored in the window"}
    data_errors:
      type: integer
      description: Calls whose rows could not be read (a body cut at the size cap, or
        not records, columns and data, or CSV), and rows with a feature missing or of the
        wrong type (their other features still count).
    too_small: {type: boolean, description: "fewer rows than min_rows: not judged"}
FeatureDriftEntry:
  type: object
  required: [name, type, importance, psi, js_distance, hellinger, wasserstein, test,
             statistic, p_value, reference_rows, current_rows, too_small, drifted]
  properties:
    name: {type: string, example: petal_length}
    type: {type: string, example: number}
    importance:
      type: number
      nullable: true
      description: The feature's importance to the model, where the model tells it.
    psi: {type: number, description: "population stability index"}
    js_distance: {type: number, description: "Jensen-Shannon distance, base 2"}
    hellinger: {type: number}
    wasserstein:
      type: number
      nullable: true
      description: In baseline standard deviations; numbers only.
    test: {type: string, enum: [ks, chi2]}
    statistic: {type: number}
    p_value: {type: number}
    reference_rows: {type: integer}
    current_rows: {type: integer}
    too_small: {type: boolean}
    drifted: {type: boolean}
FeatureDrift:
  allOf:
    - $ref: '#/components/schemas/DriftWindow'
    - type: object
      required: [metric, drifted, features]
      properties:
        metric: {type: string, enum: [psi, js_distance, hellinger, wasserstein, p_value]}
        drifted: {type: integer, description: "how many features drifted"}
        features:
          type: array
          items: {$ref: '#/components/schemas/FeatureDriftEntry'}
TargetDrift:
  allOf:
    - $ref: '#/components/schemas/DriftWindow'
    - type: object
      required: [target]
      properties:
        target:
          allOf: [{$ref: '#/components/schemas/FeatureDriftEntry'}]
          nullable: true
          description: Null until the model's predictions on its baseline are taken.
DriftOverTime:
  allOf:
    - $ref: '#/components/schemas/DriftWindow'
    - type: object
      required: [feature, bucket_size_seconds, series]
      properties:
        feature: {type: string}
        bucket_size_seconds: {type: integer}
        series:
          type: array
          items:
            type: object
            required: [start, end, psi, js_distance, hellinger, wasserstein, p_value,
                       current_rows, drifted, too_small]
            properties:
              start: {type: string, format: date-time}
              end: {type: string, format: date-time}
              psi: {type: number}
              js_distance: {type: number}
              hellinger: {type: number}
              wasserstein: {type: number, nullable: true}
              p_value: {type: number}
              current_rows: {type: integer}
              drifted: {type: boolean}
              too_small: {type: boolean}
DriftHistogram:
  type: object
  required: [rows, counts, shares]
  properties:
    rows: {type: integer}
    counts: {type: array, items: {type: integer}}
    shares: {type: array, items: {type: number}}
DriftDistribution:
  type: object
  required: [service_id, start, end, generations, role, feature, type, bins, reference,
             current]
  properties:
    service_id: {type: string}
    start: {type: string, format: date-time}
    end: {type: string, format: date-time}
    generations: {type: array, items: {type: string}}
    role: {type: string, enum: [main, challenger]}
    feature: {type: string}
    type: {type: string}
    bins:
      type: array
      items: {type: string}
      description: Each bin's label; the last is missing, and for categories the one
        before it other.
    reference: {$ref: '#/components/schemas/DriftHistogram'}
    current: {$ref: '#/components/schemas/DriftHistogram'}
"""

DRIFT_SCHEMAS: dict[str, Any] = yaml.load(
    _SCHEMAS_YAML, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
)

DRIFT_TAGS: list[dict[str, str]] = [
    {"name": "drift", "description": "Feature and target drift of model services, from "
                                     "hourly histograms binned by the model's baseline."},
]
