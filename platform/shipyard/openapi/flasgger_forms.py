"""A route's YAML and prose wherever flasgger would take them from: its docstring, a spec
file (``@swag_from("specs/add.yml")`` or a docstring that is ``file: specs/add.yml``) or a
``swag_from`` dict. The service's runtime found them (``shipyard_sdk.runtime.flasgger_specs``);
this reads them as flasgger does, so that a service written for flasgger is documented as
flasgger documents it:

- a spec file's first line is the summary, its next lines up to ``---`` the description,
  and the YAML follows; a file without ``---`` is all YAML;
- a ``swag_from`` dict is the operation; YAML in the docstring is merged into it (mappings
  merged, lists joined, as flasgger's ``merge_specs``), and the docstring's summary and
  description, when it has them, replace the dict's;
- a spec that could not be read is a ``DocstringError`` naming it.

What is read here is then upgraded from Swagger 2.0 like any docstring (``swagger2``).
"""

from __future__ import annotations

from typing import Any

from shipyard.openapi.docstrings import Docstring, DocstringError, operation_fields, split_docstring
from shipyard_runners import Route

__all__ = ["route_fields", "route_prose"]

_SEPARATOR = "---"


def route_prose(route: Route) -> Docstring:
    """The summary and description that document ``route`` (its YAML aside)."""
    if route.spec is not None and route.spec.kind == "file":
        return _split_spec_file(route.spec.text)
    return split_docstring(route.docstring)


def route_fields(route: Route) -> dict[str, Any]:
    """The operation fields (for the route's method) that document ``route``, besides its
    prose (``route_prose``); ``DocstringError`` when its YAML or its spec cannot."""
    docstring = split_docstring(route.docstring)
    spec = route.spec
    if spec is None:
        return operation_fields(docstring, route.method)
    if spec.kind == "error":
        raise DocstringError(spec.text)
    if spec.kind == "file":
        return operation_fields(_split_spec_file(spec.text), route.method, source=spec.source)
    if spec.kind != "dict":
        raise DocstringError(f"a flasgger spec of an unknown kind {spec.kind!r}")
    fields = operation_fields(Docstring("", "", spec.text), route.method,
                              source="the swag_from dict")
    fields = _merged(fields, operation_fields(docstring, route.method))
    if docstring.summary:  # the prose is the docstring's (``route_prose``)
        fields.pop("summary", None)
        fields.pop("description", None)
    return fields


def _split_spec_file(text: str) -> Docstring:
    lines = text.strip("\n").splitlines()
    for index, line in enumerate(lines):
        if line.strip() == _SEPARATOR:
            prose = [item.strip() for item in lines[:index]]
            summary = prose[0] if prose else ""
            return Docstring(summary, "\n".join(prose[1:]).strip(),
                             "\n".join(lines[index + 1:]))
    return Docstring("", "", text)


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        elif isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = [*merged[key], *value]
        else:
            merged[key] = value
    return merged
