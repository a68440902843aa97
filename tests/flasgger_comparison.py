"""Comparing Shipyard's document of a service written for flasgger with flasgger's own
``/apispec_1.json``, as the unit and the end-to-end tests both do."""

from __future__ import annotations

import copy
from typing import Any

from shipyard.openapi.swagger2 import upgrade_operation

__all__ = ["assert_same_as_flasgger"]

COMPARED = ("tags", "parameters", "requestBody", "responses")


def _prose(text: str | None) -> str:
    """flasgger's summary or description as Shipyard writes it (flasgger's default
    sanitizer writes line breaks as ``<br/>``)."""
    return (text or "").replace("<br/>", "\n").strip()


def assert_same_as_flasgger(swagger2: dict[str, Any], ours: dict[str, Any]) -> int:
    """Assert that each operation of flasgger's Swagger 2.0 document, upgraded to OpenAPI 3,
    is in ``ours`` with the same fields and prose, and that its definitions are ``ours``'s
    schemas; how many operations were compared."""
    compared = 0
    for path, item in swagger2["paths"].items():
        for method, operation in item.items():
            upgraded, _ = upgrade_operation(copy.deepcopy(operation))
            mine = ours["paths"][path][method]
            for key in COMPARED:
                assert mine.get(key) == upgraded.get(key), (path, method, key)
            assert mine.get("summary") == _prose(upgraded.get("summary")), (path, method)
            assert mine.get("description", "") == _prose(upgraded.get("description")), path
            compared += 1
    _, schemas = upgrade_operation({"definitions": swagger2.get("definitions", {})})
    assert ours["components"]["schemas"] == schemas
    return compared
