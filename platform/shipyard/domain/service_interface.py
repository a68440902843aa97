"""A custom service that is its own model: the ``features``, ``target`` and
``problem_type`` its ``shipyard.yaml`` declares, the route that scores (``predict_path``,
``/predict`` by default, answering ``{"predictions": [...]}`` one per record) and the file
of baseline records it names (``baseline``, records of the features and optionally the
target). With them, its calls are monitored as a model service's are: drift, actuals and
accuracy, prediction warnings counted if the app sends the headers.

Each generation keeps what its own files declare (``generations.interface``), checked when
the generation is made: a declaration that does not hold is a 400 naming the key, and no
generation is made.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from typing import Any

import yaml

from shipyard.domain.model_details import ModelDetails, checked_baseline
from shipyard.errors import InvalidInput

__all__ = ["DEFAULT_PREDICT_PATH", "INTERFACE_KEYS", "check_interface_keys",
           "declared_interface"]

MANIFEST = "shipyard.yaml"
INTERFACE_KEYS = ("features", "target", "problem_type", "predict_path", "baseline")
DEFAULT_PREDICT_PATH = "/predict"


def check_interface_keys(data: Mapping[str, Any]) -> None:
    """The shape of a manifest's interface keys (the baseline file is read at deploy):
    ``InvalidInput`` naming the key at fault."""
    declared = [key for key in INTERFACE_KEYS if key in data]
    if not declared:
        return
    if "features" not in data:
        raise InvalidInput(f"{MANIFEST}: {', '.join(declared)} need 'features' (a list of "
                           "{name, type}) to monitor the service as a model")
    try:
        ModelDetails.parse({key: data[key] for key in ("features", "target", "problem_type")
                            if key in data})
    except InvalidInput as exc:
        raise InvalidInput(f"{MANIFEST}: {exc.message}") from exc
    path = data.get("predict_path", DEFAULT_PREDICT_PATH)
    if not isinstance(path, str) or not path.startswith("/") or any(
            char in path for char in "?# \t\r\n"):
        raise InvalidInput(f"{MANIFEST}: 'predict_path' must be a route path such as "
                           f"/predict, not {path!r}")
    baseline = data.get("baseline")
    if baseline is not None and (not isinstance(baseline, str) or not baseline
                                 or posixpath.isabs(baseline) or ".." in baseline.split("/")):
        raise InvalidInput(f"{MANIFEST}: 'baseline' must name a file of the service, such as "
                           f"baseline.json, not {baseline!r}")


def declared_interface(files: Mapping[str, bytes]) -> dict[str, Any] | None:
    """What a custom service's ``files`` declare (features, target, problem type, predict
    path and baseline records), checked; None when its manifest declares no features."""
    text = files.get(MANIFEST)
    if text is None:
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None  # its push reads it first, and says what is wrong
    if not isinstance(data, Mapping) or "features" not in data:
        return None
    check_interface_keys(data)
    details = ModelDetails.parse({key: data[key] for key in ("features", "target",
                                                              "problem_type") if key in data})
    baseline: list[dict[str, Any]] = []
    named = data.get("baseline")
    if named is not None:
        content = files.get(named)
        if content is None:
            raise InvalidInput(f"{MANIFEST}: the baseline file {named!r} is not among the "
                               "service's files")
        try:
            rows = json.loads(content)
        except ValueError as exc:
            raise InvalidInput(f"{named}: not JSON records: {exc}") from None
        try:
            baseline = checked_baseline(rows, details)
        except InvalidInput as exc:
            raise InvalidInput(f"{named}: {exc.message}") from exc
    return {"features": list(details.features), "target": details.target,
            "problem_type": details.problem_type,
            "predict_path": data.get("predict_path", DEFAULT_PREDICT_PATH),
            "baseline": baseline}
