"""``ModelDetails``: what a model predicts from (its features and their types, target,
problem type, the packages that load it), and the checks of its baseline records, shared
by the model registry and custom services that declare the same in their manifest.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.domain.validation import (
    forbidden_character,
    validate_description,
    validate_package_list,
)
from shipyard.errors import InvalidInput

__all__ = [
    "FEATURE_TYPES", "MAX_BASELINE_ROWS", "PROBLEM_TYPES", "ModelDetails", "baseline_ranges",
    "checked_baseline",
]

FEATURE_TYPES = ("number", "integer", "string", "boolean")
PROBLEM_TYPES = ("classification", "regression")
MAX_FEATURES = 2000
MAX_BASELINE_ROWS = 10_000


@dataclass(frozen=True)
class ModelDetails:
    features: tuple[dict[str, str], ...]
    target: str
    problem_type: str
    packages: tuple[str, ...]
    description: str

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ModelDetails:
        known = {"name", "features", "target", "problem_type", "packages", "description",
                 "baseline"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInput(f"unknown model metadata {unknown}; known: {sorted(known)}")
        features = data.get("features")
        if not isinstance(features, list) or not features:
            raise InvalidInput("'features' must be a non-empty list of {name, type}")
        if len(features) > MAX_FEATURES:
            raise InvalidInput(f"a model may have at most {MAX_FEATURES} features")
        parsed: list[dict[str, str]] = []
        for index, feature in enumerate(features):
            parsed.append(_feature(index, feature))
        names = [f["name"] for f in parsed]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InvalidInput(f"features named twice: {twice}")
        problem_type = data.get("problem_type", "classification")
        if problem_type not in PROBLEM_TYPES:
            raise InvalidInput(
                f"unknown problem_type {problem_type!r}; known: {', '.join(PROBLEM_TYPES)}"
            )
        target = data.get("target", "")
        if not isinstance(target, str) or forbidden_character(target):
            raise InvalidInput("'target' must be a plain string")
        if target in names:
            raise InvalidInput(f"the target {target!r} is also named as a feature")
        # The scaffold brings jinja2, which checking a manifest (in the CLI) does not need.
        from shipyard.domain.scaffold import DEFAULT_PACKAGES

        packages = data.get("packages") or DEFAULT_PACKAGES["model"]
        return cls(
            features=tuple(parsed), target=target, problem_type=str(problem_type),
            packages=tuple(validate_package_list(packages)),
            description=validate_description(data.get("description", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features), "target": self.target,
            "problem_type": self.problem_type, "packages": list(self.packages),
            "description": self.description,
        }


MAX_RANGE_CATEGORIES = 200


def baseline_ranges(details: ModelDetails, baseline: list[dict[str, Any]]) -> dict[str, Any]:
    """What the model service's prediction warnings compare with, written beside its
    metadata: each feature's range in the baseline (lowest and highest number, or its
    categories, up to ``MAX_RANGE_CATEGORIES``), and a regression target's range where
    the baseline holds the target. Empty without a baseline."""
    if not baseline:
        return {}
    ranges: dict[str, Any] = {}
    for feature in details.features:
        values = [record[feature["name"]] for record in baseline]
        if feature["type"] in ("number", "integer"):
            ranges[feature["name"]] = {"min": min(values), "max": max(values)}
        else:
            categories = sorted({json.dumps(value) if isinstance(value, bool) else str(value)
                                 for value in values})
            if len(categories) <= MAX_RANGE_CATEGORIES:
                ranges[feature["name"]] = {"categories": categories}
    found: dict[str, Any] = {"baseline_ranges": ranges}
    targets = [record.get(details.target) for record in baseline] if details.target else []
    if details.problem_type == "regression" and targets and all(
        isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t)
        for t in targets
    ):
        found["target_range"] = {"min": min(targets), "max": max(targets)}
    return found


def _feature(index: int, feature: Any) -> dict[str, str]:
    if not isinstance(feature, dict) or not isinstance(feature.get("name"), str):
        raise InvalidInput(f"feature {index} must be an object with a 'name' string")
    name = feature["name"]
    if not name or len(name) > 128 or forbidden_character(name):
        raise InvalidInput(f"feature {index} has an unusable name {name!r}")
    kind = feature.get("type", "number")
    if kind not in FEATURE_TYPES:
        raise InvalidInput(
            f"feature {name!r} has unknown type {kind!r}; known: {', '.join(FEATURE_TYPES)}"
        )
    return {"name": name, "type": str(kind)}


def checked_baseline(rows: Any, details: ModelDetails) -> list[dict[str, Any]]:
    """``rows`` if they are baseline records of a model with ``details``; else
    ``InvalidInput`` naming the first bad record."""
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InvalidInput("'baseline' must be a list of records (objects)")
    if len(rows) > MAX_BASELINE_ROWS:
        raise InvalidInput(f"'baseline' may hold at most {MAX_BASELINE_ROWS} records")
    allowed = {f["name"] for f in details.features} | ({details.target} - {""})
    for index, row in enumerate(rows):
        extra = sorted(set(row) - allowed)
        if extra:
            raise InvalidInput(f"baseline record {index} has fields that are not features: {extra}")
        missing = [f["name"] for f in details.features if f["name"] not in row]
        if missing:
            raise InvalidInput(f"baseline record {index} lacks the feature(s) {missing}")
        for feature in details.features:
            value = row[feature["name"]]
            if not _fits(value, feature["type"]):
                raise InvalidInput(
                    f"baseline record {index}: feature {feature['name']!r} must be "
                    f"{_TYPE_WORDS[feature['type']]}, not {value!r}"
                )
    return rows


# A baseline record must pass the predict route's own check (the replacement gate posts
# baseline records to it): the same types, an integral float counting as an integer.
_TYPE_WORDS = {
    "number": "a finite number", "integer": "an integer", "string": "a string",
    "boolean": "true or false",
}


def _fits(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    if kind == "integer":
        return math.isfinite(value) and float(value).is_integer()
    return math.isfinite(value)
