"""The schemas of actuals and accuracy (``/api/v1/services/<ref>/actuals``,
``/accuracy``), merged into the control plane's document beside ``drift_schemas``'.

Data, not code: apispec registers these (``assembly``) and has none of its own.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["ACCURACY_SCHEMAS", "ACCURACY_TAGS"]

_SCHEMAS_YAML = """
Actual:
  type: object
  required: [association_id, actual_value]
  additionalProperties: false
  properties:
    association_id:
      oneOf: [{type: string, minLength: 1, maxLength: 255}, {type: integer}]
      example: order-1
    actual_value:
      description: The true outcome, of the target's type (a class label, or a number for
        a regression).
      oneOf: [{type: string}, {type: number}, {type: boolean}]
      example: setosa
    timestamp:
      description: When the outcome was known (ISO 8601 or epoch seconds).
      oneOf: [{type: string}, {type: number}]
    was_acted_on: {type: boolean}
ActualsReceived:
  type: object
  required: [received, matched, unmatched, updated]
  properties:
    received: {type: integer}
    matched: {type: integer, description: "rows whose prediction is logged"}
    unmatched: {type: integer, description: "rows no logged prediction carries (yet)"}
    updated: {type: integer, description: "rows that replaced an actual sent before"}
AccuracyMetrics:
  type: object
  description: scikit-learn's metrics; null where one cannot be computed (one class only,
    no probabilities, no rows).
  required: [rows]
  properties:
    rows: {type: integer, description: "predictions joined to an actual"}
    accuracy: {type: number, nullable: true}
    balanced_accuracy: {type: number, nullable: true}
    precision: {type: number, nullable: true}
    recall: {type: number, nullable: true}
    f1: {type: number, nullable: true}
    average: {type: string, nullable: true, enum: [binary, weighted, null]}
    positive_class: {nullable: true}
    auc: {type: number, nullable: true}
    log_loss: {type: number, nullable: true}
    scored_with_probabilities: {type: integer}
    confusion_matrix:
      type: object
      nullable: true
      properties:
        labels: {type: array, items: {}}
        matrix: {type: array, items: {type: array, items: {type: integer}}}
    rmse: {type: number, nullable: true}
    mae: {type: number, nullable: true}
    mape: {type: number, nullable: true}
    r2: {type: number, nullable: true}
    gamma_deviance: {type: number, nullable: true}
Accuracy:
  type: object
  required: [service_id, start, end, problem_type, overall, generations]
  properties:
    service_id: {type: string}
    start: {type: string, format: date-time}
    end: {type: string, format: date-time}
    problem_type: {type: string, nullable: true, enum: [classification, regression, null]}
    overall:
      allOf: [{$ref: '#/components/schemas/AccuracyMetrics'}]
      nullable: true
      description: Every main generation's rows together; null without actuals.
    generations:
      type: array
      items:
        allOf:
          - $ref: '#/components/schemas/AccuracyMetrics'
          - type: object
            required: [generation, role]
            properties:
              generation: {type: string, example: v2}
              role: {type: string, enum: [main, challenger]}
AccuracyOverTime:
  type: object
  required: [service_id, start, end, problem_type, bucket_size_seconds, metrics, series]
  properties:
    service_id: {type: string}
    start: {type: string, format: date-time}
    end: {type: string, format: date-time}
    problem_type: {type: string, nullable: true}
    bucket_size_seconds: {type: integer}
    metrics: {type: array, items: {type: string}}
    series:
      type: array
      items:
        type: object
        required: [generation, role, buckets]
        properties:
          generation: {type: string}
          role: {type: string, enum: [main, challenger]}
          buckets:
            type: array
            items:
              type: object
              required: [start, end, rows]
              additionalProperties: {type: number, nullable: true}
              properties:
                start: {type: string, format: date-time}
                end: {type: string, format: date-time}
                rows: {type: integer}
"""

ACCURACY_SCHEMAS: dict[str, Any] = yaml.load(
    _SCHEMAS_YAML, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
)

ACCURACY_TAGS: list[dict[str, str]] = [
    {"name": "accuracy", "description": "Actuals joined to predictions by association id, "
                                        "and scikit-learn's metrics on them."},
]
