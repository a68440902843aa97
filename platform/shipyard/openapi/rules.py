"""Flask URL rules as OpenAPI paths: ``/items/<int:item_id>`` is ``/items/{item_id}`` with
an integer path parameter ``item_id``.

The rule is read as text (Werkzeug's ``<converter(arguments):name>`` syntax); the
converters Flask ships map to schemas, any other to a string.

Why here: apispec reads no Flask rule (apispec-webframeworks' plugin rewrites the path
of one rule per view and makes no parameter), so each rule is read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["PathTemplate", "openapi_path"]

_VARIABLE = re.compile(
    r"<(?:(?P<converter>[A-Za-z_][A-Za-z0-9_]*)(?:\((?P<arguments>.*?)\))?:)?"
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)>"
)
_SIGNED = re.compile(r"signed\s*=\s*True")


@dataclass(frozen=True)
class PathTemplate:
    """An OpenAPI path and the path parameters it takes, in order."""

    path: str
    parameters: tuple[dict[str, Any], ...]


def openapi_path(rule: str) -> PathTemplate:
    parameters: list[dict[str, Any]] = []

    def _replace(match: re.Match[str]) -> str:
        converter = match.group("converter") or "default"
        parameter: dict[str, Any] = {
            "name": match.group("name"),
            "in": "path",
            "required": True,
            "schema": _schema(converter, match.group("arguments") or ""),
        }
        if converter == "path":
            parameter["description"] = "May contain slashes."
        parameters.append(parameter)
        return "{" + match.group("name") + "}"

    return PathTemplate(_VARIABLE.sub(_replace, rule), tuple(parameters))


def _schema(converter: str, arguments: str) -> dict[str, Any]:
    if converter in ("int", "float"):
        schema: dict[str, Any] = {"type": "integer" if converter == "int" else "number"}
        if not _SIGNED.search(arguments):
            schema["minimum"] = 0
        return schema
    if converter == "uuid":
        return {"type": "string", "format": "uuid"}
    if converter == "any":
        choices = [part.strip().strip("'\"") for part in arguments.split(",")]
        return {"type": "string", "enum": [choice for choice in choices if choice]}
    return {"type": "string"}
