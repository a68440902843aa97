"""The complete documentation of a model service, written by no one.

A model service's predict and health routes come from Shipyard's model-service template;
their operations are generated here from ``model/metadata.json`` (the model's feature
names and types, target and problem type: JSON data the control plane reads, never the
model itself) and an example record (one from the model's baseline, else one made up from
the feature types). They replace whatever the routes' docstrings say.

Why here: apispec knows no model's features; these schemas are derived from them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "HEALTH_PATH",
    "IMPORTANCE_PATH",
    "METADATA_FILE",
    "PREDICT_PATH",
    "example_record",
    "model_operations",
    "read_metadata",
]

METADATA_FILE = "model/metadata.json"
PREDICT_PATH = "/api/v1.0/predict/"
HEALTH_PATH = "/api/v1.0/health/status/"
IMPORTANCE_PATH = "/api/v1.0/feature-importance/"
_MADE_UP = {"number": 1.5, "integer": 1, "string": "text", "boolean": True}
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
_IDENTITY = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "nullable": True},
        "version": {"type": "string", "nullable": True},
    },
}


def read_metadata(text: str | bytes) -> dict[str, Any] | None:
    """The model's metadata, or None when it is not the JSON the template writes."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("features"), list):
        return None
    features = [
        f for f in data["features"] if isinstance(f, dict) and isinstance(f.get("name"), str)
    ]
    return {**data, "features": features} if features else None


def example_record(
    metadata: Mapping[str, Any], baseline: Sequence[Mapping[str, Any]] = ()
) -> tuple[dict[str, Any], Any]:
    """One request record and, when the baseline has it, that record's target value."""
    names = [feature["name"] for feature in metadata["features"]]
    for row in baseline:
        if all(name in row for name in names):
            return {name: row[name] for name in names}, row.get(metadata.get("target") or "")
    return {
        feature["name"]: _MADE_UP.get(feature.get("type", ""), 1.5)
        for feature in metadata["features"]
    }, None


def model_operations(
    metadata: Mapping[str, Any],
    tag: str,
    example: Mapping[str, Any],
    example_answer: Any = None,
    baseline_targets: Sequence[Any] = (),
) -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, path) → operation, for the predict and health routes."""
    return {
        ("POST", PREDICT_PATH): _predict(metadata, tag, example, example_answer, baseline_targets),
        ("GET", HEALTH_PATH): _health(metadata, tag),
    }


def _predict(
    metadata: Mapping[str, Any], tag: str, example: Mapping[str, Any], answer: Any,
    targets: Sequence[Any],
) -> dict[str, Any]:
    features = [feature["name"] for feature in metadata["features"]]
    record = {
        "type": "object",
        "required": features,
        "additionalProperties": False,
        "properties": {
            feature["name"]: _feature_schema(feature.get("type"))
            for feature in metadata["features"]
        },
    }
    columns = {
        "type": "object",
        "required": ["columns", "data"],
        "properties": {
            "columns": {"type": "array", "items": {"type": "string", "enum": features}},
            "data": {"type": "array", "items": {"type": "array", "items": {}}},
        },
    }
    csv_example = ",".join(features) + "\n" + ",".join(_csv(example[f]) for f in features) + "\n"
    target = metadata.get("target") or "the target"
    problem = metadata.get("problem_type") or "classification"
    return {
        "tags": [tag],
        "summary": f"Predict {target} with the model",
        "description": (
            f"A {problem} model. Send records (a JSON list of objects with every feature: "
            f"{', '.join(features)}), a JSON object {{\"columns\": [...], \"data\": "
            "[[...], ...]}, or text/csv with a header row. No other field is accepted."
        ),
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"oneOf": [
                        {"type": "array", "minItems": 1, "items": record}, columns,
                    ]},
                    "examples": {
                        "records": {"summary": "records", "value": [dict(example)]},
                        "columns": {"summary": "columns and rows", "value": {
                            "columns": features, "data": [[example[f] for f in features]],
                        }},
                    },
                },
                "text/csv": {"schema": {"type": "string"}, "example": csv_example},
            },
        },
        "responses": {
            "200": {
                "description": "One prediction per record (with class probabilities when "
                               "the model has them).",
                "content": {"application/json": {
                    "schema": _answer_schema(problem, targets),
                    "example": _answer_example(metadata, answer),
                }},
            },
            "400": {
                "description": "A feature is missing, unknown or of the wrong type.",
                "content": {"application/json": {"schema": _ERROR}},
            },
            "500": {
                "description": "The model failed.",
                "content": {"application/json": {"schema": _ERROR}},
            },
        },
    }


def _health(metadata: Mapping[str, Any], tag: str) -> dict[str, Any]:
    return {
        "tags": [tag],
        "summary": "Whether the model is loaded",
        "responses": {"200": {
            "description": "The model is loaded and answers predictions.",
            "content": {"application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "ready": {"type": "boolean"},
                        "service": {"type": "string"},
                        "model": _IDENTITY,
                        "generation": {"type": "string", "nullable": True},
                    },
                },
                "example": {"ready": True, "service": tag, "model": _identity(metadata),
                            "generation": "v1"},
            }},
        }},
    }


def _feature_schema(kind: Any) -> dict[str, Any]:
    return {"type": kind} if kind in _MADE_UP else {}


def _answer_schema(problem: str, targets: Sequence[Any]) -> dict[str, Any]:
    label = {"type": "number"} if problem == "regression" else _label_schema(targets)
    properties: dict[str, Any] = {
        "predictions": {"type": "array", "items": label},
        "model": _IDENTITY,
        "generation": {"type": "string", "nullable": True},
    }
    if problem != "regression":
        properties["probabilities"] = {
            "type": "array", "items": {"type": "array", "items": {"type": "number"}},
        }
        properties["classes"] = {"type": "array", "items": label}
    return {"type": "object", "required": ["predictions"], "properties": properties}


def _label_schema(targets: Sequence[Any]) -> dict[str, Any]:
    """The schema of a class label, from the baseline's target values when they agree."""
    kinds = {_json_type(value) for value in targets if value is not None}
    if kinds and kinds <= {"integer", "number"}:
        return {"type": "integer"} if kinds == {"integer"} else {"type": "number"}
    if len(kinds) == 1:
        return {"type": kinds.pop()}
    return {}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else "object"


def _answer_example(metadata: Mapping[str, Any], answer: Any) -> dict[str, Any]:
    example: dict[str, Any] = {}
    if answer is not None:
        example["predictions"] = [answer]
    example["model"] = _identity(metadata)
    example["generation"] = "v1"
    return example


def _identity(metadata: Mapping[str, Any]) -> dict[str, Any]:
    name, version = metadata.get("name"), metadata.get("version")
    return {"name": None if name is None else str(name),
            "version": None if version is None else str(version)}


def _csv(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if any(character in text for character in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
