"""``$ref``s that point nowhere, replaced so that the rest of an operation is kept.

A reference resolves when it is a JSON pointer (``#/components/schemas/Model``) to
something in the document being built; one to another file or URL never does (the
document is served alone, and the control plane fetches nothing). An unresolved one is
replaced by what its place needs: a schema by a free-form schema (any value) whose
description names the reference, a response by a response that says it is not
documented; a parameter, request body, header, example or link that is only a reference
is left out. Each replacement is reported, for the build log.

The walk follows the OpenAPI 3.0 object types (operation, parameter, request body,
response, media type, schema), so example values, which may hold a ``$ref`` key as data,
are never touched.

Why here: apispec resolves and checks no reference (beyond turning a bare name into
one); this keeps a document valid when a docstring points nowhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

__all__ = [
    "Replaced",
    "Resolves",
    "pointer_resolver",
    "replace_in_components",
    "replace_in_operation",
]

Resolves = Callable[[str], bool]
"""Whether a ``$ref`` string resolves."""


@dataclass(frozen=True)
class Replaced:
    """An unresolved reference, and what took its place."""

    ref: str
    outcome: str

    def __str__(self) -> str:
        return f"the reference {self.ref!r} does not resolve; {self.outcome}"

_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_ONES = ("items", "not", "additionalProperties")


def pointer_resolver(document: Mapping[str, Any]) -> Resolves:
    """Resolves a reference when it is a ``#/...`` JSON pointer to a value of ``document``."""

    def resolves(ref: str) -> bool:
        if not ref.startswith("#/"):
            return False
        value: Any = document
        for token in unquote(ref[2:]).split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(value, Mapping) and token in value:
                value = value[token]
            elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
                value = value[int(token)]
            else:
                return False
        return True

    return resolves


def replace_in_operation(operation: dict[str, Any], resolves: Resolves) -> list[Replaced]:
    """Replace ``operation``'s unresolved references in place; what was done, once each."""
    walk = _Walk(resolves)
    parameters = operation.get("parameters")
    if isinstance(parameters, list):
        operation["parameters"] = walk.parameters(parameters)
    walk.entry(operation, "requestBody", walk.request_body)
    responses = operation.get("responses")
    if isinstance(responses, dict):
        walk.entries(responses, walk.response)
    callbacks = operation.get("callbacks")
    if isinstance(callbacks, dict):
        walk.entries(callbacks, None)
    return walk.done


def replace_in_components(components: dict[str, Any], resolves: Resolves) -> list[Replaced]:
    """Replace the unresolved references of a components object in place."""
    walk = _Walk(resolves)
    sections: dict[str, Callable[[dict[str, Any], str], None] | None] = {
        "schemas": walk.schema, "responses": walk.response, "parameters": walk.parameter,
        "requestBodies": walk.request_body, "headers": walk.header, "examples": None,
        "links": None, "callbacks": None,
    }
    for name, visit in sections.items():
        section = components.get(name)
        if isinstance(section, dict):
            walk.entries(section, visit)
    return walk.done


class _Walk:
    """One walk: ``done`` collects a line per replaced reference."""

    def __init__(self, resolves: Resolves) -> None:
        self.resolves = resolves
        self.done: list[Replaced] = []

    def _unresolved(self, value: Any) -> str | None:
        """The reference ``value`` is, when it is one that does not resolve."""
        if not isinstance(value, dict) or "$ref" not in value:
            return None
        ref = value["$ref"]
        if isinstance(ref, str) and self.resolves(ref):
            return None
        return str(ref)

    def _report(self, ref: str, outcome: str) -> None:
        replaced = Replaced(ref, outcome)
        if replaced not in self.done:
            self.done.append(replaced)

    def entry(
        self, holder: dict[str, Any], key: str,
        visit: Callable[[dict[str, Any], str], None] | None,
    ) -> None:
        """Visit ``holder[key]`` when it is there."""
        if isinstance(holder.get(key), dict):
            (visit or self.left_out)(holder, key)

    def entries(
        self, holder: dict[str, Any], visit: Callable[[dict[str, Any], str], None] | None
    ) -> None:
        for key in list(holder):
            self.entry(holder, key, visit)

    def left_out(self, holder: dict[str, Any], key: str) -> None:
        """Objects with no stand-in: an unresolved reference is left out."""
        ref = self._unresolved(holder[key])
        if ref is not None:
            del holder[key]
            self._report(ref, "left out")

    def parameters(self, parameters: list[Any]) -> list[Any]:
        kept = []
        for parameter in parameters:
            ref = self._unresolved(parameter)
            if ref is not None:
                self._report(ref, "the parameter is left out")
                continue
            if isinstance(parameter, dict):
                self._described_by_schema(parameter)
            kept.append(parameter)
        return kept

    def parameter(self, holder: dict[str, Any], key: str) -> None:
        ref = self._unresolved(holder[key])
        if ref is not None:
            del holder[key]
            self._report(ref, "the parameter is left out")
        else:
            self._described_by_schema(holder[key])

    def header(self, holder: dict[str, Any], key: str) -> None:
        ref = self._unresolved(holder[key])
        if ref is not None:
            del holder[key]
            self._report(ref, "the header is left out")
        else:
            self._described_by_schema(holder[key])

    def request_body(self, holder: dict[str, Any], key: str) -> None:
        ref = self._unresolved(holder[key])
        if ref is not None:
            del holder[key]
            self._report(ref, "the request body is left out")
        else:
            self._content(holder[key])

    def response(self, holder: dict[str, Any], key: str) -> None:
        ref = self._unresolved(holder[key])
        if ref is not None:
            holder[key] = {"description": f"Not documented: {ref} is not defined."}
            self._report(ref, "the response is described as not documented")
            return
        response = holder[key]
        self._content(response)
        for name in ("headers", "links"):
            inside = response.get(name)
            if isinstance(inside, dict):
                self.entries(inside, self.header if name == "headers" else None)

    def schema(self, holder: dict[str, Any] | list[Any], key: str | int) -> None:
        ref = self._unresolved(holder[key])
        if ref is not None:
            holder[key] = {"description": f"Any value: its schema, {ref}, is not defined."}
            self._report(ref, "described as any value")
            return
        schema = holder[key]
        properties = schema.get("properties")
        if isinstance(properties, dict):
            self.entries(properties, self.schema)
        for name in _SCHEMA_ONES:
            self.entry(schema, name, self.schema)
        for name in _SCHEMA_LISTS:
            items = schema.get(name)
            if isinstance(items, list):
                for index in range(len(items)):
                    if isinstance(items[index], dict):
                        self.schema(items, index)

    def _described_by_schema(self, item: dict[str, Any]) -> None:
        """A parameter or header: its ``schema``, or its ``content``."""
        self.entry(item, "schema", self.schema)
        self._content(item)

    def _content(self, item: dict[str, Any]) -> None:
        content = item.get("content")
        if not isinstance(content, dict):
            return
        for media in content.values():
            if not isinstance(media, dict):
                continue
            self.entry(media, "schema", self.schema)
            examples = media.get("examples")
            if isinstance(examples, dict):
                self.entries(examples, None)
            encoding = media.get("encoding")
            if isinstance(encoding, dict):
                for part in encoding.values():
                    if isinstance(part, dict) and isinstance(part.get("headers"), dict):
                        self.entries(part["headers"], self.header)
