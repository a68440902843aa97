"""Accepting flasgger-style docstrings: a Swagger 2.0 operation turned into OpenAPI 3.

Only the Swagger 2 forms found are rewritten, so an OpenAPI 3 operation passes unchanged:

- ``parameters`` ``in: body`` becomes the ``requestBody`` (``consumes`` names its media
  types, else JSON); ``in: formData`` ones become the properties of a form body;
- a parameter's ``type``, ``format``, ``items``, ``enum``, ... move into its ``schema``;
- a response's ``schema`` and ``examples`` move into its ``content`` (``produces``, else JSON);
- ``definitions`` become ``components.schemas`` and ``#/definitions/X`` references follow;
- ``type: file`` becomes a binary string, ``x-nullable`` becomes ``nullable``;
- ``required: true`` inside a property (a parameter's habit, valid in neither version)
  lists the property in its object's ``required``; ``required: false`` is dropped. This
  one is reported (``lift_property_required``): the author should know.

A response without a ``description`` (which both versions require) gets its status's
reason phrase.

Why here: apispec writes Swagger 2.0 or OpenAPI 3, but converts neither into the other.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from shipyard.openapi.docstrings import DocstringError

__all__ = ["LiftedRequired", "lift_property_required", "upgrade_operation"]

_JSON = "application/json"
_SCHEMA_KEYS = (
    "type", "format", "items", "enum", "default", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems",
    "uniqueItems", "multipleOf",
)
_SWAGGER2_ONLY = ("collectionFormat", "allowEmptyValue")
_DATA_KEYS = frozenset({"example", "examples", "default", "enum"})
"""Keys whose values are data, not schemas: a ``properties`` key there is not one."""


def upgrade_operation(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The OpenAPI 3 form of ``fields``, and the schemas its ``definitions`` declare."""
    operation = _rewrite_refs(copy.deepcopy(fields))
    definitions = operation.pop("definitions", None) or {}
    if not isinstance(definitions, dict):
        raise DocstringError("'definitions' must be a mapping of schema names to schemas")
    consumes = _media_types(operation.pop("consumes", None), "consumes")
    produces = _media_types(operation.pop("produces", None), "produces")
    if "parameters" in operation:
        _upgrade_parameters(operation, consumes)
    responses = operation.get("responses")
    if isinstance(responses, dict):
        for code, response in responses.items():
            if isinstance(response, dict) and "$ref" not in response:
                _upgrade_response(code, response, produces)
    return _upgrade_schemas(operation), {
        name: _upgrade_schemas(schema) for name, schema in definitions.items()
    }


def _media_types(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise DocstringError(f"{field!r} must be a list of media types")


def _upgrade_parameters(operation: dict[str, Any], consumes: list[str]) -> None:
    parameters = operation["parameters"]
    if not isinstance(parameters, list):
        raise DocstringError("'parameters' must be a list")
    kept: list[Any] = []
    form: dict[str, Any] = {}
    required_form: list[str] = []
    for parameter in parameters:
        if not isinstance(parameter, dict) or "$ref" in parameter:
            kept.append(parameter)
            continue
        where = parameter.get("in")
        if where == "body":
            operation.setdefault("requestBody", _body(parameter, consumes))
        elif where == "formData":
            name = str(parameter.get("name", ""))
            form[name] = _schema_of(parameter)
            if parameter.get("description"):
                form[name]["description"] = parameter["description"]
            if parameter.get("required"):
                required_form.append(name)
        else:
            kept.append(_plain_parameter(parameter))
    if form and "requestBody" not in operation:
        binary = any(schema.get("format") == "binary" for schema in form.values())
        media = [t for t in consumes if t.startswith(("multipart/", "application/x-www"))]
        default = "multipart/form-data" if binary else "application/x-www-form-urlencoded"
        schema: dict[str, Any] = {"type": "object", "properties": form}
        if required_form:
            schema["required"] = required_form
        operation["requestBody"] = {"content": {t: {"schema": schema} for t in media or [default]}}
    if kept:
        operation["parameters"] = kept
    else:
        del operation["parameters"]


def _body(parameter: dict[str, Any], consumes: list[str]) -> dict[str, Any]:
    schema = parameter.get("schema", {})
    body: dict[str, Any] = {"content": {t: {"schema": schema} for t in consumes or [_JSON]}}
    if parameter.get("description"):
        body["description"] = parameter["description"]
    if parameter.get("required"):
        body["required"] = True
    return body


def _plain_parameter(parameter: dict[str, Any]) -> dict[str, Any]:
    if "schema" in parameter or "content" in parameter or "type" not in parameter:
        return parameter
    upgraded = {
        key: value for key, value in parameter.items()
        if key not in _SCHEMA_KEYS and key not in _SWAGGER2_ONLY
    }
    upgraded["schema"] = _schema_of(parameter)
    return upgraded


def _schema_of(parameter: dict[str, Any]) -> dict[str, Any]:
    schema = {key: parameter[key] for key in _SCHEMA_KEYS if key in parameter}
    if schema.get("type") == "file":
        schema = {"type": "string", "format": "binary"}
    return schema


def _upgrade_response(code: str, response: dict[str, Any], produces: list[str]) -> None:
    if "description" not in response:
        response["description"] = _reason(code)
    schema = response.pop("schema", None)
    examples = response.get("examples")
    if schema is not None and "content" not in response:
        response["content"] = {t: {"schema": schema} for t in produces or [_JSON]}
    if isinstance(examples, dict) and all("/" in str(key) for key in examples):
        del response["examples"]
        content = response.setdefault("content", {})
        for media_type, example in examples.items():
            content.setdefault(media_type, {})["example"] = example
    headers = response.get("headers")
    if isinstance(headers, dict):
        for name, header in headers.items():
            if isinstance(header, dict) and "type" in header and "schema" not in header:
                headers[name] = {
                    **{k: v for k, v in header.items() if k not in _SCHEMA_KEYS},
                    "schema": _schema_of(header),
                }


def _reason(code: str) -> str:
    try:
        return HTTPStatus(int(code)).phrase
    except ValueError:
        return "Answer" if code == "default" else f"Status {code}"


def _rewrite_refs(value: Any) -> Any:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            value["$ref"] = "#/components/schemas/" + ref.removeprefix("#/definitions/")
        for item in value.values():
            _rewrite_refs(item)
    elif isinstance(value, list):
        for item in value:
            _rewrite_refs(item)
    return value


def _upgrade_schemas(value: Any) -> Any:
    """``type: file`` and ``x-nullable`` wherever they appear."""
    if isinstance(value, dict):
        if value.get("type") == "file":
            value["type"] = "string"
            value.setdefault("format", "binary")
        if "x-nullable" in value and "nullable" not in value:
            value["nullable"] = value.pop("x-nullable")
        for item in value.values():
            _upgrade_schemas(item)
    elif isinstance(value, list):
        for item in value:
            _upgrade_schemas(item)
    return value


@dataclass
class LiftedRequired:
    """The properties whose ``required: true`` was lifted, and those whose ``false`` was
    dropped, in the order met."""

    lifted: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.lifted or self.dropped)

    def describe(self) -> str:
        """One line for the build log."""
        parts = []
        if self.lifted:
            parts.append(f"{_names(self.lifted)} now listed in its object's 'required'")
        if self.dropped:
            parts.append(f"'required: false' dropped from {_names(self.dropped)}")
        return ("'required' inside a property is Swagger 2.0's habit, not OpenAPI 3: "
                + "; ".join(parts))


def lift_property_required(value: Any, found: LiftedRequired | None = None) -> LiftedRequired:
    """Move every property's boolean ``required`` in ``value`` (an operation, a schema, a
    components object) to its object's ``required`` list, in place."""
    found = LiftedRequired() if found is None else found
    if isinstance(value, list):
        for item in value:
            lift_property_required(item, found)
    elif isinstance(value, dict):
        properties = value.get("properties")
        if isinstance(properties, dict):
            _lift(value, properties, found)
            for schema in properties.values():
                lift_property_required(schema, found)
        for key, item in value.items():
            if key != "properties" and key not in _DATA_KEYS and not key.startswith("x-"):
                lift_property_required(item, found)
    return found


def _lift(schema: dict[str, Any], properties: dict[str, Any], found: LiftedRequired) -> None:
    for name, prop in properties.items():
        if not isinstance(prop, dict) or not isinstance(prop.get("required"), bool):
            continue
        if not prop.pop("required"):
            found.dropped.append(name)
            continue
        required = schema.get("required")
        if not isinstance(required, list):
            # A boolean here is the same habit one level up: the list replaces it.
            required = schema["required"] = []
        if name not in required:
            required.append(name)
        found.lifted.append(name)


def _names(names: list[str]) -> str:
    unique = list(dict.fromkeys(names))
    return ", ".join(repr(name) for name in unique)
